"""The ports of kafka_autoscaler.ports, implemented over the simulated world.

Our Kafka reader samples offsets when the tick runs, so the lag source reads the
world's true values at that instant (it keeps no offset history: it knows the
produce time of every offset). Broker metrics come through the delayed CloudWatch model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from kafka_autoscaler.config import ConsumerBinding
from kafka_autoscaler.model import BrokerLoad, ClusterState, Decision, GroupLag, PartitionLag, ScalerState, ServiceState
from kafka_autoscaler.ports import ActionError, LagObservation, Ports
from kafka_autoscaler.report import Message
from kafka_autoscaler.sim.model import GROUP_ID, TOPIC, World
from kafka_autoscaler.state.memory import MemoryStateStore


def _rate(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


class SimLagSource:
    def __init__(self, world: World) -> None:
        self.world = world

    def read(self, bindings: Sequence[ConsumerBinding], state: ScalerState, now: float) -> LagObservation:
        groups: dict[str, GroupLag] = {}
        for binding in bindings:
            if binding.group_id == GROUP_ID:
                groups[binding.group_id] = self._group(now)
        return LagObservation(groups)

    def _group(self, now: float) -> GroupLag:
        view = self.world.partitions_now()
        partitions = tuple(
            PartitionLag(
                topic=TOPIC,
                partition=index,
                end_offset=int(view.end_offsets[index]),
                committed_offset=int(view.committed[index]),
                lag=int(view.end_offsets[index] - view.committed[index]),
                time_lag_s=float(view.time_lag_s[index]),
                produce_rate=_rate(view.produce_rate[index]),
                consume_rate=_rate(view.consume_rate[index]),
                stalled_for_s=float(view.stalled_for_s[index]),
            )
            for index in range(len(view.end_offsets))
        )
        produce = _rate(float(view.produce_rate.sum()))
        consume = _rate(float(view.consume_rate.sum()))
        return GroupLag(
            group_id=GROUP_ID,
            source="kafka",
            total_lag=sum(p.lag for p in partitions),
            max_time_lag_s=float(view.time_lag_s.max()),
            produce_rate=produce,
            consume_rate=consume,
            partition_count=len(partitions),
            partitions=partitions,
            state=self.world.group.state(now),
            members=len(self.world.group.members),
        )


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
