"""Domain types shared by every stage of a tick.

observe -> Snapshot, decide -> Plan (Decisions), act -> Outcomes, record -> ScalerState.
Everything here is a frozen value; nothing here talks to AWS or Kafka.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

if TYPE_CHECKING:
    from kafka_autoscaler.advice.facts import ClusterFacts


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
    # Since the newest commit sample at least 30 s old (the previous tick): committed msgs/s, and
    # the lag then (the end offset sampled at that moment minus that commit); None when unknown.
    recent_consume_rate: float | None = None
    recent_start_lag: int | None = None


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
    group_type: str = "consumer"  # "consumer" (classic or KIP-848) or "share" (KIP-932: no partition cap)

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
class ScalableTarget:
    """An Application Auto Scaling scalable target registered on an ECS service's desired count."""

    min_capacity: int
    max_capacity: int


@dataclass(frozen=True)
class ServiceState:
    cluster: str
    service: str
    desired: int
    running: int
    pending: int
    deployment_in_progress: bool = False
    scalable_target: ScalableTarget | None = None  # Application Auto Scaling owns the count when set
    scalable_target_known: bool = True  # False: DescribeScalableTargets could not be read


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
class ClusterOperation:
    """One entry of MSK's ListClusterOperationsV2, times in epoch seconds."""

    arn: str
    kind: str  # OperationType, e.g. UPDATE_BROKER_COUNT, UPDATE_BROKER_STORAGE
    state: str  # OperationState, e.g. PENDING, UPDATE_IN_PROGRESS, UPDATE_COMPLETE, UPDATE_FAILED
    start_t: float | None = None
    end_t: float | None = None


# Express brokers are named express.*; MSK manages their storage and rebalances their partitions.
EXPRESS_PREFIX = "express."


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
    kafka_version: str | None = None  # CurrentBrokerSoftwareInfo.KafkaVersion, e.g. "3.6.0"
    operations: tuple[ClusterOperation, ...] = ()  # ListClusterOperationsV2, newest first
    metrics_error: str | None = None  # set when the broker metrics could not be read this tick

    @property
    def express(self) -> bool:
        return self.instance_type.startswith(EXPRESS_PREFIX)


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
    facts: ClusterFacts | None = None  # broker, topic and group configuration; None: not read
    broker_replicas: dict[int, int] | None = None
    lag_missing: dict[str, str] = field(
        default_factory=dict
    )  # group id -> why its lag is unknown  # replicas per broker from Kafka metadata, canaries left out


# ---------------------------------------------------------------- decide: the plan
class Target(StrEnum):
    CONSUMERS = "consumers"
    BROKERS = "brokers"
    STORAGE = "storage"
    REBALANCE = "rebalance"
    PARTITIONS = "partitions"
    BROKER_TYPE = "broker_type"
    ADVICE = "advice"


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
    FORECAST_FLOOR = "ForecastFloor"
    SETTLING_AFTER_SCALE_OUT = "SettlingAfterScaleOut"
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
    SCALE_IN_UNSUPPORTED = "ScaleInUnsupported"
    FORECAST_PEAK = "ForecastPeak"
    # storage
    DISK_ABOVE_TARGET = "DiskAboveTarget"
    DISK_WILL_FILL = "DiskWillFill"
    DISK_OK = "DiskOk"
    STORAGE_CHANGE_TOO_SOON = "StorageChangeTooSoon"
    AT_MAX_VOLUME = "AtMaximumVolume"
    # the whole tick
    PAUSED = "Paused"
    DRY_RUN = "DryRun"
    # partitions
    PARTITIONS_CAP_LATE_GROUP = "PartitionsCapLateGroup"
    KEYED_TOPIC = "KeyedTopic"
    PARTITIONS_AT_MAX = "PartitionsAtMaximum"
    # broker type
    CPU_HIGH_AT_MAX_BROKERS = "CpuHighAtMaxBrokers"
    PARTITIONS_ABOVE_TYPE = "PartitionsAboveBrokerType"
    AT_LARGEST_TYPE = "AtLargestBrokerType"
    # advice
    ADVICE = "Advice"
    # the runtime's rules around every change
    ONE_MSK_CHANGE = "OneMskChangeAtATime"
    RETRY_BACKOFF = "RetryBackoff"
    INTENT_UNCONFIRMED = "IntentUnconfirmed"
    AUTOSCALING_OWNS = "ApplicationAutoScalingOwns"
    EXTERNAL_CHANGE = "ExternalChange"


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
    broker_type_low_since: float | None = None  # broker size: start of the present low-load stretch
    advice_judged: bool = True  # False: the configuration was not read, so what advice said still stands

    @property
    def changes(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if d.changes_something)


# ---------------------------------------------------------------- act: outcomes
class OutcomeStatus(StrEnum):
    APPLIED = "applied"
    SKIPPED_DRY_RUN = "skipped_dry_run"
    SKIPPED_PAUSED = "skipped_paused"
    FAILED = "failed"
    UNKNOWN = "unknown"  # the request may have reached AWS (a lost reply): read back next tick


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
class Failure:
    """A change that failed: what AWS said, how often, and when it may be tried again."""

    error: str
    first_t: float
    last_t: float
    attempts: int
    retry_at: float


@dataclass(frozen=True)
class Intent:
    """A change recorded before it is sent, so a crash between acting and recording loses nothing.

    `previous_action_t` is the cooldown time to restore when the change turns out not to have happened.
    """

    key: str
    target: str
    action: str
    current: int
    desired: int
    t: float
    previous_action_t: float | None = None


@dataclass(frozen=True)
class RateSeries:
    """One metric's history in minute buckets, oldest first, and coarser buckets before them.

    NaN marks a bucket in which nothing was seen: missing is missing, never zero.
    """

    start_t: float  # start of the minute of values[0]
    values: tuple[float, ...] = ()  # per-minute means
    count: int = 0  # samples averaged into the newest minute
    coarse_start_t: float = 0.0  # start of coarse[0]; the coarse buckets end where values begin
    coarse: tuple[float, ...] = ()  # means over COARSE_STEP_S before start_t
    periods_min: tuple[int, ...] = ()  # the rhythm last found in it (policy/forecast.py)
    periods_t: float | None = None  # when it was last looked for; None: not yet


@dataclass(frozen=True)
class RateHistory:
    """What the forecaster learns from: rate histories and measured lead times.

    Series keys: "consumer:<group>" (produce rate, msgs/s), "brokers:bytes_in" (bytes/s),
    "brokers:cpu" (CPU % summed over brokers). Lead times: "consumer:<group>" (task start-up),
    "brokers" (an UpdateBrokerCount operation).
    """

    series: dict[str, RateSeries] = field(default_factory=dict)
    lead_times_s: dict[str, float] = field(default_factory=dict)
    scaled_out_at: dict[str, float] = field(default_factory=dict)  # the last applied scale-out, per key
    starting_since: dict[str, float] = field(default_factory=dict)  # a scale-out whose tasks are not all running


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
    broker_type_low_since: float | None = None  # broker size: when load last went below the size-down level
    failures: dict[str, Failure] = field(default_factory=dict)  # per decision key: the failing change
    intents: tuple[Intent, ...] = ()  # changes recorded ahead of sending, not yet confirmed
    known_desired: dict[str, int] = field(default_factory=dict)  # per consumer key: the count set or accepted
    external_changes: dict[str, float] = field(default_factory=dict)  # per consumer key: when seen changed
    unsent: tuple[dict[str, Any], ...] = ()  # messages whose publish failed: subject, text, payload
    rate_history: RateHistory = field(default_factory=RateHistory)  # what the forecaster reads


def partition_key(topic: str, partition: int) -> str:
    return f"{topic}:{partition}"


def commit_key(group_id: str, topic: str, partition: int) -> str:
    return f"{group_id}|{topic}:{partition}"
