"""The ports a tick runs through in AWS, built from clients the caller creates once.

The Lambda handler builds them once per container; `kafka-autoscaler plan` builds the
read-only variant, which reads everything the scaler reads and changes nothing.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from kafka_autoscaler.act.autoscaling import AppAutoScalingControl
from kafka_autoscaler.act.console import ConsoleNotifier
from kafka_autoscaler.act.ecs import EcsServiceControl
from kafka_autoscaler.act.msk import MskClusterControl
from kafka_autoscaler.act.partitions import KafkaPartitionControl
from kafka_autoscaler.act.rebalancer_lambda import StepFunctionsRebalancer
from kafka_autoscaler.act.sns import SnsNotifier
from kafka_autoscaler.advice.facts import ClusterFacts
from kafka_autoscaler.advice.reader import KafkaFactsReader
from kafka_autoscaler.config import AuthMechanism, AutoscalerConfig, ClusterSettings, ConsumerBinding
from kafka_autoscaler.model import Outcome, ScalerState
from kafka_autoscaler.observe.cloudwatch import CloudWatchBrokerMetrics
from kafka_autoscaler.observe.ecs import EcsServiceReader
from kafka_autoscaler.observe.kafka_client import ScramCredentials, admin_client_for
from kafka_autoscaler.observe.kafka_lag import KafkaLagSource
from kafka_autoscaler.observe.kafka_replicas import KafkaReplicaReader
from kafka_autoscaler.observe.lag_metrics import FallbackLagSource, MskLagMetrics
from kafka_autoscaler.observe.msk import MskClusterReader, aws_error_text
from kafka_autoscaler.ports import ActionError, LagObservation, Notifier, ObserveError, Ports, StateStore
from kafka_autoscaler.state.dynamodb import DynamoStateStore

if TYPE_CHECKING:
    from botocore.client import BaseClient
    from botocore.model import OperationModel
    from mypy_boto3_application_autoscaling import ApplicationAutoScalingClient
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_kafka import KafkaClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_stepfunctions import SFNClient

STATE_TABLE_ENV = "STATE_TABLE_NAME"
SNS_TOPIC_ENV = "SNS_TOPIC_ARN"
REBALANCE_STATE_MACHINE_ENV = "REBALANCE_STATE_MACHINE_ARN"
# A Kafka connection that failed is tried again after this long (about one scheduled tick).
RECONNECT_AFTER_S = 30.0
# Time budgets (the scaler function times out after 60 s, engine.FUNCTION_TIMEOUT_S). One call
# takes at most 2 attempts x (2 s connect + 4 s read) + under 1 s of standard-mode backoff = 13 s;
# against an endpoint that accepts and never answers, 2 x 4 s + 1 s = 9 s.
CONNECT_TIMEOUT_S = 2.0
READ_TIMEOUT_S = 4.0
ATTEMPTS = 2
BOTO_CONFIG = BotoConfig(
    retries={"mode": "standard", "total_max_attempts": ATTEMPTS},
    connect_timeout=CONNECT_TIMEOUT_S,
    read_timeout=READ_TIMEOUT_S,
)
# MSK changes are sent once: a retry after a lost reply would be refused against the new
# CurrentVersion and hide that the first request worked (act/msk.py reads it back instead).
MSK_CHANGE_CONFIG = BOTO_CONFIG.merge(BotoConfig(retries={"mode": "standard", "total_max_attempts": 1}))
# No read starts with less than this left of the invocation: the read in flight (13 s), the
# writes of the tick (one SNS publish or rebalancer invoke against a slow endpoint, 13 s) and
# the record fit in what remains.
READ_RESERVE_S = 35.0
READ_PREFIXES = ("Describe", "List", "Get")


class CallBudgetExceededError(BotoCoreError):
    """The invocation has too little time left to start another read."""

    fmt = "not started: {operation} would not end inside the function timeout"


@dataclass
class CallBudget:
    """Refuses AWS reads past a deadline, so a slow endpoint cannot push a tick past its timeout.

    Writes are not refused: each follows a read of the same service that already succeeded,
    and each is bounded by BOTO_CONFIG. Adapters see a refusal as any other client error:
    missing data, held and told.
    """

    clock: Callable[[], float] = time.monotonic
    deadline: float = math.inf

    def start(self, remaining_s: float) -> None:
        """A new invocation with `remaining_s` before its timeout."""
        self.deadline = self.clock() + remaining_s - READ_RESERVE_S

    def check(self, model: OperationModel, **_: Any) -> None:
        if model.name.startswith(READ_PREFIXES) and self.clock() > self.deadline:
            raise CallBudgetExceededError(operation=model.name)

    def attach(self, client: BaseClient) -> None:
        client.meta.events.register("before-call.*.*", self.check)


class HandlerEnvError(Exception):
    """A required environment variable of the function is missing or empty."""


@dataclass(frozen=True)
class HandlerEnv:
    """The function's environment, as the stack sets it."""

    state_table_name: str
    sns_topic_arn: str
    rebalance_state_machine_arn: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> HandlerEnv:
        missing = [name for name in (STATE_TABLE_ENV, SNS_TOPIC_ENV) if not environ.get(name)]
        if missing:
            raise HandlerEnvError(f"environment variable(s) not set: {', '.join(missing)}")
        return cls(
            environ[STATE_TABLE_ENV],
            environ[SNS_TOPIC_ENV],
            environ.get(REBALANCE_STATE_MACHINE_ENV) or None,
        )


@dataclass(frozen=True)
class AwsClients:
    ecs: ECSClient
    sns: SNSClient
    dynamodb: DynamoDBClient
    kafka: KafkaClient
    cloudwatch: CloudWatchClient
    secretsmanager: SecretsManagerClient
    autoscaling: ApplicationAutoScalingClient | None = None
    kafka_changes: KafkaClient | None = None  # MSK changes, sent without retries; None: `kafka`
    budget: CallBudget = field(default_factory=CallBudget)
    stepfunctions: SFNClient | None = None

    @classmethod
    def create(cls, region: str, budget: CallBudget | None = None) -> AwsClients:
        """Clients in the cluster's region (the function runs there, inside the cluster's VPC).

        Every client but DynamoDB's (the state store, needed to the end) answers to `budget`.
        """
        budget = budget or CallBudget()

        def client(service: Any, config: BotoConfig = BOTO_CONFIG) -> Any:
            made = boto3.client(service, region_name=region, config=config)
            if service != "dynamodb":
                budget.attach(made)
            return made

        return cls(
            ecs=client("ecs"),
            sns=client("sns"),
            dynamodb=client("dynamodb"),
            kafka=client("kafka"),
            cloudwatch=client("cloudwatch"),
            secretsmanager=client("secretsmanager"),
            autoscaling=client("application-autoscaling"),
            kafka_changes=client("kafka", MSK_CHANGE_CONFIG),
            stepfunctions=client("stepfunctions"),
            budget=budget,
        )


def scram_credentials(secrets: SecretsManagerClient, secret_arn: str) -> ScramCredentials:
    """The SCRAM user in an MSK secret ({"username": ..., "password": ...})."""
    try:
        text = secrets.get_secret_value(SecretId=secret_arn).get("SecretString", "")
    except (BotoCoreError, ClientError) as error:
        raise ObserveError(f"SCRAM secret {secret_arn} could not be read: {aws_error_text(error)}") from error
    try:
        values = json.loads(text)
        return ScramCredentials(str(values["username"]), str(values["password"]))
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ObserveError(f"SCRAM secret {secret_arn} is not JSON with 'username' and 'password'") from error


class KafkaAdminConnector:
    """Connects the Kafka admin client on first use and keeps it for warm invocations.

    A failed connection is not tried again for RECONNECT_AFTER_S: the lag source and the
    advisor share the connector, and one tick must not wait twice for brokers that do not answer.
    """

    def __init__(self, cluster: ClusterSettings, secrets: SecretsManagerClient) -> None:
        self._cluster = cluster
        self._secrets = secrets
        self._admin: Any = None
        self._failure: tuple[float, Exception] | None = None

    def __call__(self) -> Any:
        if self._admin is None:
            if self._failure is not None and time.monotonic() - self._failure[0] < RECONNECT_AFTER_S:
                raise self._failure[1]
            secret = self._cluster.auth.scram_secret_arn
            scram = None
            if self._cluster.auth.mechanism is AuthMechanism.SCRAM and secret:
                scram = scram_credentials(self._secrets, secret)
            try:
                self._admin = admin_client_for(self._cluster, scram)
            except Exception as error:
                self._failure = (time.monotonic(), error)
                raise
        return self._admin


class LazyKafkaLagSource:
    """KafkaLagSource that connects at its first read, so building ports never touches Kafka.

    A connection failure raises, and FallbackLagSource then reads MSK's lag metrics instead.
    """

    def __init__(self, connect: KafkaAdminConnector) -> None:
        self._connect = connect

    def read(self, bindings: Sequence[ConsumerBinding], state: ScalerState, now: float) -> LagObservation:
        return KafkaLagSource(self._connect()).read(bindings, state, now)


class LazyFactsReader:
    """KafkaFactsReader that connects at its first read, through the same connector as the lag source."""

    def __init__(self, connect: KafkaAdminConnector) -> None:
        self._connect = connect

    def read(self, group_ids: Sequence[str] | None) -> ClusterFacts:
        return KafkaFactsReader(self._connect()).read(group_ids)


class LazyPartitionControl:
    """KafkaPartitionControl that connects when a partition count is first changed."""

    def __init__(self, connect: KafkaAdminConnector) -> None:
        self._connect = connect

    def create_partitions(self, topic: str, total_count: int) -> str:
        return KafkaPartitionControl(self._connect()).create_partitions(topic, total_count)


class RefusingControl:
    """ClusterControl and ServiceControl that refuse every change: the read-only wiring's safety net."""

    def update_broker_count(self, current_version: str, target_count: int) -> str:
        raise ActionError("read-only: the broker count is not changed")

    def update_broker_storage(self, current_version: str, volume_gib: int) -> str:
        raise ActionError("read-only: the broker storage is not changed")

    def update_broker_type(self, current_version: str, instance_type: str) -> str:
        raise ActionError("read-only: the broker size is not changed")

    def set_desired(self, binding: ConsumerBinding, count: int) -> str:
        raise ActionError(f"read-only: {binding.ecs.resource_id} is not changed")

    def set_bounds(self, binding: ConsumerBinding, min_capacity: int, max_capacity: int) -> str:
        raise ActionError(f"read-only: the scalable target of {binding.ecs.resource_id} is not changed")


class ReadOnlyStateStore:
    """Loads the stored state; takes no lease and saves nothing, so a running scaler is not disturbed."""

    def __init__(self, inner: StateStore) -> None:
        self._inner = inner

    def acquire_lease(self, owner: str, now: float, ttl_s: float) -> bool:
        return True

    def release_lease(self, owner: str) -> None:
        return None

    def load(self) -> ScalerState:
        return self._inner.load()

    def save(self, state: ScalerState, outcomes: Sequence[Outcome], now: float) -> None:
        return None


def build_aws_ports(
    config: AutoscalerConfig,
    clients: AwsClients,
    env: HandlerEnv,
    *,
    read_only: bool = False,
    notifier: Notifier | None = None,
) -> Ports:
    """The AWS adapters for `config`.

    `read_only`: changes are refused, no lease is taken, nothing is saved, and reports go to
    `notifier` or standard output instead of SNS. `notifier` otherwise replaces SNS.
    """
    cluster = config.cluster
    connector = KafkaAdminConnector(cluster, clients.secretsmanager)
    lag = FallbackLagSource(LazyKafkaLagSource(connector), MskLagMetrics(clients.cloudwatch, cluster.name))
    state = DynamoStateStore(clients.dynamodb, env.state_table_name, cluster.arn)
    services = EcsServiceReader(clients.ecs, clients.autoscaling)
    replicas = KafkaReplicaReader(connector)
    if read_only:
        refusing = RefusingControl()
        return Ports(
            cluster=MskClusterReader(clients.kafka, cluster.arn),
            metrics=CloudWatchBrokerMetrics(clients.cloudwatch, cluster.name),
            lag=lag,
            services=services,
            cluster_control=refusing,
            service_control=refusing,
            rebalancer=None,
            notifier=notifier or ConsoleNotifier(sys.stdout),
            state=ReadOnlyStateStore(state),
            facts=LazyFactsReader(connector),
            capacity=refusing,
            replicas=replicas,
        )
    state_machine = env.rebalance_state_machine_arn
    rebalancer = (
        StepFunctionsRebalancer(clients.stepfunctions, state_machine)
        if state_machine and clients.stepfunctions is not None
        else None
    )
    return Ports(
        cluster=MskClusterReader(clients.kafka, cluster.arn),
        metrics=CloudWatchBrokerMetrics(clients.cloudwatch, cluster.name),
        lag=lag,
        services=services,
        cluster_control=MskClusterControl(clients.kafka_changes or clients.kafka, cluster.arn),
        service_control=EcsServiceControl(clients.ecs),
        rebalancer=rebalancer,
        notifier=notifier or SnsNotifier(clients.sns, env.sns_topic_arn),
        state=state,
        partitions=LazyPartitionControl(connector) if config.partitions.auto_increase else None,
        facts=LazyFactsReader(connector),
        capacity=AppAutoScalingControl(clients.autoscaling) if clients.autoscaling else None,
        replicas=replicas,
    )
