"""In-memory ports for engine tests: each records what it was asked to do."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from kafka_autoscaler.config import ConsumerBinding
from kafka_autoscaler.model import BrokerLoad, ClusterState, Decision, GroupLag, ScalerState, ServiceState
from kafka_autoscaler.ports import ActionError, LagObservation, ObserveError, Ports
from kafka_autoscaler.report import Message
from kafka_autoscaler.state.memory import MemoryStateStore


@dataclass
class FakeWorld:
    cluster: ClusterState | None
    groups: dict[str, GroupLag]
    services: dict[str, ServiceState]
    loads: tuple[BrokerLoad, ...] = ()
    failing_services: set[str] = field(default_factory=set)
    set_calls: list[tuple[str, int]] = field(default_factory=list)
    broker_calls: list[tuple[str, int]] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    rebalances: list[Decision] = field(default_factory=list)
    type_calls: list[str] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)  # group id -> why the reader could not judge it

    # ClusterReader / ClusterControl
    def describe(self) -> ClusterState:
        if self.cluster is None:
            raise ObserveError("DescribeClusterV2 failed: ServiceUnavailableException")
        return self.cluster

    def update_broker_count(self, current_version: str, target_count: int) -> str:
        self.broker_calls.append(("count", target_count))
        return "op-count"

    def update_broker_storage(self, current_version: str, volume_gib: int) -> str:
        self.broker_calls.append(("storage", volume_gib))
        return "op-storage"

    def update_broker_type(self, current_version: str, instance_type: str) -> str:
        self.type_calls.append(instance_type)
        return "op-type"

    # BrokerMetricsSource
    def read(self, cluster: ClusterState, now: float, lookback_s: float) -> tuple[BrokerLoad, ...]:
        return self.loads


@dataclass
class FakeLag:
    world: FakeWorld

    def read(self, bindings: Sequence[ConsumerBinding], state: ScalerState, now: float) -> LagObservation:
        return LagObservation(
            groups={b.group_id: self.world.groups[b.group_id] for b in bindings if b.group_id in self.world.groups},
            missing=dict(self.world.missing),
        )


@dataclass
class FakeServices:
    world: FakeWorld

    def describe(self, bindings: Sequence[ConsumerBinding]) -> dict[str, ServiceState]:
        return {b.group_id: self.world.services[b.group_id] for b in bindings if b.group_id in self.world.services}

    def set_desired(self, binding: ConsumerBinding, count: int) -> str:
        if binding.group_id in self.world.failing_services:
            raise ActionError("ThrottlingException: Rate exceeded")
        self.world.set_calls.append((binding.group_id, count))
        old = self.world.services[binding.group_id]
        self.world.services[binding.group_id] = ServiceState(old.cluster, old.service, count, count, 0)
        return f"desiredCount={count}"


@dataclass
class FakeNotifier:
    world: FakeWorld

    def publish(self, message: Message) -> None:
        self.world.messages.append(message)


@dataclass
class FakeRebalancer:
    world: FakeWorld

    def in_progress(self) -> int | None:
        return 0

    def start(self, decision: Decision) -> str:
        self.world.rebalances.append(decision)
        return "started"


def ports_for(world: FakeWorld, store: MemoryStateStore | None = None) -> Ports:
    return Ports(
        cluster=world,
        metrics=world,
        lag=FakeLag(world),
        services=FakeServices(world),
        cluster_control=world,
        service_control=FakeServices(world),
        rebalancer=FakeRebalancer(world),
        notifier=FakeNotifier(world),
        state=store or MemoryStateStore(),
    )
