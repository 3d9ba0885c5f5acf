"""Domain types shared by every stage of a tick.

observe -> Snapshot, decide -> Plan (Decisions), act -> Outcomes, record -> ScalerState.
Everything here is a frozen value; nothing here talks to AWS or Kafka.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, NamedTuple


# ---------------------------------------------------------------- observe: the snapshot
@dataclass(frozen=True)
class Sample:
    """One metric datapoint: epoch seconds and value."""

    t: float
    value: float


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    end_offset: int
    committed_offset: int | None  # None: the group never committed here
    lag: int
    time_lag_s: float | None = None  # None: not enough offset history yet
    produce_rate: float | None = None  # messages per second into the partition
    consume_rate: float | None = None  # committed messages per second
    stalled_for_s: float = 0.0  # how long the committed offset stayed put while lag > 0


@dataclass(frozen=True)
class GroupLag:
    """Lag of one consumer group over the topics it is bound to.

    From Kafka every partition is known; from MSK's CloudWatch metrics only the
    aggregates are, and `partitions` is empty.
    """

    group_id: str
    source: Literal["kafka", "cloudwatch"]
    total_lag: int
    max_time_lag_s: float | None
    produce_rate: float | None
    consume_rate: float | None
    partition_count: int
    partitions: tuple[PartitionLag, ...] = ()
    state: str = "Unknown"  # Stable, PreparingRebalance, CompletingRebalance, Empty, Dead, Unknown
    members: int | None = None
    max_offset_lag: int | None = None  # MSK's MaxOffsetLag, when only aggregates are known

    @property
    def largest_partition_lag(self) -> int | None:
        """The lag of the most lagging partition: from the partitions, else from MSK's MaxOffsetLag."""
        if self.partitions:
            return max(p.lag for p in self.partitions)
        return self.max_offset_lag

    @property
    def rebalancing(self) -> bool:
        return self.state in {"PreparingRebalance", "CompletingRebalance"}


@dataclass(frozen=True)
class ServiceState:
    cluster: str
    service: str
    desired: int
    running: int
    pending: int
    deployment_in_progress: bool = False


@dataclass(frozen=True)
class BrokerLoad:
    """One broker's recent metrics, oldest sample first."""

    broker_id: int
    rack: str | None = None  # availability zone (MSK) or broker.rack (local)
    cpu_pct: tuple[Sample, ...] = ()  # CpuUser + CpuSystem
    bytes_in_per_s: tuple[Sample, ...] = ()
    bytes_out_per_s: tuple[Sample, ...] = ()
    partition_count: int | None = None  # replicas on this broker, leaders and followers
    disk_used_pct: tuple[Sample, ...] = ()


@dataclass(frozen=True)
class ClusterState:
    arn: str
    state: str  # ACTIVE, CREATING, UPDATING, HEALING, MAINTENANCE, ...
    current_version: str
    broker_count: int
    az_count: int
    instance_type: str
    volume_gib: int
    operation_in_progress: str | None = None  # operation type, e.g. UPDATE_BROKER_COUNT
    last_storage_update_t: float | None = None  # end of the last storage change MSK reports
    brokers: tuple[BrokerLoad, ...] = ()


@dataclass(frozen=True)
class Snapshot:
    """Everything one tick knows about the world, read before anything is decided."""

    taken_at: float
    cluster: ClusterState | None  # None: MSK could not be read this tick
    groups: dict[str, GroupLag]  # by group id; a missing group means its lag could not be read
    services: dict[str, ServiceState]  # by group id of the binding
    state: ScalerState
    reassignments_in_progress: int | None = None  # partition moves Kafka reports; None: unknown
    problems: tuple[str, ...] = ()  # what could not be observed, in words


# ---------------------------------------------------------------- decide: the plan
class Target(StrEnum):
    CONSUMERS = "consumers"
    BROKERS = "brokers"
    STORAGE = "storage"
    REBALANCE = "rebalance"


class Action(StrEnum):
    SCALE_OUT = "scale_out"
    SCALE_IN = "scale_in"
    HOLD = "hold"
    EXPAND = "expand"
    REBALANCE = "rebalance"
    DRAIN = "drain"


class Reason(StrEnum):
    """Why a decision was taken. Codes are stable: dashboards and tests use them."""

    # consumers
    LAG_ABOVE_TARGET = "LagAboveTarget"
    LAG_BELOW_TARGET = "LagBelowTarget"
    WITHIN_TOLERANCE = "WithinTolerance"
    SCALE_IN_STABILIZING = "ScaleInStabilizing"
    SCALE_OUT_LIMITED = "ScaleOutStepLimit"
    AT_MAX = "AtMaximum"
    AT_MIN = "AtMinimum"
    CAPPED_AT_PARTITIONS = "CappedAtPartitions"
    HOT_PARTITION = "HotPartitionBound"
    STUCK_PARTITION = "StuckPartition"
    MISSING_DATA = "MissingData"
    GROUP_REBALANCING = "GroupRebalancing"
    DEPLOYMENT_IN_PROGRESS = "DeploymentInProgress"
    COOLDOWN = "Cooldown"
    TASKS_STARTING = "TasksStarting"
    # brokers
    CPU_HIGH = "CpuAboveTarget"
    BYTES_IN_HIGH = "BytesInAboveLimit"
    PARTITIONS_HIGH = "PartitionsAboveLimit"
    LOAD_LOW = "LoadLow"
    LOAD_NORMAL = "LoadNormal"
    CLUSTER_BUSY = "ClusterNotActive"
    OPERATION_IN_PROGRESS = "OperationInProgress"
    DRAIN_PENDING = "DrainPending"
    PARTITIONS_UNBALANCED = "PartitionsUnbalanced"
    # storage
    DISK_ABOVE_TARGET = "DiskAboveTarget"
    DISK_WILL_FILL = "DiskWillFill"
    DISK_OK = "DiskOk"
    STORAGE_CHANGE_TOO_SOON = "StorageChangeTooSoon"
    AT_MAX_VOLUME = "AtMaximumVolume"
    # the whole tick
    PAUSED = "Paused"
    DRY_RUN = "DryRun"


@dataclass(frozen=True)
class Decision:
    """One thing the scaler decided, with a reason code and a sentence a person reads."""

    target: Target
    key: str  # which resource: "consumer:<group>", "brokers", "storage", "rebalance"
    action: Action
    current: int
    desired: int
    reason: Reason
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def changes_something(self) -> bool:
        return self.action is not Action.HOLD

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target.value,
            "key": self.key,
            "action": self.action.value,
            "current": self.current,
            "desired": self.desired,
            "reason": self.reason.value,
            "message": self.message,
            "details": self.details,
        }


@dataclass(frozen=True)
class Plan:
    decided_at: float
    decisions: tuple[Decision, ...]
    recommendations: dict[str, int] = field(default_factory=dict)  # per consumer key, before stabilization
    low_load_since: float | None = None  # brokers: start of the present low-load stretch

    @property
    def changes(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if d.changes_something)


# ---------------------------------------------------------------- act: outcomes
class OutcomeStatus(StrEnum):
    APPLIED = "applied"
    SKIPPED_DRY_RUN = "skipped_dry_run"
    SKIPPED_PAUSED = "skipped_paused"
    FAILED = "failed"


@dataclass(frozen=True)
class Outcome:
    decision: Decision
    status: OutcomeStatus
    detail: str = ""  # the AWS error, the operation ARN, ...

    def as_dict(self) -> dict[str, Any]:
        return {**self.decision.as_dict(), "status": self.status.value, "detail": self.detail}


# ---------------------------------------------------------------- record: what later ticks need
class OffsetSample(NamedTuple):
    """An offset (end or committed) of one partition at one time.

    End-offset samples are the table time lag is interpolated on; committed-offset
    samples give consume rates and show stalls. A named tuple: histories are read as
    Sequence[OffsetSample] views over arrays (lag/series.py), which make one per read.
    """

    t: float
    offset: int


@dataclass(frozen=True)
class Workflow:
    """A multi-tick action in flight, e.g. a broker scale-out waiting to be rebalanced."""

    kind: Literal["broker_scale_out", "broker_drain", "broker_scale_in"]
    started_at: float
    from_count: int
    to_count: int
    operation_arn: str | None = None
    broker_ids: tuple[int, ...] = ()  # brokers being drained before a scale-in


@dataclass(frozen=True)
class ScalerState:
    """What `record` keeps between ticks. Immutable; each tick returns a new one."""

    last_action_t: dict[str, float] = field(default_factory=dict)  # cooldowns, per decision key
    recommendations: dict[str, tuple[tuple[float, int], ...]] = field(default_factory=dict)
    # Offset histories; after a tick lag/series.py SampleTables (arrays, a column per tick), read as any mapping.
    end_offsets: Mapping[str, Sequence[OffsetSample]] = field(default_factory=dict)  # "topic:partition"
    commits: Mapping[str, Sequence[OffsetSample]] = field(default_factory=dict)  # "group|topic:partition"
    task_throughput: dict[str, float] = field(default_factory=dict)  # measured msgs/s per task, per group
    low_load_since: float | None = None  # brokers: when load last went below the scale-in level
    workflows: tuple[Workflow, ...] = ()
    last_notified: dict[str, str] = field(default_factory=dict)  # per decision key: what was last said
    version: int = 0  # optimistic concurrency in the state store


def partition_key(topic: str, partition: int) -> str:
    return f"{topic}:{partition}"


def commit_key(group_id: str, topic: str, partition: int) -> str:
    return f"{group_id}|{topic}:{partition}"
