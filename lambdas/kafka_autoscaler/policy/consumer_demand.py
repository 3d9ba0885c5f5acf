"""What a consumer group's lag asks for, before any safety rule.

Two modes:
- `lag_threshold`: ceil(total lag / threshold), as KEDA's Kafka scaler, without its edge bugs.
- `time_lag` (default): enough tasks to consume the produce rate and drain the backlog
  within the time-lag target, using each task's measured throughput.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace

from kafka_autoscaler.config import ConsumerBinding, ConsumerMode
from kafka_autoscaler.model import GroupLag, PartitionLag, Reason, ScalerState
from kafka_autoscaler.policy.stabilization import clamp, even_spread


@dataclass(frozen=True)
class Demand:
    """What the lag asks for, before any safety rule.

    `sustained_tasks` leaves the backlog out (time_lag mode): what the produce rate alone
    needs. The scale-in window remembers it rather than `raw_tasks`, because the tasks
    bought to drain a backlog are not needed once it is drained.
    """

    raw_tasks: float
    why: str
    hot_partitions: tuple[str, ...] = ()
    complete: bool = True  # False: a rate was unknown, so the demand may be too low
    sustained_tasks: float | None = None  # None: the mode has no such notion; use raw_tasks


def label(p: PartitionLag) -> str:
    return f"{p.topic}[{p.partition}]"


def stuck_partitions(group: GroupLag, binding: ConsumerBinding) -> tuple[PartitionLag, ...]:
    """Partitions whose committed offset stays put while their lag grows.

    Why: a poison message or a hung consumer is not fixed by more tasks; feeding it
    tasks only burns money. Only judged while the rest of the group makes progress,
    so a group that is simply scaled to zero is not called stuck.
    """
    if not group.consume_rate:
        return ()
    return tuple(p for p in group.partitions if p.lag > 0 and p.stalled_for_s >= binding.stuck_partition_after_s)


def task_throughput(binding: ConsumerBinding, state: ScalerState) -> tuple[float, str]:
    measured = state.task_throughput.get(binding.group_id)
    if measured and measured > 0:
        return measured, "measured"
    return binding.task_throughput_msgs_per_s, "configured"


def packed_task_count(needs: Sequence[float], per_task: float) -> int:
    """Tasks needed when the group's assignor spreads partitions by count, not by load.

    Kafka's assignors give each member ceil(P / n) partitions at most, whatever their
    rates, so the busiest task carries k = ceil(P / n) partitions picked without regard
    to load. With per-partition demands of mean m and deviation s, the sum of k of them
    has mean k*m and deviation sqrt(k)*s, and the largest of n such sums is about
    sqrt(2 ln n) deviations above the mean. Take the fewest n whose busiest task stays
    within one task's throughput; with equal partitions this is exactly ceil(P / floor(T / m)).
    """
    count = len(needs)
    total = sum(needs)
    if count == 0 or total <= 0:
        return 0
    if total <= per_task:
        return 1
    mean = total / count
    spread = math.sqrt(sum((need - mean) ** 2 for need in needs) / count)
    for tasks in range(math.ceil(total / per_task - 1e-9), count + 1):
        share = math.ceil(count / tasks)
        busiest = share * mean + math.sqrt(2 * math.log(max(tasks, 2))) * math.sqrt(share) * spread
        if busiest <= per_task * (1 + 1e-9):
            return tasks
    return count


def time_lag_demand(group: GroupLag, binding: ConsumerBinding, per_task: float, stuck: AbstractSet[str]) -> Demand:
    """Tasks for produce rate + backlog drained within the target, capped per partition."""
    target = binding.target_time_lag_s
    if group.partitions:
        active = [p for p in group.partitions if label(p) not in stuck]
        needs = [(p.produce_rate or 0.0) + p.lag / target for p in active]
        rates = [p.produce_rate or 0.0 for p in active]
        hot: tuple[int, ...] = ()
        if group.group_type == "share":
            # Why: a share group (KIP-932) hands out records, not partitions: any member reads any
            # partition, so neither the one-task-per-partition cap nor count-based packing applies.
            tasks, raised_by_packing = sum(needs) / per_task, False
            sustained = sum(rates) / per_task
        else:
            tasks, raised_by_packing, hot = partition_tasks(needs, per_task)
            sustained, _, _ = partition_tasks(rates, per_task)
        rate = sum(p.produce_rate or 0.0 for p in active)
        backlog = sum(p.lag for p in active)
        why = (
            f"produce rate {rate:.1f} msg/s plus a backlog of {backlog} msgs drained within "
            f"{target:.0f}s, at {per_task:.1f} msg/s per task"
        )
        if raised_by_packing:
            why += f", {math.ceil(tasks)} tasks so that the busiest carries its share of {len(active)} partitions"
        complete = all(p.produce_rate is not None for p in active)
        return Demand(tasks, why, tuple(label(active[i]) for i in hot), complete, sustained)
    # Aggregates only (MSK's CloudWatch lag metrics): the produce rate, when known, plus the total
    # lag drained within the target. MaxOffsetLag bounds it as the per-partition cap does above: one
    # task reads a partition, so lag beyond what one task drains within the target buys idle tasks.
    rate = group.produce_rate or 0.0
    largest = group.max_offset_lag
    undrainable = max(0.0, largest - per_task * target) if largest is not None else 0.0
    demand = (rate + (group.total_lag - undrainable) / target) / per_task
    why = f"produce rate {rate:.1f} msg/s and total lag {group.total_lag} msgs (aggregates)"
    if undrainable:
        why += (
            f"; the most lagging partition alone holds {largest} msgs (MaxOffsetLag), more than one task "
            f"drains within {target:.0f}s, and more tasks cannot share it"
        )
    known = group.produce_rate is not None
    return Demand(demand, why, complete=known, sustained_tasks=rate / per_task if known else None)


def partition_tasks(needs: Sequence[float], per_task: float) -> tuple[float, bool, tuple[int, ...]]:
    """Tasks for per-partition demands: (raw tasks, whether packing raised them, hot partition indexes).

    A partition is read by one task at most, so its demand is capped at one task's
    throughput; a hot partition that outruns a task takes one of its own and the rest
    are packed around it.
    """
    hot = tuple(i for i, need in enumerate(needs) if need > per_task)
    capped = [min(need, per_task) for need in needs]
    raw = sum(capped) / per_task
    packed = len(hot) + packed_task_count([n for i, n in enumerate(capped) if i not in hot], per_task)
    raised = packed > raw + 1e-9 and packed > math.ceil(raw - 1e-9)
    return max(raw, float(packed)), raised, hot


def lag_threshold_demand(group: GroupLag, binding: ConsumerBinding, stuck: AbstractSet[str]) -> Demand:
    lag = group.total_lag - sum(p.lag for p in group.partitions if label(p) in stuck)
    return Demand(lag / binding.lag_threshold, f"total lag {lag} msgs at {binding.lag_threshold} msgs per task")


def size_demand(
    group: GroupLag, binding: ConsumerBinding, per_task: float, stuck: AbstractSet[str], headroom: float
) -> Demand:
    """The demand of the binding's mode; `headroom` > 1 sizes as if each task did that much less."""
    if binding.mode is ConsumerMode.LAG_THRESHOLD:
        demand = lag_threshold_demand(group, binding, stuck)
        return replace(demand, raw_tasks=demand.raw_tasks * headroom)
    return time_lag_demand(group, binding, per_task / headroom, stuck)


def lagging_partitions(group: GroupLag, binding: ConsumerBinding, excluded: AbstractSet[str]) -> list[PartitionLag]:
    """Partitions later than the target beyond the dead band, in time_lag mode, leaving out `excluded`."""
    if binding.mode is not ConsumerMode.TIME_LAG:
        return []
    limit = binding.target_time_lag_s * (1 + binding.tolerance)
    return [
        p for p in group.partitions if p.time_lag_s is not None and p.time_lag_s > limit and label(p) not in excluded
    ]


def task_count(raw_tasks: float, group: GroupLag, binding: ConsumerBinding) -> tuple[int, Reason | None, list[str]]:
    """Whole tasks for a demand, after the partition cap, even spread and bounds, with the rule that bit."""
    desired = math.ceil(raw_tasks - 1e-9) if raw_tasks > 0 else 0
    reason: Reason | None = None
    notes: list[str] = []
    # Why: a partition is consumed by one member at most; tasks beyond the partition
    # count idle. (KEDA issue 4483: integer division let it ask for one more.)
    if (
        not binding.allow_more_tasks_than_partitions
        and group.group_type != "share"
        and group.partition_count
        and desired > group.partition_count
    ):
        desired = group.partition_count
        reason = Reason.CAPPED_AT_PARTITIONS
        notes.append(f"capped at the {group.partition_count} partitions")
    if binding.even_partition_spread and group.partition_count:
        spread = even_spread(desired, group.partition_count)
        if spread != desired:
            notes.append(f"{spread} tasks spread {group.partition_count} partitions as evenly as {desired}")
            desired = spread
    desired, bound = clamp(desired, binding.min_tasks, binding.max_tasks)
    if bound is not None:
        reason = bound
        notes.append(f"bounded by {'max' if bound is Reason.AT_MAX else 'min'}_tasks")
    return desired, reason, notes
