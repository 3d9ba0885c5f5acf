"""The autoscaler's configuration: one YAML file, one typed schema.

The same schema is used by the Lambda at cold start, by `cdk synth` and by
`kafka-autoscaler validate`, so a bad file fails everywhere with the same message.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

CLUSTER_ARN_PATTERN = re.compile(
    r"^arn:aws[a-z-]*:kafka:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):cluster/(?P<name>[A-Za-z0-9-]+)/(?P<uuid>[A-Za-z0-9-]+)$"
)
SNS_ARN_PATTERN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")

# MSK accepts at most 16384 GiB of EBS storage per broker.
MSK_MAX_VOLUME_GIB = 16384


class ConfigError(Exception):
    """The configuration file is missing, unreadable or invalid.

    `problems` holds one line per problem: the field's path and what is allowed.
    """

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        listing = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s) in the configuration:\n{listing}")


class _Strict(BaseModel):
    """Unknown keys are errors: a typo must not silently fall back to a default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class AuthMechanism(StrEnum):
    IAM = "iam"
    SCRAM = "scram"
    TLS = "tls"
    PLAINTEXT = "plaintext"


class KafkaAuth(_Strict):
    mechanism: AuthMechanism = AuthMechanism.IAM
    scram_secret_arn: str | None = Field(
        default=None, description="Secrets Manager secret (AmazonMSK_ prefix) holding the SCRAM user."
    )

    @model_validator(mode="after")
    def _scram_needs_secret(self) -> Self:
        if self.mechanism is AuthMechanism.SCRAM and not self.scram_secret_arn:
            raise ValueError("scram_secret_arn is required when mechanism is 'scram'")
        if self.mechanism is not AuthMechanism.SCRAM and self.scram_secret_arn:
            raise ValueError("scram_secret_arn is only allowed when mechanism is 'scram'")
        return self


class Network(_Strict):
    """Where the scaler function runs so that it reaches the brokers."""

    vpc_id: str = Field(pattern=r"^vpc-[0-9a-f]+$")
    subnet_ids: Annotated[list[Annotated[str, Field(pattern=r"^subnet-[0-9a-f]+$")]], Field(min_length=1)]
    security_group_ids: Annotated[list[Annotated[str, Field(pattern=r"^sg-[0-9a-f]+$")]], Field(min_length=1)]


class ClusterSettings(_Strict):
    arn: str
    bootstrap_servers: str = Field(min_length=1, description="host:port[,host:port...]")
    auth: KafkaAuth = KafkaAuth()
    network: Network | None = None

    @field_validator("arn")
    @classmethod
    def _arn_shape(cls, value: str) -> str:
        if not CLUSTER_ARN_PATTERN.match(value):
            raise ValueError("must be an MSK cluster ARN like arn:aws:kafka:REGION:ACCOUNT:cluster/NAME/UUID")
        return value

    @field_validator("bootstrap_servers")
    @classmethod
    def _servers_shape(cls, value: str) -> str:
        for server in value.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"'{server}' is not host:port")
        return value

    @property
    def region(self) -> str:
        match = CLUSTER_ARN_PATTERN.match(self.arn)
        assert match is not None  # checked by the validator
        return match["region"]

    @property
    def name(self) -> str:
        match = CLUSTER_ARN_PATTERN.match(self.arn)
        assert match is not None
        return match["name"]

    @property
    def account(self) -> str:
        match = CLUSTER_ARN_PATTERN.match(self.arn)
        assert match is not None
        return match["account"]


class ConsumerMode(StrEnum):
    TIME_LAG = "time_lag"
    LAG_THRESHOLD = "lag_threshold"


class EcsService(_Strict):
    cluster: str = Field(min_length=1, description="ECS cluster name")
    service: str = Field(min_length=1, description="ECS service name")


class Forecast(_Strict):
    """Scaling ahead of periodic load: on once the rhythm is trusted."""

    enabled: bool = True
    min_cycles: int = Field(default=3, ge=2, description="Complete cycles seen before a period is trusted")
    max_lead_s: int = Field(default=600, ge=0, description="Longest a change is started before the load")
    max_error: float = Field(
        default=0.5, gt=0, description="Forecast error (mean absolute, relative to the mean rate) that switches it off"
    )


class ConsumerBinding(_Strict):
    """One consumer group and the ECS service whose tasks consume for it."""

    group_id: str = Field(min_length=1)
    topics: list[str] = Field(default_factory=list, description="Empty: every topic the group commits to")
    ecs: EcsService
    min_tasks: int = Field(default=1, ge=0)
    max_tasks: int = Field(default=10, ge=1)
    mode: ConsumerMode = ConsumerMode.TIME_LAG
    target_time_lag_s: float = Field(default=60.0, gt=0)
    lag_threshold: int = Field(default=1000, ge=1, description="Messages of lag one task is sized for")
    task_throughput_msgs_per_s: float = Field(
        default=100.0, gt=0, description="Fallback throughput of one task until one is measured"
    )
    max_scale_out_step: int | None = Field(
        default=None,
        ge=1,
        description="Most tasks added in one decision; unset: no limit but max_tasks (tasks still starting are "
        "waited for before adding more)",
    )
    scale_in_stabilization_s: int = Field(default=300, ge=0)
    tolerance: float = Field(default=0.1, ge=0, lt=1, description="Dead band against noise")
    allow_more_tasks_than_partitions: bool = False
    even_partition_spread: bool = False
    stuck_partition_after_s: int = Field(default=300, ge=30)
    cooldown_s: int = Field(default=60, ge=0, description="Least time between two scale-outs")
    forecast: Forecast = Forecast()

    @property
    def key(self) -> str:
        return f"consumer:{self.group_id}"

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        if self.min_tasks > self.max_tasks:
            raise ValueError(f"min_tasks ({self.min_tasks}) is above max_tasks ({self.max_tasks})")
        return self


class BrokerScaleIn(_Strict):
    enabled: bool = False
    low_cpu_pct: float = Field(default=30.0, gt=0, lt=100)
    window_s: int = Field(default=86400, ge=3600, description="How long load must stay low")


class BrokerPolicy(_Strict):
    enabled: bool = True
    min_brokers: int = Field(default=3, ge=1)
    max_brokers: int = Field(default=12, ge=1)
    az_count: int = Field(
        default=3, ge=1, le=3, description="Availability zones of the cluster; MSK's own count wins at run time"
    )
    cpu_target_pct: float = Field(default=60.0, gt=0, lt=100)
    cpu_window_s: int = Field(default=900, ge=60, description="CPU must stay above target this long")
    max_bytes_in_per_broker: float | None = Field(default=None, gt=0, description="Bytes/s; None: not used")
    max_partitions_per_broker: int | None = Field(
        default=None, ge=1, description="None: MSK's recommendation for the instance type"
    )
    cooldown_s: int = Field(default=3600, ge=0)
    rebalance_max_cpu_pct: float = Field(default=70.0, gt=0, le=100)
    scale_in: BrokerScaleIn = BrokerScaleIn()
    forecast: Forecast = Forecast(max_lead_s=7200)

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        if self.min_brokers > self.max_brokers:
            raise ValueError(f"min_brokers ({self.min_brokers}) is above max_brokers ({self.max_brokers})")
        for name, value in (("min_brokers", self.min_brokers), ("max_brokers", self.max_brokers)):
            if value % self.az_count:
                raise ValueError(
                    f"{name} ({value}) is not a multiple of az_count ({self.az_count}); "
                    "MSK keeps the same number of brokers in every availability zone"
                )
        return self


class StorageMode(StrEnum):
    SCALER = "scaler"
    AWS_TARGET_TRACKING = "aws_target_tracking"
    OFF = "off"


class StoragePolicy(_Strict):
    mode: StorageMode = StorageMode.SCALER
    target_used_pct: float = Field(default=70.0, gt=0, lt=100)
    alarm_used_pct: float = Field(default=85.0, gt=0, le=100)
    min_increase_pct: float = Field(default=10.0, ge=10)
    min_increase_gib: int = Field(default=10, ge=10)
    max_volume_gib: int = Field(default=MSK_MAX_VOLUME_GIB, ge=1, le=MSK_MAX_VOLUME_GIB)
    growth_window_s: int = Field(default=3600, ge=600)
    min_interval_s: int = Field(default=6 * 3600, ge=6 * 3600, description="MSK: one change per 6 hours")

    @model_validator(mode="after")
    def _levels(self) -> Self:
        if self.target_used_pct >= self.alarm_used_pct:
            raise ValueError(
                f"target_used_pct ({self.target_used_pct}) must be below alarm_used_pct ({self.alarm_used_pct})"
            )
        return self


class Notifications(_Strict):
    sns_topic_arn: str | None = None
    emails: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]] = Field(default_factory=list)

    @field_validator("sns_topic_arn")
    @classmethod
    def _arn_shape(cls, value: str | None) -> str | None:
        if value is not None and not SNS_ARN_PATTERN.match(value):
            raise ValueError("must be an SNS topic ARN like arn:aws:sns:REGION:ACCOUNT:NAME")
        return value


class Schedule(_Strict):
    rate_minutes: int = Field(default=1, ge=1, le=60)


class CruiseControl(_Strict):
    url: str = Field(pattern=r"^https?://")


class AutoscalerConfig(_Strict):
    cluster: ClusterSettings
    consumers: list[ConsumerBinding] = Field(default_factory=list)
    brokers: BrokerPolicy = BrokerPolicy()
    storage: StoragePolicy = StoragePolicy()
    notifications: Notifications = Notifications()
    schedule: Schedule = Schedule()
    cruise_control: CruiseControl | None = None
    dry_run: bool = False
    paused: bool = False

    @model_validator(mode="after")
    def _unique_bindings(self) -> Self:
        seen: set[str] = set()
        for binding in self.consumers:
            if binding.group_id in seen:
                raise ValueError(f"consumer group '{binding.group_id}' is bound twice")
            seen.add(binding.group_id)
        services = [(b.ecs.cluster, b.ecs.service) for b in self.consumers]
        if len(services) != len(set(services)):
            raise ValueError("two consumer bindings scale the same ECS service")
        return self

    def binding(self, group_id: str) -> ConsumerBinding:
        for candidate in self.consumers:
            if candidate.group_id == group_id:
                return candidate
        raise KeyError(group_id)


def _describe(error: dict[str, Any]) -> str:
    path = ".".join(str(part) for part in error["loc"]) or "(top level)"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown field (check its spelling)"
    elif error["type"] == "enum":
        allowed = error.get("ctx", {}).get("expected", "")
        message = f"'{error.get('input')}' is not allowed; use {allowed}"
    return f"{path}: {message}"


def parse_config(data: object, source: str = "config") -> AutoscalerConfig:
    """Validate an already-loaded mapping. Raises ConfigError with one line per problem."""
    if not isinstance(data, dict):
        raise ConfigError(source, ["(top level): must be a mapping of settings"])
    try:
        return AutoscalerConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(source, [_describe(dict(e)) for e in error.errors()]) from None


def load_config(path: str | Path) -> AutoscalerConfig:
    """Read and validate a YAML configuration file.

    >>> load_config("examples/autoscaler.yaml").cluster.name
    'orders'
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(source, [f"cannot read the file: {error.strerror}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(source, [f"{where}not valid YAML ({getattr(error, 'problem', error)})"]) from None
    return parse_config(data, source)
