"""The ports `tick()` talks through. AWS, local and simulated adapters implement them.

Adapters take their clients in their constructors; nothing here builds a client.
Adapters raise the errors below (or any exception) and `tick()` turns each into a
problem or a failed outcome without stopping the other work of the tick.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from kafka_autoscaler.advice.facts import ClusterFacts
from kafka_autoscaler.config import ConsumerBinding
from kafka_autoscaler.model import (
    BrokerLoad,
    ClusterState,
    Decision,
    GroupLag,
    OffsetSample,
    Outcome,
    ScalerState,
    ServiceState,
)
from kafka_autoscaler.report import Message


class ObserveError(Exception):
    """Something could not be read (an unreachable broker, an AWS error)."""


class ActionError(Exception):
    """A change could not be made (throttling, ConflictException, BadRequestException).

    `maybe_applied`: the request may have reached AWS and only the reply was lost (a read
    timeout); the outcome is then read back from AWS on the next tick.
    """

    def __init__(self, message: str, *, maybe_applied: bool = False) -> None:
        super().__init__(message)
        self.maybe_applied = maybe_applied


class StateConflictError(Exception):
    """Another invocation saved the state first; this tick's record is refused."""


@dataclass(frozen=True)
class LagObservation:
    """What a lag source read: per-group lag plus the offset samples to keep for later ticks."""

    groups: Mapping[str, GroupLag]
    end_offsets: Mapping[str, OffsetSample] = field(default_factory=dict)  # "topic:partition"
    commits: Mapping[str, OffsetSample] = field(default_factory=dict)  # "group|topic:partition"
    problems: tuple[str, ...] = ()
    missing: Mapping[str, str] = field(default_factory=dict)  # group id -> why its lag is unknown


class ClusterReader(Protocol):
    def describe(self) -> ClusterState:
        """Cluster state, version, broker count, AZs, instance type, volume, operation in flight."""
        ...


class ClusterControl(Protocol):
    def update_broker_count(self, current_version: str, target_count: int) -> str:
        """Start a broker-count change; returns the operation id."""
        ...

    def update_broker_storage(self, current_version: str, volume_gib: int) -> str:
        """Start a volume-size change on every broker; returns the operation id."""
        ...

    def update_broker_type(self, current_version: str, instance_type: str) -> str:
        """Start a change of every broker's size (instance type); returns the operation id."""
        ...


class PartitionControl(Protocol):
    def create_partitions(self, topic: str, total_count: int) -> str:
        """Grow a topic to `total_count` partitions; returns a short detail."""
        ...


class FactsSource(Protocol):
    def read(self, group_ids: Sequence[str] | None) -> ClusterFacts:
        """Broker, topic and group configuration (group_ids None: every consumer group)."""
        ...


class BrokerMetricsSource(Protocol):
    def read(self, cluster: ClusterState, now: float, lookback_s: float) -> tuple[BrokerLoad, ...]:
        """Per-broker CPU, throughput, partitions and disk use over the lookback."""
        ...


class LagSource(Protocol):
    def read(self, bindings: Sequence[ConsumerBinding], state: ScalerState, now: float) -> LagObservation:
        """Lag per bound group; a group that cannot be read is left out (missing data)."""
        ...


class ServiceReader(Protocol):
    def describe(self, bindings: Sequence[ConsumerBinding]) -> dict[str, ServiceState]:
        """Service state by group id; a service that cannot be read is left out."""
        ...


class ServiceControl(Protocol):
    def set_desired(self, binding: ConsumerBinding, count: int) -> str:
        """Ask for `count` tasks; returns a short detail for the outcome."""
        ...


class CapacityControl(Protocol):
    def set_bounds(self, binding: ConsumerBinding, min_capacity: int, max_capacity: int) -> str:
        """Set Application Auto Scaling's min and max capacity of the binding's service."""
        ...


class ReplicaReader(Protocol):
    def replicas_per_broker(self) -> dict[int, int]:
        """Replicas on each broker from Kafka's metadata, MSK's canary topics left out."""
        ...


class Rebalancer(Protocol):
    def in_progress(self) -> int | None:
        """Partition reassignments under way, or None when unknown."""
        ...

    def start(self, decision: Decision) -> str:
        """Start (or resume) a rebalance or a drain; returns a short detail."""
        ...


@runtime_checkable
class RebalanceProblemReporter(Protocol):
    """A Rebalancer that also tells why its last run failed (Step Functions), for the tick's problems."""

    def last_problem(self) -> str | None: ...


class Notifier(Protocol):
    def publish(self, message: Message) -> None:
        """Send one report of the tick's decisions (SNS, console, file, memory)."""
        ...


class StateStore(Protocol):
    def acquire_lease(self, owner: str, now: float, ttl_s: float) -> bool:
        """True when this owner holds the lease; False when another invocation does."""
        ...

    def release_lease(self, owner: str) -> None: ...

    def load(self) -> ScalerState: ...

    def save(self, state: ScalerState, outcomes: Sequence[Outcome], now: float) -> None:
        """Persist the new state (conditional on its version) and append the decision log."""
        ...


@dataclass(frozen=True)
class Ports:
    """Observe through the readers, act through the controls."""

    cluster: ClusterReader
    metrics: BrokerMetricsSource
    lag: LagSource
    services: ServiceReader
    cluster_control: ClusterControl
    service_control: ServiceControl
    rebalancer: Rebalancer | None
    notifier: Notifier
    state: StateStore
    partitions: PartitionControl | None = None  # None: partition counts are never changed
    facts: FactsSource | None = None  # None: configuration is not checked
    capacity: CapacityControl | None = None  # Application Auto Scaling, for ecs.manage: min_max
    replicas: ReplicaReader | None = None  # None: ClusterReader's partition counts are Kafka's own
