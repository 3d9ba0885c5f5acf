"""One owner per desired count: Application Auto Scaling, a person, or the scaler.

Two controllers writing one ECS desiredCount undo each other. These steps wrap the consumer
decision: if Application Auto Scaling has a scalable target on the service
(https://docs.aws.amazon.com/autoscaling/application/APIReference/API_DescribeScalableTargets.html,
ResourceId service/CLUSTER/SERVICE) the scaler holds, or with `ecs.manage: min_max` steers the
target's min and max capacity instead of the count; a count someone else set is respected for
`external_change_hold_s` before the scaler resumes.
"""

from __future__ import annotations

import dataclasses

from kafka_autoscaler.config import ConsumerBinding, EcsManage
from kafka_autoscaler.model import Action, Decision, Reason, ScalerState, ServiceState

MIN_CAPACITY = "min_capacity"  # details of a decision carried out through Application Auto Scaling
MAX_CAPACITY = "max_capacity"
EXTERNAL_SINCE = "external_since"  # details: when the outside change was first seen


def _hold(decision: Decision, current: int, reason: Reason, message: str, **details: object) -> Decision:
    return dataclasses.replace(
        decision,
        action=Action.HOLD,
        current=current,
        desired=current,
        reason=reason,
        message=message,
        details={**decision.details, **details},
    )


def autoscaling_owner(binding: ConsumerBinding, decision: Decision, service: ServiceState | None) -> Decision:
    """Hold when Application Auto Scaling owns the count; in min_max mode, steer its bounds."""
    if service is None:
        return decision
    where = binding.ecs.resource_id
    if not service.scalable_target_known:
        # Why: without knowing the owner, a change may fight another controller.
        return _hold(
            decision,
            service.desired,
            Reason.MISSING_DATA,
            f"{decision.key}: whether Application Auto Scaling manages {where} could not be read; no change.",
        )
    target = service.scalable_target
    if binding.ecs.manage is EcsManage.MIN_MAX:
        if not decision.changes_something:
            return decision
        bounds = (decision.desired, max(decision.desired, binding.max_tasks))
        return dataclasses.replace(
            decision,
            message=f"{decision.message} Application Auto Scaling's capacity for {where} is set to "
            f"min {bounds[0]}, max {bounds[1]}.",
            details={**decision.details, MIN_CAPACITY: bounds[0], MAX_CAPACITY: bounds[1]},
        )
    if target is None:
        return decision
    return _hold(
        decision,
        service.desired,
        Reason.AUTOSCALING_OWNS,
        f"{decision.key}: Application Auto Scaling manages {where} (min {target.min_capacity}, max "
        f"{target.max_capacity}); the scaler leaves its desired count alone. Set ecs.manage: min_max to steer "
        "its bounds instead.",
        wanted=decision.desired,
    )


def outside_change(
    binding: ConsumerBinding, decision: Decision, service: ServiceState | None, state: ScalerState, now: float
) -> Decision:
    """Respect a desired count someone else set, for `external_change_hold_s`."""
    if service is None or binding.ecs.manage is EcsManage.MIN_MAX or decision.reason is Reason.AUTOSCALING_OWNS:
        return decision
    key = binding.key
    known = state.known_desired.get(key)
    if any(i.key == key for i in state.intents):
        return decision  # our own change whose outcome is being read back, not someone else's
    since = state.external_changes.get(key)
    if known is not None and service.desired != known:
        since = now  # seen this tick: a new outside change (or another one during the hold)
    if since is None or now - since >= binding.external_change_hold_s:
        return decision
    until = binding.external_change_hold_s - (now - since)
    return _hold(
        decision,
        service.desired,
        Reason.EXTERNAL_CHANGE,
        f"{key}: the desired count was set to {service.desired} outside the scaler"
        + (f" (it had set {known})" if known is not None and known != service.desired else "")
        + f"; respected for another {until / 60:.0f} min.",
        **{EXTERNAL_SINCE: since, "wanted": decision.desired},
    )


def owned_decision(
    binding: ConsumerBinding, decision: Decision, service: ServiceState | None, state: ScalerState, now: float
) -> Decision:
    """The consumer decision after both ownership steps."""
    return outside_change(binding, autoscaling_owner(binding, decision, service), service, state, now)
