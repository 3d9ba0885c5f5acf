"""How many tasks a consumer group's ECS service should run.

Two modes:
- `lag_threshold`: ceil(total lag / threshold), as KEDA's Kafka scaler, without its edge bugs.
- `time_lag` (default): enough tasks to consume the produce rate and drain the backlog
  within the time-lag target, using each task's measured throughput.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from kafka_autoscaler.config import ConsumerBinding, ConsumerMode
from kafka_autoscaler.model import (
    Action,
    Decision,
    GroupLag,
    PartitionLag,
    Reason,
    ScalerState,
    ServiceState,
    Target,
)
from kafka_autoscaler.policy.stabilization import (
    clamp,
    even_spread,
    limit_scale_out,
    stabilized_scale_in,
    within_tolerance,
)

# How long tasks asked for may take to start before further scale-outs stop waiting for them
# (ECS tasks usually consume 30-90 s after the desired count rises).
TASK_START_GRACE_S = 300.0


@dataclass(frozen=True)
class ConsumerResult:
    decision: Decision
    recommendation: int | None  # recorded for the stabilization window; None: nothing known


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


def _label(p: PartitionLag) -> str:
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


def time_lag_demand(group: GroupLag, binding: ConsumerBinding, per_task: float, stuck: set[str]) -> Demand:
    """Tasks for produce rate + backlog drained within the target, capped per partition."""
    target = binding.target_time_lag_s
    if group.partitions:
        active = [p for p in group.partitions if _label(p) not in stuck]
        needs = [(p.produce_rate or 0.0) + p.lag / target for p in active]
        tasks, raised_by_packing, hot = partition_tasks(needs, per_task)
        sustained, _, _ = partition_tasks([p.produce_rate or 0.0 for p in active], per_task)
        rate = sum(p.produce_rate or 0.0 for p in active)
        backlog = sum(p.lag for p in active)
        why = (
            f"produce rate {rate:.1f} msg/s plus a backlog of {backlog} msgs drained within "
            f"{target:.0f}s, at {per_task:.1f} msg/s per task"
        )
        if raised_by_packing:
            why += f", {math.ceil(tasks)} tasks so that the busiest carries its share of {len(active)} partitions"
        complete = all(p.produce_rate is not None for p in active)
        return Demand(tasks, why, tuple(_label(active[i]) for i in hot), complete, sustained)
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


def lag_threshold_demand(group: GroupLag, binding: ConsumerBinding, stuck: set[str]) -> Demand:
    lag = group.total_lag - sum(p.lag for p in group.partitions if _label(p) in stuck)
    return Demand(lag / binding.lag_threshold, f"total lag {lag} msgs at {binding.lag_threshold} msgs per task")


def size_demand(group: GroupLag, binding: ConsumerBinding, per_task: float, stuck: set[str], headroom: float) -> Demand:
    """The demand of the binding's mode; `headroom` > 1 sizes as if each task did that much less."""
    if binding.mode is ConsumerMode.LAG_THRESHOLD:
        demand = lag_threshold_demand(group, binding, stuck)
        return replace(demand, raw_tasks=demand.raw_tasks * headroom)
    return time_lag_demand(group, binding, per_task / headroom, stuck)


def lagging_partitions(group: GroupLag, binding: ConsumerBinding, excluded: set[str]) -> list[PartitionLag]:
    """Partitions later than the target beyond the dead band, in time_lag mode, leaving out `excluded`."""
    if binding.mode is not ConsumerMode.TIME_LAG:
        return []
    limit = binding.target_time_lag_s * (1 + binding.tolerance)
    return [
        p for p in group.partitions if p.time_lag_s is not None and p.time_lag_s > limit and _label(p) not in excluded
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


def _hold(binding: ConsumerBinding, current: int, reason: Reason, message: str, **details: object) -> Decision:
    return Decision(Target.CONSUMERS, binding.key, Action.HOLD, current, current, reason, message, dict(details))


def decide_consumers(
    binding: ConsumerBinding,
    group: GroupLag | None,
    service: ServiceState | None,
    state: ScalerState,
    now: float,
) -> ConsumerResult:
    """One binding's decision for this tick."""
    name = f"group {binding.group_id}"
    if service is None:
        decision = _hold(binding, 0, Reason.MISSING_DATA, f"{name}: the ECS service could not be read; no change.")
        return ConsumerResult(decision, None)
    current = service.desired
    if group is None:
        # Why: missing data must never scale in, and guessing a scale-out is no better.
        decision = _hold(
            binding, current, Reason.MISSING_DATA, f"{name}: lag could not be read; keeping {current} tasks."
        )
        return ConsumerResult(decision, None)

    stuck = stuck_partitions(group, binding)
    stuck_labels = {_label(p) for p in stuck}
    if group.partitions and stuck and len(stuck) == len([p for p in group.partitions if p.lag > 0]):
        listing = ", ".join(sorted(stuck_labels))
        decision = _hold(
            binding,
            current,
            Reason.STUCK_PARTITION,
            f"{name}: every lagging partition is stuck ({listing}): the committed offset has not moved "
            f"for {binding.stuck_partition_after_s}s while lag grows. More tasks cannot help; check the "
            "consumer for a poison message or a hung task.",
            stuck_partitions=sorted(stuck_labels),
        )
        return ConsumerResult(decision, current)

    per_task, throughput_source = task_throughput(binding, state)
    demand = size_demand(group, binding, per_task, stuck_labels, headroom=1.0)
    # Why the headroom: a count only goes down once the load is `tolerance` below what
    # the smaller count can carry; without it a load near a boundary flaps up and down.
    demand_in = size_demand(group, binding, per_task, stuck_labels, headroom=1.0 + binding.tolerance)

    details: dict[str, object] = {
        "mode": binding.mode.value,
        "raw_tasks": round(demand.raw_tasks, 3),
        "total_lag": group.total_lag,
        "max_time_lag_s": group.max_time_lag_s,
        "produce_rate": group.produce_rate,
        "consume_rate": group.consume_rate,
        "task_throughput": round(per_task, 3),
        "task_throughput_source": throughput_source,
        "partitions": group.partition_count,
        "largest_partition_lag": group.largest_partition_lag,
        "source": group.source,
    }
    if stuck_labels:
        details["stuck_partitions"] = sorted(stuck_labels)
    if demand.hot_partitions:
        details["hot_partitions"] = list(demand.hot_partitions)

    desired, bound_reason, notes = task_count(demand.raw_tasks, group, binding)
    desired_in, _, _ = task_count(demand_in.raw_tasks, group, binding)
    reason = bound_reason or (Reason.LAG_ABOVE_TARGET if desired > current else Reason.LAG_BELOW_TARGET)
    bound = bound_reason if bound_reason in {Reason.AT_MAX, Reason.AT_MIN} else None
    recommendation = max(desired, desired_in)
    # What the scale-in window remembers of this tick: the count for the produce rate alone,
    # so that tasks bought to drain a backlog go once it is drained, not a window later.
    remembered = recommendation
    if demand.sustained_tasks is not None and demand_in.sustained_tasks is not None:
        remembered = min(recommendation, task_count(demand_in.sustained_tasks, group, binding)[0])
        details["sustained_tasks"] = round(demand.sustained_tasks, 3)

    behind = lagging_partitions(group, binding, stuck_labels | set(demand.hot_partitions))
    if behind and desired <= current and bound_reason is not Reason.AT_MAX:
        # Why: the sizing assumes partitions of equal load spread evenly by count. When data
        # is later than the target (beyond the dead band) although the count should carry the
        # load, some task is saturated by its share; add capacity in tolerance-sized steps.
        worst = max(p.time_lag_s or 0.0 for p in behind)
        added = max(1, math.ceil(current * binding.tolerance))
        boosted, boosted_reason, _ = task_count(float(current + added), group, binding)
        if boosted > current:
            notes.append(
                f"time lag {worst:.0f}s on {len(behind)} partition(s) is above the {binding.target_time_lag_s:.0f}s "
                f"target although {current} tasks should carry the load: partitions are not spread evenly by "
                "load, so capacity is added step by step"
            )
            desired = boosted
            reason = boosted_reason or Reason.LAG_ABOVE_TARGET
            recommendation = max(recommendation, desired)
            remembered = max(remembered, desired)

    if demand.hot_partitions:
        notes.append(
            f"hot partition(s) {', '.join(demand.hot_partitions)} alone need more than one task's "
            f"{per_task:.1f} msg/s; more tasks cannot help them (add partitions or speed up the consumer)"
        )
    if stuck_labels:
        notes.append(f"stuck partition(s) {', '.join(sorted(stuck_labels))} left out of the sizing")
    suffix = f" ({'; '.join(notes)})" if notes else ""

    if desired == current or (desired < current <= desired_in):
        if demand.hot_partitions and reason is not Reason.AT_MAX:
            reason = Reason.HOT_PARTITION
        elif reason not in {Reason.AT_MAX, Reason.AT_MIN, Reason.CAPPED_AT_PARTITIONS}:
            reason = Reason.WITHIN_TOLERANCE
        decision = _hold(
            binding, current, reason, f"{name}: {demand.why}; {current} tasks are right{suffix}.", **details
        )
        return ConsumerResult(decision, remembered)

    # Why the exception: the dead band guards against noise, but while the data is already
    # later than its target, "close enough" capacity is exactly what keeps it late.
    late = (
        binding.mode is ConsumerMode.TIME_LAG
        and group.max_time_lag_s is not None
        and group.max_time_lag_s > binding.target_time_lag_s
    )
    if (
        within_tolerance(demand.raw_tasks, current, binding.tolerance)
        and bound is None
        and not (late and desired > current)
    ):
        decision = _hold(
            binding,
            current,
            Reason.WITHIN_TOLERANCE,
            f"{name}: {demand.raw_tasks:.2f} tasks asked for is within {binding.tolerance:.0%} of {current}; "
            f"no change{suffix}.",
            **details,
        )
        return ConsumerResult(decision, remembered)

    if desired > current:
        last = state.last_action_t.get(binding.key)
        if last is not None and now - last < binding.cooldown_s:
            decision = _hold(
                binding,
                current,
                Reason.COOLDOWN,
                f"{name}: would scale out to {desired}, but the last change was {now - last:.0f}s ago "
                f"(cooldown {binding.cooldown_s}s){suffix}.",
                **details,
            )
            return ConsumerResult(decision, remembered)
        # Why: until the tasks asked for last time consume, the backlog keeps growing and
        # would buy yet more tasks every tick; wait for them (a bounded time) first.
        if last is not None and service.running < current and now - last < TASK_START_GRACE_S:
            decision = _hold(
                binding,
                current,
                Reason.TASKS_STARTING,
                f"{name}: would scale out to {desired}, but {current - service.running} of the {current} tasks "
                f"asked for {now - last:.0f}s ago are still starting{suffix}.",
                **details,
            )
            return ConsumerResult(decision, remembered)
        desired, step_reason = limit_scale_out(current, desired, binding.max_scale_out_step)
        if step_reason is not None:
            reason = step_reason
            suffix = suffix + f" (step limited to +{binding.max_scale_out_step})"
        message = f"{name}: scale out {current} -> {desired} tasks: {demand.why}{suffix}."
        decision = Decision(Target.CONSUMERS, binding.key, Action.SCALE_OUT, current, desired, reason, message, details)
        return ConsumerResult(decision, remembered)

    # desired < current: scale in only on complete data, a settled group and an agreeing window.
    if not demand.complete:
        decision = _hold(
            binding,
            current,
            Reason.MISSING_DATA,
            f"{name}: a produce rate is not known yet, so {desired} tasks may be too few; keeping {current}.",
            **details,
        )
        return ConsumerResult(decision, current)
    if group.rebalancing:
        decision = _hold(
            binding,
            current,
            Reason.GROUP_REBALANCING,
            f"{name}: the group is rebalancing; a scale-in waits until it is stable.",
            **details,
        )
        return ConsumerResult(decision, remembered)
    if service.deployment_in_progress:
        decision = _hold(
            binding,
            current,
            Reason.DEPLOYMENT_IN_PROGRESS,
            f"{name}: an ECS deployment is in progress; a scale-in waits for it.",
            **details,
        )
        return ConsumerResult(decision, remembered)
    history = state.recommendations.get(binding.key, ())
    floor, why = stabilized_scale_in(history, recommendation, now, binding.scale_in_stabilization_s)
    if floor is None or floor >= current:
        decision = _hold(
            binding,
            current,
            Reason.SCALE_IN_STABILIZING,
            f"{name}: {desired} tasks would do, but {why}; keeping {current}{suffix}.",
            **details,
        )
        return ConsumerResult(decision, remembered)
    message = f"{name}: scale in {current} -> {floor} tasks: {demand.why}; {why}{suffix}."
    decision = Decision(Target.CONSUMERS, binding.key, Action.SCALE_IN, current, floor, reason, message, details)
    return ConsumerResult(decision, remembered)
