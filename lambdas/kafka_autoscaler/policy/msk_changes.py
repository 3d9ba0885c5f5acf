"""At most one MSK change per tick, the most urgent one, and none while MSK is busy.

MSK takes a change only while the cluster is ACTIVE and with the CurrentVersion just read
(https://docs.aws.amazon.com/msk/1.0/apireference/clusters-clusterarn-nodes-count.html); every
accepted change moves the cluster to UPDATING and bumps the version, so a second change sent in
the same tick is refused. This step sees every decision of the tick and keeps one MSK change.
It is generic over MSK targets: broker count, storage, and a broker-type change.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from kafka_autoscaler.model import Action, ClusterState, Decision, Reason, ScalerState, Target

# Targets whose changes are MSK cluster operations (a broker-type change joins under BROKER_TYPE).
MSK_TARGETS = frozenset(t for t in Target if t.name in {"BROKERS", "STORAGE", "BROKER_TYPE"})
# Actions on those targets that do not call MSK: drains and rebalances go to the rebalancer.
NOT_MSK_ACTIONS = frozenset({Action.HOLD, Action.DRAIN, Action.REBALANCE})
# Lower is more urgent. A disk about to fill stops the brokers; CPU only slows them.
URGENCY: dict[Reason, int] = {
    Reason.DISK_ABOVE_TARGET: 0,
    Reason.DISK_WILL_FILL: 1,
    Reason.PARTITIONS_HIGH: 2,
    Reason.CPU_HIGH: 3,
    Reason.BYTES_IN_HIGH: 3,
}
OTHER_GROWTH = 5  # any other change that adds capacity (a bigger broker type, say)
SHRINK = 9  # scale-in waits for everything else


def is_msk_change(decision: Decision) -> bool:
    return decision.target in MSK_TARGETS and decision.action not in NOT_MSK_ACTIONS


def urgency(decision: Decision) -> int:
    """How urgent an MSK change is: growth by its reason, shrinking last."""
    if decision.action is Action.SCALE_IN:
        return SHRINK
    return URGENCY.get(decision.reason, OTHER_GROWTH)


def held(decision: Decision, reason: Reason, why: str) -> Decision:
    """The decision turned into a hold at its current value, saying why and what it wanted."""
    return dataclasses.replace(
        decision,
        action=Action.HOLD,
        desired=decision.current,
        reason=reason,
        message=f"{decision.key}: {why}; wanted {decision.action.value} {decision.current} -> {decision.desired}.",
        details={**decision.details, "wanted": decision.desired, "wanted_reason": decision.reason.value},
    )


def busy_reason(cluster: ClusterState | None, state: ScalerState) -> tuple[Reason, str] | None:
    """Why no MSK change may start now, or None when one may."""
    if cluster is None:
        return Reason.MISSING_DATA, "the MSK cluster could not be read"
    if cluster.operation_in_progress:
        return Reason.OPERATION_IN_PROGRESS, f"MSK is running {cluster.operation_in_progress}"
    if cluster.state != "ACTIVE":
        return Reason.CLUSTER_BUSY, f"the cluster is {cluster.state}, not ACTIVE"
    pending = [i for i in state.intents if i.target in MSK_TARGETS]
    if pending:
        # Why: a change whose outcome could not be read back may be running; sending another
        # could repeat it or collide with it.
        return Reason.INTENT_UNCONFIRMED, f"the outcome of the earlier {pending[0].key} change is not known yet"
    return None


def one_msk_change(
    decisions: Sequence[Decision], cluster: ClusterState | None, state: ScalerState
) -> tuple[Decision, ...]:
    """The decisions with at most one MSK change left: the most urgent, and only when MSK can take it."""
    changes = [d for d in decisions if is_msk_change(d)]
    if not changes:
        return tuple(decisions)
    blocked = busy_reason(cluster, state)
    first = min(changes, key=urgency)  # min keeps the earliest of equals: the policy's own order
    result: list[Decision] = []
    for decision in decisions:
        if not is_msk_change(decision):
            result.append(decision)
        elif blocked is not None:
            result.append(held(decision, blocked[0], f"{blocked[1]}; MSK takes no change until it is ACTIVE"))
        elif decision is first:
            result.append(decision)
        else:
            result.append(
                held(decision, Reason.ONE_MSK_CHANGE, f"MSK runs one change at a time and {first.key} goes first")
            )
    return tuple(result)
