"""The ports of kafka_autoscaler.ports, implemented over the simulated world.

The lag source answers what Kafka would at the tick (log-end and committed offsets,
group state, members and their partitions) and hands it to the same
`build_observation` the Kafka reader uses: lag, rates and time lag come from the offset
samples `record` kept, never from the world's true values. Broker metrics come through
the delayed CloudWatch model.
"""

from __future__ import annotations

from collections.abc import Sequence

from kafka_autoscaler.config import ConsumerBinding
from kafka_autoscaler.lag.observation import GroupOffsets, OffsetsRead, build_observation
from kafka_autoscaler.model import BrokerLoad, ClusterState, Decision, ScalerState, ServiceState
from kafka_autoscaler.ports import ActionError, LagObservation, Ports
from kafka_autoscaler.report import Message
from kafka_autoscaler.sim.model import GROUP_ID, TOPIC, World
from kafka_autoscaler.state.memory import MemoryStateStore


def offsets_read(world: World, now: float) -> OffsetsRead:
    """The world's group and topic as Kafka's ListOffsets, OffsetFetch and DescribeGroups answer them."""
    offsets = world.offsets_now()
    partitions = tuple(range(world.settings.partitions))
    end = {(TOPIC, p): int(offset) for p, offset in zip(partitions, offsets.end.tolist(), strict=True)}
    committed = {(TOPIC, p): int(offset) for p, offset in zip(partitions, offsets.committed.tolist(), strict=True)}
    owners = world.group.owner_ids.tolist()
    group = GroupOffsets(
        group_id=GROUP_ID,
        state=world.group.state(now),
        members=len(world.group.members),
        owned=frozenset((TOPIC, p) for p in partitions if owners[p] >= 0),
        committed=committed,
    )
    return OffsetsRead(
        groups={GROUP_ID: group}, topics={GROUP_ID: (TOPIC,)}, partitions={TOPIC: partitions}, end=end, start={}
    )


class SimLagSource:
    """ports.LagSource over the simulated world, through production's lag arithmetic."""

    def __init__(self, world: World) -> None:
        self.world = world

    def read(self, bindings: Sequence[ConsumerBinding], state: ScalerState, now: float) -> LagObservation:
        if not any(b.group_id == GROUP_ID for b in bindings):
            return LagObservation(groups={})
        return build_observation(offsets_read(self.world, now), state, now)


class SimServices:
    """ServiceReader and ServiceControl over the modelled ECS service."""

    def __init__(self, world: World) -> None:
        self.world = world

    def describe(self, bindings: Sequence[ConsumerBinding]) -> dict[str, ServiceState]:
        counts = self.world.ecs.counts
        return {
            b.group_id: ServiceState(b.ecs.cluster, b.ecs.service, counts.desired, counts.running, counts.pending)
            for b in bindings
            if b.group_id == GROUP_ID
        }

    def set_desired(self, binding: ConsumerBinding, count: int) -> str:
        self.world.set_desired(count)
        return f"desired count {count}"


class SimCluster:
    """ClusterReader, ClusterControl, BrokerMetricsSource and Rebalancer over the modelled MSK cluster."""

    def __init__(self, world: World) -> None:
        self.msk = world.msk

    def describe(self) -> ClusterState:
        return self.msk.describe()

    def read(self, cluster: ClusterState, now: float, lookback_s: float) -> tuple[BrokerLoad, ...]:
        return self.msk.loads(now, lookback_s)

    def update_broker_count(self, current_version: str, target_count: int) -> str:
        return self.msk.update_broker_count(current_version, target_count)

    def update_broker_storage(self, current_version: str, volume_gib: int) -> str:
        return self.msk.update_broker_storage(current_version, volume_gib)

    def update_broker_type(self, current_version: str, instance_type: str) -> str:
        raise ActionError("the simulator models broker counts and storage, not broker sizes")

    def in_progress(self) -> int | None:
        return self.msk.moves_in_progress()

    def start(self, decision: Decision) -> str:
        return self.msk.start_moves(decision)


class MemoryNotifier:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    def publish(self, message: Message) -> None:
        self.messages.append(message)


def simulated_ports(world: World) -> Ports:
    cluster = SimCluster(world)
    services = SimServices(world)
    return Ports(
        cluster=cluster,
        metrics=cluster,
        lag=SimLagSource(world),
        services=services,
        cluster_control=cluster,
        service_control=services,
        rebalancer=cluster,
        notifier=MemoryNotifier(),
        state=MemoryStateStore(),
    )
