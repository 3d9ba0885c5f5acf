"""Cluster ports for the local Kafka cluster: the same Protocols the MSK adapters implement.

- `LocalBrokers` shares one `LocalKafkaCluster` between the three adapters below. The
  cluster is driven from one thread at a time: a broker starts (or stops) in a
  background thread while the readers use the view taken before the change began.
- `LocalClusterReader` (ports.ClusterReader): ACTIVE, or UPDATING while brokers start or
  stop; a version that moves with every change, as MSK's current version does.
- `LocalBrokerMetrics` (ports.BrokerMetricsSource): per broker CPU from /proc, bytes in
  and out per second and disk use from DescribeLogDirs, replicas from the metadata; each
  read adds one sample and the history is kept in memory, as CloudWatch keeps it.
- `LocalClusterControl` (ports.ClusterControl): adds brokers, stops empty ones, records
  a new nominal volume size.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kafka.admin import OffsetSpec
from kafka.errors import KafkaError
from kafka.structs import TopicPartition

from kafka_autoscaler.local.cluster import LocalKafkaCluster
from kafka_autoscaler.model import BrokerLoad, ClusterState, Sample
from kafka_autoscaler.observe.kafka_lag import forget_coordinators
from kafka_autoscaler.ports import ActionError

logger = logging.getLogger(__name__)

INSTANCE_TYPE = "local"
COUNT_OPERATION = "UPDATE_BROKER_COUNT"
GIB = 1024**3


@dataclass(frozen=True)
class BrokersView:
    """What the adapters read about the running brokers, taken when no change was under way."""

    pids: Mapping[int, int]
    racks: Mapping[int, str]
    bootstrap_servers: str


class LocalBrokers:
    """The local cluster as the adapters see it: a consistent view, a version, and changes in the background."""

    def __init__(self, cluster: LocalKafkaCluster, clock: Callable[[], float], volume_gib: int = 1) -> None:
        if volume_gib < 1:
            raise ValueError(f"volume_gib must be at least 1, got {volume_gib}")
        self._cluster = cluster
        self._clock = clock
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self._view = self._read_view()
        self.version = 1
        self.volume_gib = volume_gib
        self.last_storage_update_t: float | None = None
        self.last_error: str | None = None  # why the last change failed, if it did

    @property
    def view(self) -> BrokersView:
        with self._lock:
            return self._view

    @property
    def busy(self) -> bool:
        """True while brokers are being started or stopped."""
        with self._lock:
            return self._worker is not None and self._worker.is_alive()

    def bump_version(self) -> str:
        with self._lock:
            self.version += 1
            return str(self.version)

    def change_in_background(self, name: str, change: Callable[[LocalKafkaCluster], None]) -> None:
        """Run `change` on the cluster in a thread; the view is refreshed when it ends."""
        with self._lock:
            if self._worker is not None and self._worker.is_alive():
                raise ActionError("another broker change is still in progress")
            self.version += 1
            self._worker = threading.Thread(target=self._run_change, args=(change,), name=name, daemon=True)
            self._worker.start()

    def wait(self, timeout_s: float | None = None) -> None:
        """Wait for a change in progress to end (at shutdown)."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout_s)

    def _run_change(self, change: Callable[[LocalKafkaCluster], None]) -> None:
        try:
            change(self._cluster)
            self.last_error = None
        except Exception as error:  # reported on the next describe; the demo goes on
            logger.warning("broker change failed", exc_info=True)
            self.last_error = f"{type(error).__name__}: {error}"
        view = self._read_view()
        with self._lock:
            self._view = view
            self.version += 1

    def _read_view(self) -> BrokersView:
        return BrokersView(
            dict(self._cluster.broker_pids()), dict(self._cluster.racks()), self._cluster.bootstrap_servers
        )


class LocalClusterReader:
    """ports.ClusterReader for the local cluster.

    `az_count` is what the broker policy rounds counts to. The brokers carry racks az-1..3,
    but the demo reports one AZ so a scale-out adds one broker (one JVM) instead of three.
    """

    def __init__(self, brokers: LocalBrokers, arn: str, az_count: int = 3) -> None:
        self._brokers = brokers
        self._arn = arn
        self._az_count = az_count

    def describe(self) -> ClusterState:
        busy = self._brokers.busy
        view = self._brokers.view
        return ClusterState(
            arn=self._arn,
            state="UPDATING" if busy else "ACTIVE",
            current_version=str(self._brokers.version),
            broker_count=len(view.pids),
            az_count=self._az_count,
            instance_type=INSTANCE_TYPE,
            volume_gib=self._brokers.volume_gib,
            operation_in_progress=COUNT_OPERATION if busy else None,
            last_storage_update_t=self._brokers.last_storage_update_t,
        )


# ---------------------------------------------------------------------- metrics
def process_cpu_seconds(pid: int, proc: Path = Path("/proc")) -> float:
    """User + system CPU seconds a process has used, from /proc/<pid>/stat."""
    stat = (proc / str(pid) / "stat").read_text()
    # The command name (field 2) may hold spaces; the fields after its closing parenthesis do not.
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def cpu_percent(previous: tuple[float, float], current: tuple[float, float], cores: int) -> float | None:
    """CPU % of the whole machine between two (wall s, CPU s) readings, as CloudWatch's CpuUser + CpuSystem."""
    wall = current[0] - previous[0]
    if wall <= 0 or cores <= 0:
        return None
    return max(0.0, 100.0 * (current[1] - previous[1]) / wall / cores)


@dataclass(frozen=True)
class LogDirsRead:
    """One DescribeLogDirs answer: bytes per replica, by broker and partition."""

    sizes: Mapping[int, Mapping[tuple[str, int], int]]

    def bytes_on(self, broker: int) -> int:
        return sum(self.sizes.get(broker, {}).values())


def parse_log_dirs(response: Iterable[Mapping[str, Any]]) -> LogDirsRead:
    """kafka-python's describe_log_dirs() answer as bytes per (broker, topic, partition); future replicas left out."""
    sizes: dict[int, dict[tuple[str, int], int]] = {}
    for broker in response:
        per_broker = sizes.setdefault(int(broker["broker"]), {})
        for log_dir in broker["log_dirs"]:
            if log_dir.get("error_code"):
                continue
            for topic in log_dir["topics"]:
                for partition in topic["partitions"]:
                    if partition.get("is_future_key"):
                        continue
                    key = (topic["name"], int(partition["partition_index"]))
                    per_broker[key] = per_broker.get(key, 0) + int(partition["partition_size"])
    return LogDirsRead(sizes)


@dataclass(frozen=True)
class Placement:
    """Leaders and replica counts per broker, from the topic metadata."""

    leaders: Mapping[tuple[str, int], int]
    replicas: Mapping[int, int]


def parse_topics(described: Iterable[Mapping[str, Any]]) -> Placement:
    leaders: dict[tuple[str, int], int] = {}
    replicas: dict[int, int] = {}
    for topic in described:
        if topic.get("error_code"):
            continue
        for partition in topic["partitions"]:
            if partition["leader_id"] >= 0:
                leaders[(topic["name"], int(partition["partition_index"]))] = int(partition["leader_id"])
            for broker in partition["replica_nodes"]:
                replicas[int(broker)] = replicas.get(int(broker), 0) + 1
    return Placement(leaders, replicas)


def is_internal(topic: str) -> bool:
    """Kafka's own topics (__consumer_offsets, ...): their writes are not client produce traffic."""
    return topic.startswith("__")


def partition_growth(previous: LogDirsRead, current: LogDirsRead, tp: tuple[str, int]) -> int:
    """Bytes a partition grew by between two reads, as seen by a replica present in both.

    The smallest growth over those replicas: a replica being copied onto a new broker (a
    reassignment) grows by the whole log, an in-sync one only by what was produced. A
    partition that shrank (retention deleted a segment) counts as no growth.
    """
    grown = [
        current.sizes[b][tp] - previous.sizes[b][tp]
        for b in current.sizes
        if tp in current.sizes[b] and tp in previous.sizes.get(b, {})
    ]
    return max(0, min(grown)) if grown else 0


def leader_bytes_in(
    previous: LogDirsRead, current: LogDirsRead, leaders: Mapping[tuple[str, int], int], seconds: float
) -> dict[int, float]:
    """Bytes per second produced to each broker's leader partitions of client topics (no replication)."""
    rates: dict[int, float] = {}
    if seconds <= 0:
        return rates
    for tp, leader in leaders.items():
        if not is_internal(tp[0]):
            rates[leader] = rates.get(leader, 0.0) + partition_growth(previous, current, tp) / seconds
    return rates


def leader_bytes_out(
    consumed: Mapping[tuple[str, int], int],
    sizes: LogDirsRead,
    ends: Mapping[tuple[str, int], int],
    leaders: Mapping[tuple[str, int], int],
    seconds: float,
) -> dict[int, float]:
    """Bytes per second consumers fetched from each broker: records committed times the partition's mean record size."""
    rates: dict[int, float] = {}
    if seconds <= 0:
        return rates
    for tp, records in consumed.items():
        leader = leaders.get(tp)
        end = ends.get(tp, 0)
        if leader is None or end <= 0 or records <= 0:
            continue
        mean_size = sizes.sizes.get(leader, {}).get(tp, 0) / end
        rates[leader] = rates.get(leader, 0.0) + records * mean_size / seconds
    return rates


@dataclass(frozen=True)
class _Reading:
    t: float
    cpu_seconds: dict[int, float]
    log_dirs: LogDirsRead
    committed: dict[tuple[str, int], int] | None  # None: the groups' offsets could not be read


class LocalBrokerMetrics:
    """ports.BrokerMetricsSource for the local cluster: one sample per broker per read, history in memory.

    `groups` are the consumer groups whose committed offsets count as bytes out.
    """

    def __init__(self, brokers: LocalBrokers, admin: Any, groups: Sequence[str] = (), cores: int | None = None) -> None:
        self._brokers = brokers
        self._admin = admin
        self._groups = tuple(groups)
        self._cores = cores or os.cpu_count() or 1
        self._previous: _Reading | None = None
        self._history: dict[int, deque[tuple[str, Sample]]] = {}
        self._latest_cpu: float | None = None

    def latest_cpu_mean(self) -> float | None:
        """Mean CPU % over the brokers at the last read (the rebalancer's guard reads it from its thread)."""
        return self._latest_cpu

    def read(self, cluster: ClusterState, now: float, lookback_s: float) -> tuple[BrokerLoad, ...]:
        view = self._brokers.view
        reading = _Reading(
            now, self._cpu_seconds(view.pids), parse_log_dirs(self._admin.describe_log_dirs()), self._committed()
        )
        placement = parse_topics(self._admin.describe_topics())
        self._record(reading, placement, view)
        self._previous = reading
        return tuple(
            self._load(broker, view.racks.get(broker), placement.replicas.get(broker, 0), now - lookback_s)
            for broker in sorted(view.pids)
        )

    def _record(self, reading: _Reading, placement: Placement, view: BrokersView) -> None:
        volume = self._brokers.volume_gib * GIB
        for broker in view.pids:
            self._add(broker, "disk_used_pct", Sample(reading.t, 100.0 * reading.log_dirs.bytes_on(broker) / volume))
        previous = self._previous
        if previous is None:
            return
        seconds = reading.t - previous.t
        cpus: list[float] = []
        for broker, cpu in reading.cpu_seconds.items():
            if broker in previous.cpu_seconds:
                pct = cpu_percent((previous.t, previous.cpu_seconds[broker]), (reading.t, cpu), self._cores)
                if pct is not None:
                    self._add(broker, "cpu_pct", Sample(reading.t, pct))
                    cpus.append(pct)
        self._latest_cpu = sum(cpus) / len(cpus) if cpus else None
        if seconds <= 0:
            return
        bytes_in = leader_bytes_in(previous.log_dirs, reading.log_dirs, placement.leaders, seconds)
        for broker in view.pids:
            self._add(broker, "bytes_in_per_s", Sample(reading.t, bytes_in.get(broker, 0.0)))
        if reading.committed is None or previous.committed is None:
            return  # bytes out unknown this time: no sample rather than a zero
        before = previous.committed
        consumed = {tp: offset - before[tp] for tp, offset in reading.committed.items() if tp in before}
        ends = self._ends(consumed) if consumed else {}
        bytes_out = leader_bytes_out(consumed, reading.log_dirs, ends, placement.leaders, seconds)
        for broker in view.pids:
            self._add(broker, "bytes_out_per_s", Sample(reading.t, bytes_out.get(broker, 0.0)))

    def _add(self, broker: int, metric: str, sample: Sample) -> None:
        self._history.setdefault(broker, deque(maxlen=4096)).append((metric, sample))

    def _load(self, broker: int, rack: str | None, replicas: int, since: float) -> BrokerLoad:
        kept = [(m, s) for m, s in self._history.get(broker, ()) if s.t >= since]

        def series(metric: str) -> tuple[Sample, ...]:
            return tuple(s for m, s in kept if m == metric)

        return BrokerLoad(
            broker_id=broker,
            rack=rack,
            cpu_pct=series("cpu_pct"),
            bytes_in_per_s=series("bytes_in_per_s"),
            bytes_out_per_s=series("bytes_out_per_s"),
            partition_count=replicas,
            disk_used_pct=series("disk_used_pct"),
        )

    def _cpu_seconds(self, pids: Mapping[int, int]) -> dict[int, float]:
        seconds: dict[int, float] = {}
        for broker, pid in pids.items():
            try:
                seconds[broker] = process_cpu_seconds(pid)
            except (OSError, ValueError, IndexError):
                continue  # the broker just exited: no CPU sample this time (missing data, never zero)
        return seconds

    def _committed(self) -> dict[tuple[str, int], int] | None:
        committed: dict[tuple[str, int], int] = {}
        for group in self._groups:
            try:
                offsets = self._admin.list_group_offsets([group]).get(group, {})
            except KafkaError:  # no coordinator yet (a new cluster) or it moved: bytes out unknown
                forget_coordinators(self._admin, [group])
                return None
            for tp, meta in offsets.items():
                if meta.offset >= 0:
                    key = (tp.topic, tp.partition)
                    committed[key] = committed.get(key, 0) + int(meta.offset)
        return committed

    def _ends(self, partitions: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
        found = self._admin.list_partition_offsets({TopicPartition(t, p): OffsetSpec.LATEST for t, p in partitions})
        return {(tp.topic, tp.partition): int(result.offset) for tp, result in found.items()}


# ---------------------------------------------------------------------- control
def empty_brokers(placement: Placement, candidates: Iterable[int]) -> list[int]:
    """The candidates that hold no replica."""
    return [b for b in candidates if placement.replicas.get(b, 0) == 0]


class LocalClusterControl:
    """ports.ClusterControl for the local cluster: brokers are started or stopped in the background."""

    def __init__(self, brokers: LocalBrokers, admin: Any, clock: Callable[[], float]) -> None:
        self._brokers = brokers
        self._admin = admin
        self._clock = clock

    def update_broker_count(self, current_version: str, target_count: int) -> str:
        self._check_version(current_version)
        current = sorted(self._brokers.view.pids)
        if target_count == len(current):
            raise ActionError(f"the cluster already has {target_count} brokers")
        if target_count < 1:
            raise ActionError(f"a cluster needs at least one broker, asked for {target_count}")
        if target_count > len(current):
            added = target_count - len(current)

            def add(cluster: LocalKafkaCluster) -> None:
                for _ in range(added):
                    cluster.add_broker()

            self._brokers.change_in_background("add-brokers", add)
            return f"local-op-{self._brokers.version}: starting {added} broker(s)"
        # MSK removes only brokers that hold no partitions; so does this.
        leaving = current[target_count:]
        full = sorted(set(leaving) - set(empty_brokers(parse_topics(self._admin.describe_topics()), leaving)))
        if full:
            raise ActionError(f"brokers {full} still hold partitions; drain them before a scale-in")

        def remove(cluster: LocalKafkaCluster) -> None:
            for broker in leaving:
                cluster.stop_broker(broker, unregister=True)

        self._brokers.change_in_background("remove-brokers", remove)
        return f"local-op-{self._brokers.version}: stopping brokers {leaving}"

    def update_broker_storage(self, current_version: str, volume_gib: int) -> str:
        self._check_version(current_version)
        if volume_gib <= self._brokers.volume_gib:
            raise ActionError(f"volumes only grow: {volume_gib} GiB is not above {self._brokers.volume_gib} GiB")
        self._brokers.volume_gib = volume_gib
        self._brokers.last_storage_update_t = self._clock()
        return f"local-op-{self._brokers.bump_version()}: nominal volume now {volume_gib} GiB"

    def update_broker_type(self, current_version: str, instance_type: str) -> str:
        raise ActionError(f"local brokers are processes of this machine and have no size to change to {instance_type}")

    def _check_version(self, current_version: str) -> None:
        # Why: MSK refuses a change made against a stale version; the local cluster behaves alike.
        if self._brokers.busy:
            raise ActionError("a broker change is in progress")
        if current_version != str(self._brokers.version):
            raise ActionError(f"version {current_version} is stale (the cluster is at {self._brokers.version})")
