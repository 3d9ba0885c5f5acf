"""How many tasks a consumer group's ECS service should run.

The lag's demand (`consumer_demand.py`) goes through named steps (`consumer_steps.py`,
`forecast_floor.py`), applied in order until one settles the decision:

    sized -> lag_feedback -> forecast_floor -> partition_notes -> right_count -> dead_band
      scale-out: scale_out_cooldown -> wait_for_starting_tasks -> scale_out
      scale-in:  scale_in_on_complete_data -> scale_in_when_group_stable
                 -> scale_in_after_deployment -> settle_after_scale_out -> scale_in
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from kafka_autoscaler.config import ConsumerBinding
from kafka_autoscaler.model import Action, Decision, GroupLag, Reason, ScalerState, ServiceState, Target
from kafka_autoscaler.policy.consumer_demand import label, size_demand, stuck_partitions, task_throughput
from kafka_autoscaler.policy.consumer_steps import (
    Proposal,
    Situation,
    Step,
    dead_band,
    lag_feedback,
    partition_notes,
    right_count,
    scale_in,
    scale_in_after_deployment,
    scale_in_on_complete_data,
    scale_in_when_group_stable,
    scale_out,
    scale_out_cooldown,
    sized,
    wait_for_starting_tasks,
)
from kafka_autoscaler.policy.forecast_floor import (
    consumer_forecast,
    forecast_floor,
    settle_after_scale_out,
    start_delay_s,
)

PIPELINE: tuple[Step, ...] = (
    lag_feedback,
    forecast_floor,
    partition_notes,
    right_count,
    dead_band,
    scale_out_cooldown,
    wait_for_starting_tasks,
    scale_out,
    scale_in_on_complete_data,
    scale_in_when_group_stable,
    scale_in_after_deployment,
    settle_after_scale_out,
    scale_in,
)


@dataclass(frozen=True)
class ConsumerResult:
    decision: Decision
    recommendation: int | None  # recorded for the stabilization window; None: nothing known


def run_steps(s: Situation, steps: tuple[Step, ...] = PIPELINE) -> Proposal:
    """Apply the steps in order until one settles the decision (`scale_in` settles every path left)."""
    proposal = sized(s)
    for step in steps:
        proposal = step(s, proposal)
        if proposal.verdict is not None:
            break
    return proposal


def _hold(binding: ConsumerBinding, current: int, reason: Reason, message: str, **details: object) -> Decision:
    return Decision(Target.CONSUMERS, binding.key, Action.HOLD, current, current, reason, message, dict(details))


def _details(s: Situation, throughput_source: str) -> dict[str, object]:
    group = s.group
    details: dict[str, object] = {
        "mode": s.binding.mode.value,
        "raw_tasks": round(s.demand.raw_tasks, 3),
        "total_lag": group.total_lag,
        "max_time_lag_s": group.max_time_lag_s,
        "produce_rate": group.produce_rate,
        "consume_rate": group.consume_rate,
        "task_throughput": round(s.per_task, 3),
        "task_throughput_source": throughput_source,
        "partitions": group.partition_count,
        "largest_partition_lag": group.largest_partition_lag,
        "source": group.source,
    }
    if s.stuck:
        details["stuck_partitions"] = sorted(s.stuck)
    if s.demand.hot_partitions:
        details["hot_partitions"] = list(s.demand.hot_partitions)
    if s.demand.sustained_tasks is not None and s.demand_in.sustained_tasks is not None:
        details["sustained_tasks"] = round(s.demand.sustained_tasks, 3)
    return details


def decide_consumers(
    binding: ConsumerBinding,
    group: GroupLag | None,
    service: ServiceState | None,
    state: ScalerState,
    now: float,
    tick_s: float = 60.0,
    missing_reason: str | None = None,
) -> ConsumerResult:
    """One binding's decision for this tick; `tick_s` is the schedule's interval.

    `missing_reason` says why the lag is unknown when the reader knows (a deleted topic, a
    mistyped group id), so the hold tells the likely cause.
    """
    name = f"group {binding.group_id}"
    if service is None:
        decision = _hold(binding, 0, Reason.MISSING_DATA, f"{name}: the ECS service could not be read; no change.")
        return ConsumerResult(decision, None)
    current = service.desired
    if group is None:
        # Why: missing data must never scale in, and guessing a scale-out is no better.
        why = f" ({missing_reason})" if missing_reason else ""
        decision = _hold(
            binding, current, Reason.MISSING_DATA, f"{name}: lag could not be read{why}; keeping {current} tasks."
        )
        return ConsumerResult(decision, None)

    stuck = stuck_partitions(group, binding)
    stuck_labels = frozenset(label(p) for p in stuck)
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
    situation = Situation(
        binding,
        group,
        service,
        state,
        now,
        per_task,
        demand=size_demand(group, binding, per_task, stuck_labels, headroom=1.0),
        # Why the headroom: a count only goes down once the load is `tolerance` below what
        # the smaller count can carry; without it a load near a boundary flaps up and down.
        demand_in=size_demand(group, binding, per_task, stuck_labels, headroom=1.0 + binding.tolerance),
        stuck=stuck_labels,
        start_delay_s=start_delay_s(binding, state),
        tick_s=tick_s,
    )
    situation = replace(situation, forecast=consumer_forecast(binding, state, now, situation.lead_s))
    p = run_steps(situation)
    details = {**_details(situation, throughput_source), **p.details}
    action = Action.HOLD
    if p.desired > current:
        action = Action.SCALE_OUT
    elif p.desired < current:
        action = Action.SCALE_IN
    assert p.verdict is not None  # run_steps returns a settled proposal
    decision = Decision(Target.CONSUMERS, binding.key, action, current, p.desired, p.reason, p.verdict, details)
    return ConsumerResult(decision, p.remembered)
