"""The autoscaler's configuration: one YAML file, one typed schema.

The same schema is used by the Lambda at cold start, by `cdk synth` and by
`kafka-autoscaler validate`, so a bad file fails everywhere with the same message.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Self

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from kafka_autoscaler.instances import INSTANCES

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
# The AWS APIs take counts as 32-bit integers (ECS desiredCount, MSK targetNumberOfBrokerNodes):
# https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateService.html
INT32_MAX = 2**31 - 1
# Kafka's topic name rules (org.apache.kafka.common.internals.Topic.validate): at most 249
# characters of [a-zA-Z0-9._-], and not "." or "..".
TOPIC_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")
MAX_DEPTH = 20  # nesting levels a configuration file may have; the schema itself needs 4


class ConfigError(Exception):
    """The configuration file is missing, unreadable or invalid.

    `problems` holds one line per problem: the field's path and what is allowed.
    """

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        listing = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s) in the configuration:\n{listing}")


class _AtPathError(ValueError):
    """A model-level problem that belongs to a field below the model: `path` is relative to it."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path


class _Strict(BaseModel):
    """Unknown keys are errors: a typo must not silently fall back to a default.

    Infinities and NaN are refused (`.inf` throughput would size for nothing), and so is an
    integer beyond the 32-bit range the AWS APIs take.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _int32(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > INT32_MAX:
            raise ValueError(f"{value} is beyond the 32-bit range the AWS APIs accept (at most {INT32_MAX})")
        return value


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
                raise ValueError(f"'{server.strip()}' is not host:port (the port is needed: 9098 for IAM, ...)")
            if not 1 <= int(port) <= 65535:
                raise ValueError(f"'{server.strip()}': port {port} is not from 1 to 65535")
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


class GroupType(StrEnum):
    """Which kind of Kafka group a binding scales (KIP-848 and classic groups are both "consumer")."""

    CONSUMER = "consumer"
    SHARE = "share"  # KIP-932: members share partitions, so they may outnumber them


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


def _topic_name(name: str) -> str:
    if name in {".", ".."}:
        raise ValueError(f"'{name}' is not a legal Kafka topic name")
    if not TOPIC_NAME_PATTERN.match(name):
        raise ValueError(
            f"'{name[:60]}' is not a Kafka topic name: 1 to 249 characters of letters, digits, '.', '_' and '-'"
        )
    return name


def _group_id(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    if value != value.strip():
        raise ValueError(f"'{value}' has leading or trailing whitespace; Kafka would read it as another group")
    return value


TopicName = Annotated[str, AfterValidator(_topic_name)]


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

    group_id: Annotated[str, AfterValidator(_group_id)] = Field(min_length=1)
    topics: list[TopicName] = Field(default_factory=list, description="Empty: every topic the group commits to")
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
    group_type: GroupType = Field(
        default=GroupType.CONSUMER, description="share: a KIP-932 share group, scaled with no partition cap"
    )
    external_change_hold_s: int = Field(
        default=3600, ge=0, description="How long a desired count set by someone else is respected"
    )
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


class BrokerVertical(_Strict):
    """Changing the brokers' size (MSK UpdateBrokerType) when adding brokers cannot help."""

    enabled: bool = False
    max_instance_type: str | None = Field(
        default=None, description="Largest size to grow to, e.g. kafka.m7g.4xlarge; None: the family's largest"
    )
    scale_down: bool = Field(default=False, description="Go back one size after a long low-load window")
    low_cpu_pct: float = Field(default=25.0, gt=0, lt=100, description="CPU below this counts as low load")
    window_s: int = Field(default=86400, ge=3600, description="How long load must stay low before a size down")
    cooldown_s: int = Field(default=6 * 3600, ge=0, description="Least time between two size changes")

    @field_validator("max_instance_type")
    @classmethod
    def _known_type(cls, value: str | None) -> str | None:
        if value is not None and value not in INSTANCES:
            raise ValueError(f"'{value}' is not a known MSK broker type; use one of {', '.join(sorted(INSTANCES))}")
        return value


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
    vertical: BrokerVertical = BrokerVertical()
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


class TopicSettings(_Strict):
    """What the scaler may assume about one topic."""

    name: str = Field(min_length=1)
    keyed: bool = Field(
        default=True,
        description="Producers pick partitions by key; new partitions would move keys, so none are added automatically",
    )


class PartitionPolicy(_Strict):
    """Growing a topic's partition count when it caps the consumers of a late group."""

    auto_increase: bool = Field(default=False, description="Run CreatePartitions for topics marked keyed: false")
    max: int | None = Field(default=None, ge=1, description="Most partitions a topic is grown to")
    topics: list[TopicSettings] = Field(default_factory=list, description="Unlisted topics count as keyed")

    @model_validator(mode="after")
    def _needs_max(self) -> Self:
        if self.auto_increase and self.max is None:
            raise ValueError("max is required when auto_increase is true (the most partitions a topic may grow to)")
        names = [t.name for t in self.topics]
        if len(names) != len(set(names)):
            raise ValueError("a topic is listed twice")
        return self

    def keyed(self, topic: str) -> bool:
        """Whether producers choose the topic's partitions by key; unlisted topics are assumed keyed."""
        return next((t.keyed for t in self.topics if t.name == topic), True)


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
    partitions: PartitionPolicy = PartitionPolicy()
    dry_run: bool = False
    paused: bool = False
    retry: RetryPolicy = RetryPolicy()

    @model_validator(mode="after")
    def _unique_bindings(self) -> Self:
        groups: dict[str, int] = {}
        services: dict[str, int] = {}
        for i, binding in enumerate(self.consumers):
            service = binding.ecs.resource_id
            if binding.group_id in groups:
                raise _AtPathError(
                    ("consumers", i, "group_id"),
                    f"consumer group '{binding.group_id}' is bound twice (also consumers.{groups[binding.group_id]})",
                )
            if service in services:
                raise _AtPathError(
                    ("consumers", i, "ecs"),
                    f"the same ECS service ({service}) is scaled by two bindings (also consumers.{services[service]})",
                )
            groups.setdefault(binding.group_id, i)
            services.setdefault(service, i)
        where = (self.cluster.region, self.cluster.account)
        for i, binding in enumerate(self.consumers):
            location = binding.ecs.arn_location
            if location is not None and location != where:
                raise _AtPathError(
                    ("consumers", i, "ecs"),
                    f"consumer '{binding.group_id}': the ECS ARN is in {location[0]} / {location[1]}, but the "
                    f"scaler runs in the MSK cluster's region and account ({where[0]} / {where[1]})",
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
    cause = error.get("ctx", {}).get("error")
    loc = (*error["loc"], *cause.path) if isinstance(cause, _AtPathError) else error["loc"]
    path = ".".join(str(part) for part in loc) or "(top level)"
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
    except UnicodeDecodeError as error:
        problem = f"not UTF-8 text: byte 0x{error.object[error.start]:02x} at position {error.start}"
        raise ConfigError(source, [problem]) from None
    return parse_config(load_yaml(text, source), source)


def load_yaml(text: str, source: str = "config") -> object:
    """The YAML document in `text`; a duplicate key, nesting beyond MAX_DEPTH or bad syntax is a ConfigError."""
    loader: _UniqueKeyLoader | None = None
    try:
        loader = _UniqueKeyLoader(text)  # refuses unprintable characters already
        node = loader.get_single_node()
        if node is None:
            return None
        _check_node(node, (), 0)
        return loader.construct_document(node)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(source, [f"{where}not valid YAML ({getattr(error, 'problem', error)})"]) from None
    except RecursionError:
        raise ConfigError(source, [f"(top level): nested more than {MAX_DEPTH} levels deep"]) from None
    except _NodeError as error:
        raise ConfigError(source, [str(error)]) from None
    finally:
        if loader is not None:
            loader.dispose()


# PyYAML's safe loader, on libyaml when PyYAML was built with it (the same documents, faster).
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UniqueKeyLoader(_SafeLoader):  # type: ignore[misc,valid-type]
    """The safe loader, used node by node so the document is checked before it is built."""


class _NodeError(Exception):
    """A duplicate key or too deep a nesting, with the field's path and line."""


def _check_node(node: yaml.Node, path: tuple[str | int, ...], depth: int) -> None:
    """Refuse duplicate keys (PyYAML keeps the last one silently) and nesting beyond MAX_DEPTH."""
    where = ".".join(str(p) for p in path) or "(top level)"
    if depth > MAX_DEPTH:
        raise _NodeError(f"{where}: nested more than {MAX_DEPTH} levels deep")
    for key, child in _children(node):
        if isinstance(node, yaml.MappingNode) and isinstance(key, str):
            keys = [k.value for k, _ in node.value if isinstance(k, yaml.ScalarNode)]
            if keys.count(key) > 1:
                line = next(k.start_mark.line + 1 for k, _ in reversed(node.value) if k.value == key)
                field = ".".join(str(p) for p in (*path, key))
                raise _NodeError(f"{field}: duplicate key (again at line {line}); only one value is allowed")
        _check_node(child, (*path, key), depth + 1)


def _children(node: yaml.Node) -> Iterator[tuple[str | int, yaml.Node]]:
    if isinstance(node, yaml.MappingNode):
        for key, child in node.value:
            yield (key.value if isinstance(key, yaml.ScalarNode) else "?"), child
    elif isinstance(node, yaml.SequenceNode):
        yield from enumerate(node.value)
