"""A modelled MSK cluster: broker operations that take tens of minutes, CPU from throughput,
disk filling from retention, and partition moves between brokers.

Each broker's share of the load is its share of the partition replicas. CPU grows
linearly with the bytes (leader and follower) a broker takes in; disk holds the bytes
of the retention window.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass

from kafka_autoscaler.model import Action, BrokerLoad, ClusterState, Decision, Sample
from kafka_autoscaler.ports import ActionError
from kafka_autoscaler.sim.settings import SimSettings

CLUSTER_ARN = "arn:aws:kafka:eu-west-1:123456789012:cluster/sim/00000000-0000-0000-0000-000000000000-1"
INSTANCE_TYPE = "kafka.m5.large"
IDLE_CPU_PCT = 5.0
GIB = 1024**3


@dataclass
class Operation:
    kind: str  # UPDATE_BROKER_COUNT, UPDATE_BROKER_STORAGE
    ends_at: int
    apply: Callable[[], None]


@dataclass
class BrokerSeries:
    """Per-minute datapoints of one broker, with the time each becomes visible."""

    cpu: list[Sample]
    bytes_in: list[Sample]
    disk: list[Sample]
    visible_at: list[int]


class MskCluster:
    def __init__(self, settings: SimSettings, metric_delay: Callable[[], int]) -> None:
        self.settings = settings
        self._delay = metric_delay
        self.now = 0
        self.version = 1
        self.volume_gib = settings.volume_gib
        self.operation: Operation | None = None
        self.last_storage_update_t: float | None = None
        total = settings.partitions * settings.replication_factor
        ids = list(range(1, settings.brokers + 1))
        self.replicas: dict[int, int] = {
            b: total // len(ids) + (1 if i < total % len(ids) else 0) for i, b in enumerate(ids)
        }
        self.series: dict[int, BrokerSeries] = {b: BrokerSeries([], [], [], []) for b in ids}
        self._move: tuple[int, dict[int, int]] | None = None  # (ends_at, replicas after the move)
        self.operations_started = 0

    # ---------------------------------------------------------------- reads
    def describe(self) -> ClusterState:
        op = self.operation
        return ClusterState(
            arn=CLUSTER_ARN,
            state="UPDATING" if op else "ACTIVE",
            current_version=f"K{self.version}",
            broker_count=len(self.replicas),
            az_count=self.settings.az_count,
            instance_type=INSTANCE_TYPE,
            volume_gib=self.volume_gib,
            operation_in_progress=op.kind if op else None,
            last_storage_update_t=self.last_storage_update_t,
        )

    def loads(self, now: float, lookback_s: float) -> tuple[BrokerLoad, ...]:
        result: list[BrokerLoad] = []
        for broker, series in self.series.items():
            start = bisect.bisect_left(series.cpu, now - lookback_s, key=lambda s: s.t)
            end = start
            while end < len(series.visible_at) and series.visible_at[end] <= now:
                end += 1
            result.append(
                BrokerLoad(
                    broker_id=broker,
                    rack=f"az{(broker - 1) % self.settings.az_count + 1}",
                    cpu_pct=tuple(series.cpu[start:end]),
                    bytes_in_per_s=tuple(series.bytes_in[start:end]),
                    partition_count=self.replicas.get(broker),
                    disk_used_pct=tuple(series.disk[start:end]),
                )
            )
        return tuple(result)

    def moves_in_progress(self) -> int:
        if self._move is None:
            return 0
        after = self._move[1]
        return sum(abs(after.get(b, 0) - self.replicas.get(b, 0)) for b in set(after) | set(self.replicas)) // 2

    # ---------------------------------------------------------------- time
    def advance(self, now: int) -> None:
        self.now = now
        if self.operation is not None and now >= self.operation.ends_at:
            self.operation.apply()
            self.operation = None
            self.version += 1
        if self._move is not None and now >= self._move[0]:
            self.replicas = {b: self._move[1].get(b, 0) for b in self.replicas}
            self._move = None

    def publish_minute(self, minute_start: int, bytes_in_per_s: float, retained_bytes: float) -> None:
        """Record one minute of broker metrics from the cluster's produce traffic."""
        total = sum(self.replicas.values()) or 1
        visible_at = minute_start + 60 + self._delay()
        rf = self.settings.replication_factor
        for broker, series in self.series.items():
            share = self.replicas.get(broker, 0) / total
            cpu = (
                IDLE_CPU_PCT
                + (100 - IDLE_CPU_PCT) * bytes_in_per_s * rf * share / self.settings.broker_bytes_per_s_at_full_cpu
            )
            disk = 100.0 * retained_bytes * rf * share / (self.volume_gib * GIB)
            series.cpu.append(Sample(minute_start, min(cpu, 100.0)))
            series.bytes_in.append(Sample(minute_start, bytes_in_per_s * share))
            series.disk.append(Sample(minute_start, min(disk, 100.0)))
            series.visible_at.append(visible_at)

    # ---------------------------------------------------------------- control
    def update_broker_count(self, current_version: str, target: int) -> str:
        self._check(current_version)
        count = len(self.replicas)
        if target % self.settings.az_count:
            raise ActionError(f"BadRequestException: {target} brokers is not a multiple of the AZ count")
        if target < count:
            removed = sorted(self.replicas)[target:]
            if any(self.replicas[b] for b in removed):
                raise ActionError(f"BadRequestException: brokers {removed} still hold partitions")

        def apply() -> None:
            if target > count:
                for broker in range(max(self.replicas) + 1, max(self.replicas) + 1 + target - count):
                    self.replicas[broker] = 0
                    self.series[broker] = BrokerSeries([], [], [], [])
            else:
                for broker in sorted(self.replicas)[target:]:
                    del self.replicas[broker]
                    del self.series[broker]

        return self._start("UPDATE_BROKER_COUNT", self.settings.broker_operation_s, apply)

    def update_broker_storage(self, current_version: str, volume_gib: int) -> str:
        self._check(current_version)
        if volume_gib <= self.volume_gib:
            raise ActionError(f"BadRequestException: storage can only grow (now {self.volume_gib} GiB)")

        def apply() -> None:
            self.volume_gib = volume_gib
            self.last_storage_update_t = float(self.now)

        return self._start("UPDATE_BROKER_STORAGE", self.settings.storage_operation_s, apply)

    def start_moves(self, decision: Decision) -> str:
        """Spread replicas evenly over the brokers that stay (REBALANCE), or off the drained ones (DRAIN)."""
        key = "exclude_brokers" if decision.action is Action.REBALANCE else "broker_ids"
        excluded = {int(b) for b in decision.details.get(key, [])}
        keep = [b for b in sorted(self.replicas) if b not in excluded]
        if not keep:
            raise ActionError("no broker would be left to hold the partitions")
        total = sum(self.replicas.values())
        after = {b: total // len(keep) + (1 if i < total % len(keep) else 0) for i, b in enumerate(keep)}
        self._move = (self.now + self.settings.reassignment_s, after)
        return f"moving {self.moves_in_progress()} replicas"

    def _check(self, current_version: str) -> None:
        if self.operation is not None:
            raise ActionError(f"ConflictException: {self.operation.kind} is in progress")
        if current_version != f"K{self.version}":
            raise ActionError(f"BadRequestException: version {current_version} is not current")

    def _start(self, kind: str, duration_s: int, apply: Callable[[], None]) -> str:
        self.operation = Operation(kind, self.now + duration_s, apply)
        self.operations_started += 1
        return f"operation {kind.lower()}-{self.operations_started}"
