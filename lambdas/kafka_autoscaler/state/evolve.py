"""The pure `record` step: the next ScalerState from this tick's observation, plan and outcomes."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from kafka_autoscaler.advice.decide import ADVICE_KEY_PREFIX
from kafka_autoscaler.config import AutoscalerConfig, ConsumerBinding
from kafka_autoscaler.lag.history import record_offsets
from kafka_autoscaler.model import (
    Action,
    ClusterState,
    Decision,
    Failure,
    GroupLag,
    Intent,
    Outcome,
    OutcomeStatus,
    Plan,
    Reason,
    ScalerState,
    ServiceState,
    Target,
    Workflow,
)
from kafka_autoscaler.policy.failures import CLEARED, after_failure
from kafka_autoscaler.policy.msk_changes import MSK_TARGETS
from kafka_autoscaler.policy.ownership import EXTERNAL_SINCE
from kafka_autoscaler.policy.stabilization import keep_window
from kafka_autoscaler.ports import LagObservation
from kafka_autoscaler.report import signature
from kafka_autoscaler.state.rate_history import record_rates

# Weight of the newest throughput measurement; older ones fade.
THROUGHPUT_SMOOTHING = 0.3
# A group counts as busy (so its consume rate measures capacity) with this much backlog.
BUSY_BACKLOG_S = 10.0


def measured_task_throughput(group: GroupLag | None, service: ServiceState | None) -> float | None:
    """Per-task throughput, measured over the interval since the previous tick, only if saturated all along.

    Why only then: an idle consumer's rate says how much was produced, not how much
    it could take; learning from it would shrink the estimate and under-provision. A
    rate over a window that was only partly saturated (a backlog that built up within
    it) understates capacity the same way, so every partition must have had a backlog
    at the start of the interval and still have one now.
    """
    if group is None or service is None or group.rebalancing or not group.partitions:
        return None
    if service.running <= 0 or service.running != service.desired or service.pending:
        return None
    rates = [p.recent_consume_rate for p in group.partitions]
    if any(r is None for r in rates):
        return None
    total = sum(r for r in rates if r is not None)
    if total <= 0:
        return None
    for p, rate in zip(group.partitions, rates, strict=True):
        backlog = max(1.0, (rate or 0.0) * BUSY_BACKLOG_S)
        if p.recent_start_lag is None or p.recent_start_lag < backlog or p.lag < backlog:
            return None
    return total / service.running


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
            continue  # the interval may still hold the start-up and the rebalance the change caused
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


# Outcomes after which the change may have happened: its cooldown runs.
MAY_HAVE_HAPPENED = frozenset({OutcomeStatus.APPLIED, OutcomeStatus.UNKNOWN})


def needs_intent(decision: Decision) -> bool:
    """Changes whose outcome can be read back from AWS: ECS desired counts and MSK operations."""
    return decision.changes_something and (decision.target is Target.CONSUMERS or decision.target in MSK_TARGETS)


def intent_for(decision: Decision, state: ScalerState, now: float) -> Intent:
    return Intent(
        decision.key,
        decision.target.value,
        decision.action.value,
        decision.current,
        decision.desired,
        now,
        state.last_action_t.get(decision.key),
    )


def with_intents(state: ScalerState, changes: Sequence[Decision], now: float) -> ScalerState:
    """The state to save before acting: each change's intent, and its cooldown already running.

    Why: a crash after the AWS call but before the record must neither skip the cooldown
    nor let the next tick send the same change again.
    """
    recorded = [d for d in changes if needs_intent(d)]
    last_action_t = dict(state.last_action_t) | {d.key: now for d in recorded}
    intents = (*state.intents, *(intent_for(d, state, now) for d in recorded))
    return dataclasses.replace(state, last_action_t=last_action_t, intents=intents)


def _failures(
    state: ScalerState, config: AutoscalerConfig, outcomes: Sequence[Outcome], now: float
) -> dict[str, Failure]:
    failures = dict(state.failures)
    for outcome in outcomes:
        key = outcome.decision.key
        if outcome.status is OutcomeStatus.FAILED:
            failures[key] = after_failure(failures.get(key), outcome.detail, config.retry, now)
        elif (outcome.status is OutcomeStatus.APPLIED and outcome.decision.changes_something) or (
            CLEARED in outcome.decision.details
        ):
            failures.pop(key, None)
    return failures


def _ownership(
    state: ScalerState,
    config: AutoscalerConfig,
    services: dict[str, ServiceState],
    outcomes: Sequence[Outcome],
) -> tuple[dict[str, int], dict[str, float]]:
    """The desired count each service was last set to (or accepted at), and outside changes being respected."""
    known = dict(state.known_desired)
    external: dict[str, float] = {}
    decided = {o.decision.key: o for o in outcomes}
    for binding in config.consumers:
        service, outcome = services.get(binding.group_id), decided.get(binding.key)
        if outcome is not None and outcome.decision.reason is Reason.EXTERNAL_CHANGE:
            external[binding.key] = float(outcome.decision.details[EXTERNAL_SINCE])
        if outcome is not None and outcome.decision.changes_something and outcome.status is OutcomeStatus.APPLIED:
            known[binding.key] = outcome.decision.desired
        elif service is not None and (binding.key in external or binding.key not in known):
            known[binding.key] = service.desired  # accepted: the count someone else set, or the first one seen
    return known, external


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
        if outcome.decision.changes_something and outcome.status in MAY_HAVE_HAPPENED:
            last_action_t[outcome.decision.key] = now
    # A change whose reply was lost stays an intent, read back from AWS next tick.
    intents = (
        *state.intents,
        *(
            intent_for(o.decision, state, now)
            for o in outcomes
            if o.status is OutcomeStatus.UNKNOWN and needs_intent(o.decision)
        ),
    )
    known_desired, external_changes = _ownership(state, config, services, outcomes)

    # Keep what was said while the same thing is still true; forget it once it changes,
    # so that it is told again when it comes back.
    last_notified = {
        o.decision.key: signature(o) for o in outcomes if state.last_notified.get(o.decision.key) == signature(o)
    }
    for outcome in told:
        last_notified[outcome.decision.key] = signature(outcome)
    if not plan.advice_judged:  # unread configuration is missing advice, not advice that went away
        last_notified.update({k: v for k, v in state.last_notified.items() if k.startswith(ADVICE_KEY_PREFIX)})

    workflows = _workflows(state, cluster, outcomes, now)
    finished = [w for w in state.workflows if w not in workflows]
    rate_history = record_rates(state.rate_history, config, lag.groups, services, cluster, finished, outcomes, now)
    return dataclasses.replace(
        state,
        last_action_t=last_action_t,
        recommendations=recommendations,
        end_offsets=end_offsets,
        commits=commits,
        task_throughput=_throughputs(state, config.consumers, lag, services, now),
        low_load_since=plan.low_load_since,
        workflows=workflows,
        last_notified=last_notified,
        broker_type_low_since=plan.broker_type_low_since,
        failures=_failures(state, config, outcomes, now),
        intents=intents,
        known_desired=known_desired,
        external_changes=external_changes,
        rate_history=rate_history,
    )
