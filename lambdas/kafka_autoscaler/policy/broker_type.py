"""The brokers' size (MSK UpdateBrokerType): one size up when adding brokers cannot help, one down after long low load.

Up, to the next size of the family, when CPU stays above target with the cluster at
max_brokers, or when partitions per broker are above what the size carries: the
recommended count at max_brokers, or at any count the most that still supports update
operations. Down (off by default) after `vertical.window_s` of low CPU, when the smaller
size would still be below the CPU target and carry the partitions.

Preconditions from the MSK developer guide, "Update the Amazon MSK cluster broker size"
(https://docs.aws.amazon.com/msk/latest/developerguide/msk-update-broker-type.html): every
broker has the same size; the update is rolling, one broker at a time; no other update may
start until it completes (so: only while ACTIVE with no operation, and not in a tick that
changes anything else of the brokers); a cluster cannot go to a smaller size while its
partitions per broker exceed the most supported for updates (bestpractices.html,
"Number of partitions per Standard broker").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kafka_autoscaler.config import BrokerPolicy
from kafka_autoscaler.instances import INSTANCES, BrokerInstance, instance
from kafka_autoscaler.model import Action, ClusterState, Decision, Reason, ScalerState, Target
from kafka_autoscaler.policy.brokers import cluster_series, latest_mean, scale_out_demand

BROKER_TYPE_KEY = "broker_type"


@dataclass(frozen=True)
class BrokerTypeResult:
    decision: Decision | None
    low_since: float | None  # start of the present low-load stretch (for a size down)


def adjacent_size(row: BrokerInstance, step: int, largest: str | None = None) -> BrokerInstance | None:
    """The size `step` places up (+1) or down (-1) in the same family; None past its end or above `largest`."""
    limit = INSTANCES.get(largest) if largest else None
    for candidate in INSTANCES.values():
        if candidate.family == row.family and candidate.size_rank == row.size_rank + step:
            if limit is not None and limit.family == row.family and candidate.size_rank > limit.size_rank:
                return None
            return candidate
    return None


def partitions_per_broker(cluster: ClusterState) -> float | None:
    counts = [b.partition_count for b in cluster.brokers if b.partition_count is not None]
    if not counts or len(counts) != cluster.broker_count:
        return None
    return sum(counts) / len(counts)


def _decision(action: Action, row: BrokerInstance, to: BrokerInstance, reason: Reason, message: str) -> Decision:
    return Decision(
        Target.BROKER_TYPE,
        BROKER_TYPE_KEY,
        action,
        row.vcpus,
        to.vcpus,
        reason,
        message,
        {"from_instance_type": row.name, "target_instance_type": to.name},
    )


def _hold(row: BrokerInstance, reason: Reason, message: str) -> Decision:
    return _decision(Action.HOLD, row, row, reason, message)


def why_up(cluster: ClusterState, policy: BrokerPolicy, row: BrokerInstance, now: float) -> tuple[Reason, str] | None:
    """Why a larger size, rather than more brokers, is what helps; None when nothing asks for it."""
    _, reasons = scale_out_demand(cluster, policy, now)
    asked = dict(reasons)
    at_max = cluster.broker_count >= policy.max_brokers
    per_broker = partitions_per_broker(cluster)
    if Reason.CPU_HIGH in asked and at_max:
        return (
            Reason.CPU_HIGH_AT_MAX_BROKERS,
            f"{asked[Reason.CPU_HIGH]}, and the cluster is at max_brokers ({policy.max_brokers}), so no broker can "
            f"be added: a larger size gives every broker more vCPUs (now {row.vcpus}) without moving partitions",
        )
    if per_broker is not None and per_broker > row.max_partitions_for_updates:
        return (
            Reason.PARTITIONS_ABOVE_TYPE,
            f"{per_broker:.0f} partitions per broker are above the {row.max_partitions_for_updates} that "
            f"{row.name} supports for update operations: a larger size carries more partitions per broker, "
            "without a reassignment of every partition onto new brokers",
        )
    if Reason.PARTITIONS_HIGH in asked and at_max:
        return (
            Reason.PARTITIONS_ABOVE_TYPE,
            f"{asked[Reason.PARTITIONS_HIGH]}, and the cluster is at max_brokers ({policy.max_brokers}): a larger "
            "size carries more partitions per broker",
        )
    return None


def small_enough(
    cluster: ClusterState, policy: BrokerPolicy, row: BrokerInstance, smaller: BrokerInstance, now: float
) -> bool:
    """Whether the smaller size carries today's load: CPU low, below target once scaled, partitions within limits."""
    cpu = latest_mean(cluster_series(cluster.brokers, "cpu_pct", "mean"), now, policy.cpu_window_s)
    per_broker = partitions_per_broker(cluster)
    if cpu is None or per_broker is None:
        return False  # missing data never sizes down
    projected = cpu * row.vcpus / smaller.vcpus
    return (
        cpu < policy.vertical.low_cpu_pct
        and projected < policy.cpu_target_pct
        and per_broker <= smaller.recommended_partitions
    )


def decide_broker_type(
    cluster: ClusterState | None,
    policy: BrokerPolicy,
    state: ScalerState,
    broker_decisions: Sequence[Decision],
    now: float,
) -> BrokerTypeResult:
    """The broker-size decision for this tick, or none."""
    vertical = policy.vertical
    if not vertical.enabled or cluster is None:
        return BrokerTypeResult(None, None)
    row = instance(cluster.instance_type)
    if row is None:
        return BrokerTypeResult(None, None)  # a size the table does not know: nothing to step to
    if cluster.state != "ACTIVE" or cluster.operation_in_progress:
        return BrokerTypeResult(None, state.broker_type_low_since)  # MSK: one update at a time
    if any(d.changes_something for d in broker_decisions):
        return BrokerTypeResult(None, None)  # the broker count changes this tick; its size waits
    last = state.last_action_t.get(BROKER_TYPE_KEY)
    cooling = last is not None and now - last < vertical.cooldown_s

    up = why_up(cluster, policy, row, now)
    if up is not None:
        reason, why = up
        larger = adjacent_size(row, +1, vertical.max_instance_type)
        if larger is None:
            limit = f" (vertical.max_instance_type {vertical.max_instance_type})" if vertical.max_instance_type else ""
            return BrokerTypeResult(
                _hold(
                    row,
                    Reason.AT_LARGEST_TYPE,
                    f"broker size: {why}; but {row.name} is the largest size allowed{limit}.",
                ),
                None,
            )
        if cooling:
            return BrokerTypeResult(
                _hold(row, Reason.COOLDOWN, f"broker size: {why}; waiting for the {vertical.cooldown_s}s cooldown."),
                None,
            )
        message = f"broker size: {row.name} -> {larger.name} ({row.vcpus} -> {larger.vcpus} vCPUs): {why}."
        return BrokerTypeResult(_decision(Action.SCALE_OUT, row, larger, reason, message), None)

    smaller = adjacent_size(row, -1)
    if not vertical.scale_down or smaller is None or not small_enough(cluster, policy, row, smaller, now):
        return BrokerTypeResult(None, None)  # any tick that is not low (or lacks data) ends the stretch
    since = state.broker_type_low_since if state.broker_type_low_since is not None else now
    if now - since < vertical.window_s or cooling:
        return BrokerTypeResult(None, since)
    message = (
        f"broker size: {row.name} -> {smaller.name} ({row.vcpus} -> {smaller.vcpus} vCPUs): CPU has stayed below "
        f"{vertical.low_cpu_pct:.0f}% for {now - since:.0f}s and would stay below the {policy.cpu_target_pct:.0f}% "
        f"target on the smaller size, which carries the partitions per broker."
    )
    return BrokerTypeResult(_decision(Action.SCALE_IN, row, smaller, Reason.LOAD_LOW, message), since)
