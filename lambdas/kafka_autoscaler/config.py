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
# ECS ARNs: cluster/NAME; service/CLUSTER/NAME (the long format) or service/NAME (the old short one).
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs-account-settings.html#ecs-resource-ids
ECS_CLUSTER_ARN_PATTERN = re.compile(
    r"^arn:aws[a-z-]*:ecs:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):cluster/(?P<name>[A-Za-z0-9_-]{1,255})$"
)
ECS_SERVICE_ARN_PATTERN = re.compile(
    r"^arn:aws[a-z-]*:ecs:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):service/"
    r"(?:(?P<cluster>[A-Za-z0-9_-]{1,255})/)?(?P<name>[A-Za-z0-9_-]{1,255})$"
)

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


class EcsManage(StrEnum):
    DESIRED_COUNT = "desired_count"  # the scaler sets desiredCount (UpdateService)
    MIN_MAX = "min_max"  # the scaler steers Application Auto Scaling's min and max capacity


class EcsService(_Strict):
    cluster: str = Field(min_length=1, description="ECS cluster name or ARN")
    service: str = Field(min_length=1, description="ECS service name or ARN")
    manage: EcsManage = Field(
        default=EcsManage.DESIRED_COUNT,
        description="desired_count: set the count; min_max: steer the Application Auto Scaling target's bounds",
    )

    @field_validator("cluster")
    @classmethod
    def _cluster_shape(cls, value: str) -> str:
        if value.startswith("arn:") and not ECS_CLUSTER_ARN_PATTERN.match(value):
            raise ValueError(f"'{value}' is not an ECS cluster ARN like arn:aws:ecs:REGION:ACCOUNT:cluster/NAME")
        return value

    @field_validator("service")
    @classmethod
    def _service_shape(cls, value: str) -> str:
        if value.startswith("arn:") and not ECS_SERVICE_ARN_PATTERN.match(value):
            raise ValueError(
                f"'{value}' is not an ECS service ARN like arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/NAME"
            )
        return value

    @model_validator(mode="after")
    def _same_cluster(self) -> Self:
        service = ECS_SERVICE_ARN_PATTERN.match(self.service)
        if service and service["cluster"] and service["cluster"] != self.cluster_name:
            raise ValueError(f"service ARN names cluster '{service['cluster']}' but cluster is '{self.cluster_name}'")
        cluster = ECS_CLUSTER_ARN_PATTERN.match(self.cluster)
        if service and cluster and (service["region"], service["account"]) != (cluster["region"], cluster["account"]):
            raise ValueError("the cluster and service ARNs name different regions or accounts")
        return self

    @property
    def cluster_name(self) -> str:
        match = ECS_CLUSTER_ARN_PATTERN.match(self.cluster)
        return match["name"] if match else self.cluster

    @property
    def service_name(self) -> str:
        match = ECS_SERVICE_ARN_PATTERN.match(self.service)
        return match["name"] if match else self.service

    @property
    def arn_location(self) -> tuple[str, str] | None:
        """(region, account) when the cluster or service is given as an ARN."""
        match = ECS_CLUSTER_ARN_PATTERN.match(self.cluster) or ECS_SERVICE_ARN_PATTERN.match(self.service)
        return (match["region"], match["account"]) if match else None

    @property
    def resource_id(self) -> str:
        """Application Auto Scaling's ResourceId of the service: service/CLUSTER/SERVICE."""
        return f"service/{self.cluster_name}/{self.service_name}"


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
    external_change_hold_s: int = Field(
        default=3600, ge=0, description="How long a desired count set by someone else is respected"
    )

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


class RetryPolicy(_Strict):
    """How a refused or failed change backs off: the first wait, doubling to the cap."""

    initial_backoff_s: int = Field(default=3600, ge=60)
    max_backoff_s: int = Field(default=24 * 3600, ge=60)

    @model_validator(mode="after")
    def _order(self) -> Self:
        if self.initial_backoff_s > self.max_backoff_s:
            raise ValueError(
                f"initial_backoff_s ({self.initial_backoff_s}) is above max_backoff_s ({self.max_backoff_s})"
            )
        return self


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
    retry: RetryPolicy = RetryPolicy()

    @model_validator(mode="after")
    def _unique_bindings(self) -> Self:
        seen: set[str] = set()
        for binding in self.consumers:
            if binding.group_id in seen:
                raise ValueError(f"consumer group '{binding.group_id}' is bound twice")
            seen.add(binding.group_id)
        services = [b.ecs.resource_id for b in self.consumers]
        if len(services) != len(set(services)):
            raise ValueError("two consumer bindings scale the same ECS service")
        where = (self.cluster.region, self.cluster.account)
        for binding in self.consumers:
            location = binding.ecs.arn_location
            if location is not None and location != where:
                raise ValueError(
                    f"consumer '{binding.group_id}': the ECS ARN is in {location[0]} / {location[1]}, but the "
                    f"scaler runs in the MSK cluster's region and account ({where[0]} / {where[1]})"
                )
        return self

    def binding(self, group_id: str) -> ConsumerBinding:
        for candidate in self.consumers:
            if candidate.group_id == group_id:
                return candidate
        raise KeyError(group_id)


def lag_metric_warnings(config: AutoscalerConfig) -> list[str]:
    """Groups MSK publishes no consumer-lag metrics for, so the CloudWatch fallback cannot see them.

    MSK leaves lag metrics out for a group whose name contains a colon, and CloudWatch drops
    dimension values that are not ASCII: https://docs.aws.amazon.com/msk/latest/developerguide/consumer-lag.html
    """
    warnings: list[str] = []
    for binding in config.consumers:
        name = binding.group_id
        if ":" in name:
            warnings.append(f"consumers.{name}: the name contains ':'; MSK publishes no lag metrics for it")
        if not name.isascii():
            warnings.append(f"consumers.{name}: the name is not ASCII; CloudWatch drops its lag metrics")
    return warnings


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
