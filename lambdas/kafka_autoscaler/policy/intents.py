"""Read back changes recorded before sending whose outcome was never recorded.

`tick()` saves an Intent (with the cooldown already set) before it calls AWS, and clears it
when it records the outcome. An intent still present at the next tick means the invocation
died in between, or the reply was lost: whether the change happened is read from what AWS
reports now (MSK's operation list, the ECS service's desired count) before anything is decided.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from kafka_autoscaler.model import (
    Action,
    ClusterOperation,
    ClusterState,
    Intent,
    ScalerState,
    ServiceState,
    Target,
    Workflow,
)
from kafka_autoscaler.policy.msk_changes import MSK_TARGETS

# Clocks differ a little between Lambda and MSK: an operation that started this much before the
# intent was recorded still counts as the change it recorded.
CLOCK_SKEW_S = 60.0
# MSK operation types by target (ListClusterOperationsV2 OperationType).
OPERATION_TYPES: dict[str, tuple[str, ...]] = {
    Target.BROKERS.value: ("UPDATE_BROKER_COUNT",),
    Target.STORAGE.value: ("UPDATE_BROKER_STORAGE", "UPDATE_STORAGE"),
    "broker_type": ("UPDATE_BROKER_TYPE",),
}
CONSUMER_PREFIX = "consumer:"


@dataclass(frozen=True)
class Resolution:
    state: ScalerState
    notes: tuple[str, ...]  # what was read back, in words


def matching_operation(intent: Intent, cluster: ClusterState) -> ClusterOperation | None:
    """The MSK operation that carried out the intent, if MSK reports one started after it."""
    kinds = OPERATION_TYPES.get(intent.target, ())
    found = [
        op
        for op in cluster.operations
        if op.kind in kinds and op.start_t is not None and op.start_t >= intent.t - CLOCK_SKEW_S
    ]
    return min(found, key=lambda op: op.start_t or 0.0) if found else None


def _happened_msk(intent: Intent, cluster: ClusterState | None) -> tuple[bool | None, str | None]:
    if cluster is None:
        return None, None
    operation = matching_operation(intent, cluster)
    if operation is not None:
        return True, operation.arn
    if cluster.state == "ACTIVE" and not cluster.operation_in_progress:
        return False, None
    return None, None  # busy with something else: decide next tick


def _happened_service(intent: Intent, service: ServiceState | None) -> bool | None:
    if service is None:
        return None
    return service.desired == intent.desired


def _workflow(intent: Intent, operation_arn: str | None) -> Workflow | None:
    if intent.target != Target.BROKERS.value:
        return None
    if intent.action == Action.SCALE_OUT.value:
        return Workflow("broker_scale_out", intent.t, intent.current, intent.desired, operation_arn)
    if intent.action == Action.SCALE_IN.value:
        return Workflow("broker_scale_in", intent.t, intent.current, intent.desired, operation_arn)
    return None


def resolve_intents(state: ScalerState, cluster: ClusterState | None, services: dict[str, ServiceState]) -> Resolution:
    """The state with every intent AWS can now vouch for confirmed or undone; the rest kept."""
    if not state.intents:
        return Resolution(state, ())
    last_action_t = dict(state.last_action_t)
    known_desired = dict(state.known_desired)
    failures = dict(state.failures)
    workflows = list(state.workflows)
    kept: list[Intent] = []
    notes: list[str] = []
    for intent in state.intents:
        change = f"{intent.key} {intent.action} {intent.current} -> {intent.desired}"
        operation_arn: str | None = None
        if intent.target in MSK_TARGETS:
            happened, operation_arn = _happened_msk(intent, cluster)
        elif intent.key.startswith(CONSUMER_PREFIX):
            happened = _happened_service(intent, services.get(intent.key.removeprefix(CONSUMER_PREFIX)))
        else:
            happened = False
        if happened is None:
            kept.append(intent)
            notes.append(f"the outcome of {change} (sent at {intent.t:.0f}) cannot be read back yet")
            continue
        if happened:
            last_action_t[intent.key] = intent.t  # the cooldown runs from when it was sent
            failures.pop(intent.key, None)
            if intent.key.startswith(CONSUMER_PREFIX):
                known_desired[intent.key] = intent.desired
            flow = _workflow(intent, operation_arn)
            if flow is not None and not any(w.kind == flow.kind and w.to_count == flow.to_count for w in workflows):
                workflows.append(flow)
            notes.append(f"{change} was not recorded but AWS shows it happened; recorded now")
        else:
            if intent.previous_action_t is None:
                last_action_t.pop(intent.key, None)
            else:
                last_action_t[intent.key] = intent.previous_action_t
            notes.append(f"{change} was recorded but AWS shows it did not happen; its cooldown is undone")
    return Resolution(
        dataclasses.replace(
            state,
            intents=tuple(kept),
            last_action_t=last_action_t,
            known_desired=known_desired,
            failures=failures,
            workflows=tuple(workflows),
        ),
        tuple(notes),
    )
