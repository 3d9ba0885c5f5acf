"""The named steps a consumer decision passes through, in the manner of HPA's limit functions.

Each step is a small pure function `(Situation, Proposal) -> Proposal`: it reads what was
observed and the count the steps before it arrived at, and returns a count and a reason.
A step that settles the decision (a hold, or the final scale-out or scale-in) sets
`verdict`, the sentence a person reads, and the pipeline stops there.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from kafka_autoscaler.config import ConsumerBinding, ConsumerMode
from kafka_autoscaler.model import GroupLag, Reason, ScalerState, ServiceState
from kafka_autoscaler.policy.consumer_demand import Demand, lagging_partitions, task_count
from kafka_autoscaler.policy.forecast import RateForecast
from kafka_autoscaler.policy.stabilization import limit_scale_out, stabilized_scale_in, within_tolerance

# ECS tasks usually consume 30-90 s after the desired count rises: the start-up delay
# assumed until one is measured.
DEFAULT_START_DELAY_S = 90.0
# How long tasks asked for may take to start before further scale-outs stop waiting for them
# (ECS tasks usually consume 30-90 s after the desired count rises).
TASK_START_GRACE_S = 300.0


@dataclass(frozen=True)
class Situation:
    """What every step reads: the binding, what was observed, and what the lag asks for."""

    binding: ConsumerBinding
    group: GroupLag
    service: ServiceState
    state: ScalerState
    now: float
    per_task: float
    demand: Demand
    demand_in: Demand  # sized with `tolerance` of headroom: what a scale-in may go down to
    stuck: frozenset[str]
    forecast: RateForecast | None = None  # None: forecasting is off for this binding
    start_delay_s: float = DEFAULT_START_DELAY_S  # measured task start-up delay, else the default
    tick_s: float = 60.0  # the schedule's interval

    @property
    def current(self) -> int:
        return self.service.desired

    @property
    def name(self) -> str:
        return f"group {self.binding.group_id}"

    @property
    def lead_s(self) -> float:
        """How far ahead tasks are asked for: one start-up delay plus a tick, at most `max_lead_s`."""
        return min(self.start_delay_s + self.tick_s, float(self.binding.forecast.max_lead_s))

    @property
    def desired_in(self) -> int:
        """Whole tasks for the demand with headroom."""
        return task_count(self.demand_in.raw_tasks, self.group, self.binding)[0]

    @property
    def last_change_t(self) -> float | None:
        return self.state.last_action_t.get(self.binding.key)


@dataclass(frozen=True)
class Proposal:
    """The count the steps so far arrive at, and why."""

    desired: int
    reason: Reason
    recommendation: int  # the highest count this tick asks for; the scale-in window is held against it
    remembered: int  # what the scale-in window records of this tick
    raw_tasks: float  # the fractional count asked for, before rounding: what the dead band judges
    bound: Reason | None = None  # AT_MAX or AT_MIN when the sizing hit a bound
    notes: tuple[str, ...] = ()
    details: Mapping[str, object] = field(default_factory=dict)
    verdict: str | None = None  # the sentence, once a step has settled the decision

    @property
    def suffix(self) -> str:
        return f" ({'; '.join(self.notes)})" if self.notes else ""

    def hold(self, s: Situation, reason: Reason, verdict: str, remembered: int | None = None) -> Proposal:
        """Settle on the current count."""
        kept = self.remembered if remembered is None else remembered
        return replace(self, desired=s.current, reason=reason, verdict=verdict, remembered=kept)


Step = Callable[[Situation, Proposal], Proposal]


def sized(s: Situation) -> Proposal:
    """Whole tasks for the demand, after the partition cap, even spread and bounds."""
    binding, group = s.binding, s.group
    desired, bound_reason, notes = task_count(s.demand.raw_tasks, group, binding)
    reason = bound_reason or (Reason.LAG_ABOVE_TARGET if desired > s.current else Reason.LAG_BELOW_TARGET)
    bound = bound_reason if bound_reason in {Reason.AT_MAX, Reason.AT_MIN} else None
    recommendation = max(desired, s.desired_in)
    # What the scale-in window remembers of this tick: the count for the produce rate alone,
    # so that tasks bought to drain a backlog go once it is drained, not a window later.
    remembered = recommendation
    if s.demand.sustained_tasks is not None and s.demand_in.sustained_tasks is not None:
        remembered = min(recommendation, task_count(s.demand_in.sustained_tasks, group, binding)[0])
    return Proposal(desired, reason, recommendation, remembered, s.demand.raw_tasks, bound, tuple(notes))


def lag_feedback(s: Situation, p: Proposal) -> Proposal:
    """Add capacity step by step while data stays late although the count should carry the load.

    Why: the sizing assumes partitions of equal load spread evenly by count. When data is
    later than the target (beyond the dead band) although the count should carry the load,
    some task is saturated by its share; add capacity in tolerance-sized steps.
    """
    binding, current = s.binding, s.current
    behind = lagging_partitions(s.group, binding, s.stuck | set(s.demand.hot_partitions))
    if not behind or p.desired > current or p.reason is Reason.AT_MAX:
        return p
    worst = max(q.time_lag_s or 0.0 for q in behind)
    added = max(1, math.ceil(current * binding.tolerance))
    boosted, boosted_reason, _ = task_count(float(current + added), s.group, binding)
    if boosted <= current:
        return p
    note = (
        f"time lag {worst:.0f}s on {len(behind)} partition(s) is above the {binding.target_time_lag_s:.0f}s "
        f"target although {current} tasks should carry the load: partitions are not spread evenly by "
        "load, so capacity is added step by step"
    )
    return replace(
        p,
        desired=boosted,
        reason=boosted_reason or Reason.LAG_ABOVE_TARGET,
        recommendation=max(p.recommendation, boosted),
        remembered=max(p.remembered, boosted),
        notes=(*p.notes, note),
    )


def partition_notes(s: Situation, p: Proposal) -> Proposal:
    """Say which partitions more tasks cannot help: hot ones, and stuck ones left out of the sizing."""
    notes = list(p.notes)
    if s.demand.hot_partitions:
        notes.append(
            f"hot partition(s) {', '.join(s.demand.hot_partitions)} alone need more than one task's "
            f"{s.per_task:.1f} msg/s; more tasks cannot help them (add partitions or speed up the consumer)"
        )
    if s.stuck:
        notes.append(f"stuck partition(s) {', '.join(sorted(s.stuck))} left out of the sizing")
    return replace(p, notes=tuple(notes))


def right_count(s: Situation, p: Proposal) -> Proposal:
    """Hold when the count is right, or a lower one would leave no headroom."""
    current = s.current
    if not (p.desired == current or (p.desired < current <= s.desired_in)):
        return p
    reason = p.reason
    if s.demand.hot_partitions and reason is not Reason.AT_MAX:
        reason = Reason.HOT_PARTITION
    elif reason not in {Reason.AT_MAX, Reason.AT_MIN, Reason.CAPPED_AT_PARTITIONS}:
        reason = Reason.WITHIN_TOLERANCE
    return p.hold(s, reason, f"{s.name}: {s.demand.why}; {current} tasks are right{p.suffix}.")


def dead_band(s: Situation, p: Proposal) -> Proposal:
    """Hold inside the tolerance band, except when the data is already late and more is asked.

    Why the exception: the dead band guards against noise, but while the data is already
    later than its target, "close enough" capacity is exactly what keeps it late.
    """
    binding, group, current = s.binding, s.group, s.current
    late = (
        binding.mode is ConsumerMode.TIME_LAG
        and group.max_time_lag_s is not None
        and group.max_time_lag_s > binding.target_time_lag_s
    )
    inside = within_tolerance(p.raw_tasks, current, binding.tolerance)
    if not inside or p.bound is not None or (late and p.desired > current):
        return p
    return p.hold(
        s,
        Reason.WITHIN_TOLERANCE,
        f"{s.name}: {p.raw_tasks:.2f} tasks asked for is within {binding.tolerance:.0%} of {current}; "
        f"no change{p.suffix}.",
    )


# ---------------------------------------------------------------- scale-out
def scale_out_cooldown(s: Situation, p: Proposal) -> Proposal:
    """No scale-out within the cooldown of the last change."""
    last = s.last_change_t
    if p.desired <= s.current or last is None or s.now - last >= s.binding.cooldown_s:
        return p
    return p.hold(
        s,
        Reason.COOLDOWN,
        f"{s.name}: would scale out to {p.desired}, but the last change was {s.now - last:.0f}s ago "
        f"(cooldown {s.binding.cooldown_s}s){p.suffix}.",
    )


def wait_for_starting_tasks(s: Situation, p: Proposal) -> Proposal:
    """No scale-out while the tasks asked for last time are still starting (for a bounded time).

    Why: until they consume, the backlog keeps growing and would buy yet more tasks every tick.
    """
    current, last = s.current, s.last_change_t
    if p.desired <= current or last is None or s.service.running >= current or s.now - last >= TASK_START_GRACE_S:
        return p
    return p.hold(
        s,
        Reason.TASKS_STARTING,
        f"{s.name}: would scale out to {p.desired}, but {current - s.service.running} of the {current} tasks "
        f"asked for {s.now - last:.0f}s ago are still starting{p.suffix}.",
    )


def scale_out(s: Situation, p: Proposal) -> Proposal:
    """Scale out to the whole demand, or by `max_scale_out_step` when one is set."""
    if p.desired <= s.current:
        return p
    desired, step_reason = limit_scale_out(s.current, p.desired, s.binding.max_scale_out_step)
    reason, suffix = p.reason, p.suffix
    if step_reason is not None:
        reason = step_reason
        suffix += f" (step limited to +{s.binding.max_scale_out_step})"
    verdict = f"{s.name}: scale out {s.current} -> {desired} tasks: {s.demand.why}{suffix}."
    return replace(p, desired=desired, reason=reason, verdict=verdict)


# ---------------------------------------------------------------- scale-in
def scale_in_on_complete_data(s: Situation, p: Proposal) -> Proposal:
    """Missing data never scales in: an unknown rate may hide demand."""
    if s.demand.complete:
        return p
    return p.hold(
        s,
        Reason.MISSING_DATA,
        f"{s.name}: a produce rate is not known yet, so {p.desired} tasks may be too few; keeping {s.current}.",
        remembered=s.current,
    )


def scale_in_when_group_stable(s: Situation, p: Proposal) -> Proposal:
    """No scale-in while the group rebalances: its rates are unreliable."""
    if not s.group.rebalancing:
        return p
    return p.hold(
        s, Reason.GROUP_REBALANCING, f"{s.name}: the group is rebalancing; a scale-in waits until it is stable."
    )


def scale_in_after_deployment(s: Situation, p: Proposal) -> Proposal:
    """No scale-in while ECS replaces tasks."""
    if not s.service.deployment_in_progress:
        return p
    return p.hold(
        s, Reason.DEPLOYMENT_IN_PROGRESS, f"{s.name}: an ECS deployment is in progress; a scale-in waits for it."
    )


def scale_in(s: Situation, p: Proposal) -> Proposal:
    """Scale in to the highest recommendation over the stabilization window, once it is covered."""
    history = s.state.recommendations.get(s.binding.key, ())
    floor, why = stabilized_scale_in(history, p.recommendation, s.now, s.binding.scale_in_stabilization_s)
    if floor is None or floor >= s.current:
        return p.hold(
            s,
            Reason.SCALE_IN_STABILIZING,
            f"{s.name}: {p.desired} tasks would do, but {why}; keeping {s.current}{p.suffix}.",
        )
    verdict = f"{s.name}: scale in {s.current} -> {floor} tasks: {s.demand.why}; {why}{p.suffix}."
    return replace(p, desired=floor, verdict=verdict)
