"""How many partitions a topic should have when they cap a group that is still late.

A partition is read by one task at most, so once a group runs one task per partition, more
tasks idle: only more partitions let it catch up (for a topic whose producers do not pick
partitions by key, new partitions take their share of the load). The recommendation is a multiple of the
tasks the lag asks for, so the partitions spread evenly over them. CreatePartitions runs
only for topics the configuration marks `keyed: false` and only with `auto_increase`:
producers that pick partitions by key hash over the partition count, so new partitions
send keys elsewhere (per-key order breaks across the change).
"""

from __future__ import annotations

import math

from kafka_autoscaler.config import ConsumerBinding, ConsumerMode, PartitionPolicy
from kafka_autoscaler.model import Action, Decision, GroupLag, Reason, Target

PARTITIONS_KEY = "partitions"
# Consumer reasons that mean more tasks cannot help: tasks at the partition count, or partitions
# that each need more than one task.
CAPPED_REASONS = frozenset({Reason.CAPPED_AT_PARTITIONS, Reason.HOT_PARTITION})


def recommended_partitions(current: int, tasks: int) -> int:
    """The fewest partitions above `current` that spread evenly over `tasks` tasks (a multiple of `tasks`).

    >>> recommended_partitions(12, 18)
    18
    >>> recommended_partitions(12, 5)
    15
    """
    return tasks * (current // tasks + 1)


def _late(group: GroupLag, binding: ConsumerBinding) -> bool:
    """Later than the target (time_lag), or more lag than the partitions' tasks are sized for (lag_threshold)."""
    if binding.mode is ConsumerMode.TIME_LAG:
        return group.max_time_lag_s is not None and group.max_time_lag_s > binding.target_time_lag_s
    return group.total_lag > binding.lag_threshold * group.partition_count


def tasks_wanted(group: GroupLag, binding: ConsumerBinding, per_task: float) -> int:
    """Tasks the lag asks for with partitions enough: the per-partition demands, not capped at one task each."""
    if binding.mode is ConsumerMode.LAG_THRESHOLD:
        demand = group.total_lag / binding.lag_threshold
    else:
        rate = sum(p.produce_rate or 0.0 for p in group.partitions)
        demand = (rate + group.total_lag / binding.target_time_lag_s) / per_task
    return math.ceil(demand - 1e-9)


def decide_partitions(
    binding: ConsumerBinding, group: GroupLag | None, consumer: Decision, policy: PartitionPolicy
) -> Decision | None:
    """A partition decision for one binding, or None when its partitions do not hold it back.

    Read from the consumer decision: its reason (the count is capped at the partitions, or
    partitions are hot, each needing more than one task) and the task throughput it sized with.
    """
    if group is None or not group.partitions or consumer.reason not in CAPPED_REASONS:
        return None
    current = group.partition_count
    # Why: while tasks are still being added up to the partition count, the cap has not bitten yet.
    if consumer.current < current or not _late(group, binding):
        return None
    per_task = float(consumer.details.get("task_throughput") or binding.task_throughput_msgs_per_s)
    tasks = min(tasks_wanted(group, binding, per_task), binding.max_tasks)
    if tasks <= current:
        return None  # max_tasks, not the partitions, is what holds the group
    topics = sorted({p.topic for p in group.partitions})
    name = f"group {binding.group_id}"
    wanted = recommended_partitions(current, tasks)
    details: dict[str, object] = {"topics": topics, "tasks_needed": tasks, "recommended": wanted}
    why = (
        f"{name} is late and capped at its {current} partitions, while the lag asks for {tasks} tasks; "
        f"{wanted} partitions spread evenly over {tasks} tasks"
    )
    if len(topics) != 1:
        return _hold(
            binding.group_id,
            current,
            wanted,
            Reason.PARTITIONS_CAP_LATE_GROUP,
            f"{why}. The group reads {len(topics)} topics; add partitions to them by hand.",
            details,
        )
    topic = topics[0]
    key = f"{PARTITIONS_KEY}:{topic}"
    details["topic"] = topic
    if policy.keyed(topic):
        return _hold(
            topic,
            current,
            wanted,
            Reason.KEYED_TOPIC,
            f"{why}. Not added automatically: {topic} is keyed, and new partitions change which partition each "
            "key goes to (order per key breaks across the change). Add them by hand when that is safe, or mark "
            "the topic keyed: false.",
            details,
        )
    desired = wanted if policy.max is None else min(wanted, policy.max)
    if desired <= current:
        return _hold(
            topic,
            current,
            wanted,
            Reason.PARTITIONS_AT_MAX,
            f"{why}, but {topic} already has partitions.max ({policy.max}).",
            details,
        )
    capped = f" (capped at partitions.max {policy.max})" if desired < wanted else ""
    if not policy.auto_increase:
        return _hold(
            topic,
            current,
            desired,
            Reason.PARTITIONS_CAP_LATE_GROUP,
            f"{why}: grow {topic} to {desired}{capped} (partitions.auto_increase is off).",
            details,
        )
    return Decision(
        Target.PARTITIONS,
        key,
        Action.EXPAND,
        current,
        desired,
        Reason.PARTITIONS_CAP_LATE_GROUP,
        f"{why}: growing {topic} {current} -> {desired} partitions{capped}; it is not keyed, so no key moves.",
        details,
    )


def _hold(
    subject: str, current: int, desired: int, reason: Reason, message: str, details: dict[str, object]
) -> Decision:
    """A recommendation only: `desired` is the count advised, nothing is changed."""
    return Decision(
        Target.PARTITIONS, f"{PARTITIONS_KEY}:{subject}", Action.HOLD, current, desired, reason, message, details
    )
