"""The pure `record` step: the next ScalerState from this tick's observation, plan and outcomes."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from kafka_autoscaler.config import AutoscalerConfig, ConsumerBinding
from kafka_autoscaler.lag.history import record_offsets
from kafka_autoscaler.model import (
    Action,
    ClusterState,
    GroupLag,
    Outcome,
    OutcomeStatus,
    Plan,
    ScalerState,
    ServiceState,
    Target,
    Workflow,
)
from kafka_autoscaler.policy.stabilization import keep_window
from kafka_autoscaler.ports import LagObservation
from kafka_autoscaler.report import signature

# Weight of the newest throughput measurement; older ones fade.
THROUGHPUT_SMOOTHING = 0.3
# A group counts as busy (so its consume rate measures capacity) with this much backlog.
BUSY_BACKLOG_S = 10.0


def measured_task_throughput(group: GroupLag | None, service: ServiceState | None) -> float | None:
    """Per-task throughput, measured only while tasks were saturated.

    Why only then: an idle consumer's rate says how much was produced, not how much
    it could take; learning from it would shrink the estimate and under-provision.
    """
    if group is None or service is None or group.rebalancing:
        return None
    rate = group.consume_rate
    if not rate or rate <= 0 or service.running <= 0 or service.running != service.desired or service.pending:
        return None
    if group.total_lag < rate * BUSY_BACKLOG_S:
        return None
    # Every partition must have had a backlog: one idle partition means its task was not
    # saturated, and the group's rate per task would understate what a task can do.
    if group.partitions and any(
        p.lag <= 0 or p.lag < (p.consume_rate or 0.0) * BUSY_BACKLOG_S for p in group.partitions
    ):
        return None
    return rate / service.running


def _throughputs(
    state: ScalerState,
    bindings: Sequence[ConsumerBinding],
    lag: LagObservation,
    services: dict[str, ServiceState],
    now: float,
) -> dict[str, float]:
    result = dict(state.task_throughput)
    for binding in bindings:
        changed = state.last_action_t.get(binding.key)
        if changed is not None and now - changed < binding.scale_in_stabilization_s:
            continue  # rates still average over time before the change and the rebalance it caused
        sample = measured_task_throughput(lag.groups.get(binding.group_id), services.get(binding.group_id))
        if sample is None:
            continue
        previous = result.get(binding.group_id)
        result[binding.group_id] = sample if previous is None else previous + THROUGHPUT_SMOOTHING * (sample - previous)
    return result


def _workflows(
    state: ScalerState, cluster: ClusterState | None, outcomes: Sequence[Outcome], now: float
) -> tuple[Workflow, ...]:
    flows = list(state.workflows)
    if cluster is not None and cluster.state == "ACTIVE" and not cluster.operation_in_progress:
        flows = [w for w in flows if w.kind == "broker_drain" or w.to_count != cluster.broker_count]
    for outcome in outcomes:
        d = outcome.decision
        if d.target is not Target.BROKERS or outcome.status is not OutcomeStatus.APPLIED or not d.changes_something:
            continue
        ids = tuple(int(i) for i in d.details.get("broker_ids", []))
        if d.action is Action.SCALE_OUT:
            flows = [w for w in flows if w.kind != "broker_drain"]  # load came back: stop draining
            flows.append(Workflow("broker_scale_out", now, d.current, d.desired, outcome.detail or None))
        elif d.action is Action.DRAIN:
            flows = [w for w in flows if w.kind != "broker_drain"]  # a repeated drain replaces the first
            flows.append(Workflow("broker_drain", now, d.current, d.desired, None, ids))
        elif d.action is Action.SCALE_IN:
            flows = [w for w in flows if w.kind != "broker_drain"]
            flows.append(Workflow("broker_scale_in", now, d.current, d.desired, outcome.detail or None, ids))
    return tuple(flows)


def next_state(
    state: ScalerState,
    config: AutoscalerConfig,
    lag: LagObservation,
    services: dict[str, ServiceState],
    cluster: ClusterState | None,
    plan: Plan,
    outcomes: Sequence[Outcome],
    told: Sequence[Outcome],
    now: float,
) -> ScalerState:
    # Groups read per partition from Kafka: a commit series of theirs without a sample now is gone.
    read_groups = {g.group_id for g in lag.groups.values() if g.source == "kafka"}
    end_offsets, commits = record_offsets(
        state.end_offsets, state.commits, lag.end_offsets, lag.commits, read_groups, now
    )

    recommendations = dict(state.recommendations)
    for binding in config.consumers:
        history = recommendations.get(binding.key, ())
        if binding.key in plan.recommendations:
            history = (*history, (now, plan.recommendations[binding.key]))
        recommendations[binding.key] = keep_window(history, now, binding.scale_in_stabilization_s)

    last_action_t = dict(state.last_action_t)
    for outcome in outcomes:
        if outcome.decision.changes_something and outcome.status is OutcomeStatus.APPLIED:
            last_action_t[outcome.decision.key] = now

    # Keep what was said while the same thing is still true; forget it once it changes,
    # so that it is told again when it comes back.
    last_notified = {
        o.decision.key: signature(o) for o in outcomes if state.last_notified.get(o.decision.key) == signature(o)
    }
    for outcome in told:
        last_notified[outcome.decision.key] = signature(outcome)

    return dataclasses.replace(
        state,
        last_action_t=last_action_t,
        recommendations=recommendations,
        end_offsets=end_offsets,
        commits=commits,
        task_throughput=_throughputs(state, config.consumers, lag, services, now),
        low_load_since=plan.low_load_since,
        workflows=_workflows(state, cluster, outcomes, now),
        last_notified=last_notified,
    )
