"""Read what placement needs from Kafka: replicas, racks, and reassignments in flight.

A partition being reassigned lists its old and new replicas together; placement sees
it at its target (``replicas - removing``), so a plan made mid-move builds on the move.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from kafka import errors

from kafka_autoscaler.rebalance.placement import PartitionId

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Errors of a broker that went away (crash, restart, scale-in): worth a fresh look at the cluster.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    errors.KafkaConnectionError,
    errors.KafkaTimeoutError,
    errors.NodeNotReadyError,
    errors.NotControllerError,
    errors.RequestTimedOutError,
    errors.UnknownBrokerIdError,
    OSError,
)
RETRY_DELAYS_S = (0.5, 1.0, 2.0, 4.0, 8.0, 8.0)  # about 24 s in all: longer than a broker's 9 s session timeout


class KafkaAdmin(Protocol):
    """The part of kafka-python's KafkaAdminClient the rebalancer uses."""

    def describe_cluster(self) -> dict[str, Any]: ...

    def describe_topics(self, topics: list[str] | None = None) -> list[dict[str, Any]]: ...

    def list_partition_reassignments(self, topic_partitions: Any = None, timeout_ms: int | None = None) -> Any: ...

    def alter_partition_reassignments(self, reassignments: Any, timeout_ms: int | None = None) -> Any: ...

    def alter_configs(
        self,
        config_resources: list[Any],
        validate_only: bool = False,
        raise_on_unknown: bool = True,
        incremental: bool | None = None,
    ) -> dict[str, dict[str, str]]: ...

    def describe_configs(
        self, config_resources: list[Any], include_synonyms: bool = False, config_filter: str = "modified"
    ) -> dict[str, dict[str, dict[str, Any]]]: ...

    def elect_leaders(
        self, election_type: int, topic_partitions: Any = None, timeout_ms: int | None = None, raise_errors: bool = True
    ) -> Any: ...


@dataclass(frozen=True)
class InFlight:
    """A reassignment Kafka reports as under way."""

    replicas: tuple[int, ...]
    adding: tuple[int, ...]
    removing: tuple[int, ...]

    @property
    def target(self) -> tuple[int, ...]:
        return tuple(b for b in self.replicas if b not in self.removing)

    @property
    def source(self) -> tuple[int, ...]:
        return tuple(b for b in self.replicas if b not in self.adding)


@dataclass(frozen=True)
class ClusterLayout:
    assignment: dict[PartitionId, tuple[int, ...]]  # in-flight partitions at their target
    racks: dict[int, str | None]  # running (unfenced) brokers
    fenced: tuple[int, ...]  # registered brokers that are not running
    in_flight: dict[PartitionId, InFlight]


def reassignments_in_flight(admin: KafkaAdmin) -> dict[PartitionId, InFlight]:
    """Every reassignment Kafka reports as under way."""
    reported: Mapping[Any, Mapping[str, Any]] = admin.list_partition_reassignments()
    return {
        (tp.topic, tp.partition): InFlight(
            tuple(state["replicas"]), tuple(state["adding_replicas"]), tuple(state["removing_replicas"])
        )
        for tp, state in reported.items()
    }


def know_brokers(admin: KafkaAdmin, broker_ids: Iterable[int]) -> None:
    """Make kafka-python's client know every broker in ``broker_ids``.

    The client learns broker addresses from its metadata, refreshed every five minutes;
    a broker added since then is unknown to it, and per-broker requests (the throttle
    rate) fail with UnknownBrokerIdError. kafka-python has no public refresh, so this
    uses its connection manager; a client without one (a test fake) is left as it is.
    """
    manager = getattr(admin, "_manager", None)
    if manager is None:
        return
    if any(manager.cluster.broker_metadata(b) is None for b in broker_ids):
        manager.run(manager.cluster.refresh_metadata)


def refresh(admin: KafkaAdmin) -> None:
    """Forget the admin client's controller and reload its metadata after a broker went away.

    kafka-python 3.0.12 keeps the controller id it first found for the client's whole life;
    in KRaft that is one of the brokers, so once that broker is down every controller request
    fails until the id is asked for again. A client without these (a test fake) is left as is.
    """
    if hasattr(admin, "_controller_id"):
        admin._controller_id = None
    manager = getattr(admin, "_manager", None)
    if manager is not None:
        try:
            manager.run(manager.cluster.refresh_metadata)
        except TRANSIENT_ERRORS as error:
            logger.info("metadata refresh failed (%s); the next attempt tries again", error)


def with_retries(
    admin: KafkaAdmin,
    call: Callable[[], T],
    what: str,
    *,
    delays: Iterable[float] = RETRY_DELAYS_S,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """`call()`, tried again after each delay while it fails with a transient error; the last error is raised."""
    for delay in (*delays, None):
        try:
            return call()
        except TRANSIENT_ERRORS as error:
            if delay is None:
                raise
            logger.warning("%s failed (%s: %s); retrying in %.1fs", what, type(error).__name__, error, delay)
            sleep(delay)
            refresh(admin)
    raise AssertionError("unreachable")  # the loop returns or raises


def preferred_not_leading(admin: KafkaAdmin, partitions: Iterable[PartitionId]) -> list[PartitionId]:
    """Partitions whose preferred (first) replica is in sync, on a running broker, and not the leader.

    Preferred leader election can move leadership to exactly these (Kafka refuses the others
    with PREFERRED_LEADER_NOT_AVAILABLE).
    """
    wanted = set(partitions)
    if not wanted:
        return []
    alive = {int(b["broker_id"]) for b in admin.describe_cluster()["brokers"] if not b.get("is_fenced", False)}
    found: list[PartitionId] = []
    for topic in admin.describe_topics(sorted({t for t, _ in wanted})):
        if topic.get("error_code", 0):
            continue
        for partition in topic["partitions"]:
            pid = (str(topic["name"]), int(partition["partition_index"]))
            replicas = [int(b) for b in partition["replica_nodes"]]
            if pid not in wanted or not replicas:
                continue
            preferred = replicas[0]
            in_sync = preferred in {int(b) for b in partition.get("isr_nodes", replicas)}
            if preferred in alive and in_sync and int(partition["leader_id"]) != preferred:
                found.append(pid)
    return sorted(found)


def read_layout(admin: KafkaAdmin, *, sleep: Callable[[float], None] = time.sleep) -> ClusterLayout:
    """Replicas of every partition (internal topics too), broker racks, reassignments in flight.

    A transient error (a broker that went away, a controller the client cached) is retried
    with `with_retries`; the last one is raised.
    """
    return with_retries(admin, lambda: _read_layout(admin), "reading the cluster layout", sleep=sleep)


def _read_layout(admin: KafkaAdmin) -> ClusterLayout:
    brokers = admin.describe_cluster()["brokers"]
    know_brokers(admin, [int(b["broker_id"]) for b in brokers if not b.get("is_fenced", False)])
    racks = {int(b["broker_id"]): b.get("rack") for b in brokers if not b.get("is_fenced", False)}
    fenced = tuple(sorted(int(b["broker_id"]) for b in brokers if b.get("is_fenced", False)))
    in_flight = reassignments_in_flight(admin)
    assignment: dict[PartitionId, tuple[int, ...]] = {}
    for topic in admin.describe_topics():
        if topic.get("error_code", 0):
            continue  # being deleted or not readable: nothing to place
        for partition in topic["partitions"]:
            pid = (str(topic["name"]), int(partition["partition_index"]))
            moving = in_flight.get(pid)
            assignment[pid] = moving.target if moving else tuple(int(b) for b in partition["replica_nodes"])
    return ClusterLayout(assignment, racks, fenced, in_flight)
