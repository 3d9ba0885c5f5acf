"""The ports a tick runs through in AWS, built from clients the caller creates once.

The Lambda handler builds them once per container; `kafka-autoscaler plan` builds the
read-only variant, which reads everything the scaler reads and changes nothing.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from kafka_autoscaler.act.console import ConsoleNotifier
from kafka_autoscaler.act.ecs import EcsServiceControl
from kafka_autoscaler.act.msk import MskClusterControl
from kafka_autoscaler.act.rebalancer_lambda import StepFunctionsRebalancer
from kafka_autoscaler.act.sns import SnsNotifier
from kafka_autoscaler.config import AuthMechanism, AutoscalerConfig, ClusterSettings, ConsumerBinding
from kafka_autoscaler.model import Outcome, ScalerState
from kafka_autoscaler.observe.cloudwatch import CloudWatchBrokerMetrics
from kafka_autoscaler.observe.ecs import EcsServiceReader
from kafka_autoscaler.observe.kafka_client import ScramCredentials, admin_client_for
from kafka_autoscaler.observe.kafka_lag import KafkaLagSource
from kafka_autoscaler.observe.lag_metrics import FallbackLagSource, MskLagMetrics
from kafka_autoscaler.observe.msk import MskClusterReader, aws_error_text
from kafka_autoscaler.ports import ActionError, LagObservation, Notifier, ObserveError, Ports, StateStore
from kafka_autoscaler.state.dynamodb import DynamoStateStore

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_kafka import KafkaClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_stepfunctions import SFNClient

STATE_TABLE_ENV = "STATE_TABLE_NAME"
SNS_TOPIC_ENV = "SNS_TOPIC_ARN"
REBALANCE_STATE_MACHINE_ENV = "REBALANCE_STATE_MACHINE_ARN"
# Standard retries with backoff ride out throttling; short timeouts keep a tick inside its schedule.
BOTO_CONFIG = BotoConfig(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=20)


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
    lambda_: LambdaClient
    secretsmanager: SecretsManagerClient
    stepfunctions: SFNClient | None = None

    @classmethod
    def create(cls, region: str) -> AwsClients:
        """Clients in the cluster's region (the function runs there, inside the cluster's VPC)."""
        return cls(
            ecs=boto3.client("ecs", region_name=region, config=BOTO_CONFIG),
            sns=boto3.client("sns", region_name=region, config=BOTO_CONFIG),
            dynamodb=boto3.client("dynamodb", region_name=region, config=BOTO_CONFIG),
            kafka=boto3.client("kafka", region_name=region, config=BOTO_CONFIG),
            cloudwatch=boto3.client("cloudwatch", region_name=region, config=BOTO_CONFIG),
            lambda_=boto3.client("lambda", region_name=region, config=BOTO_CONFIG),
            secretsmanager=boto3.client("secretsmanager", region_name=region, config=BOTO_CONFIG),
            stepfunctions=boto3.client("stepfunctions", region_name=region, config=BOTO_CONFIG),
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
    """Connects the Kafka admin client on first use and keeps it for warm invocations."""

    def __init__(self, cluster: ClusterSettings, secrets: SecretsManagerClient) -> None:
        self._cluster = cluster
        self._secrets = secrets
        self._admin: Any = None

    def __call__(self) -> Any:
        if self._admin is None:
            secret = self._cluster.auth.scram_secret_arn
            scram = None
            if self._cluster.auth.mechanism is AuthMechanism.SCRAM and secret:
                scram = scram_credentials(self._secrets, secret)
            self._admin = admin_client_for(self._cluster, scram)
        return self._admin


class LazyKafkaLagSource:
    """KafkaLagSource that connects at its first read, so building ports never touches Kafka.

    A connection failure raises, and FallbackLagSource then reads MSK's lag metrics instead.
    """

    def __init__(self, connect: KafkaAdminConnector) -> None:
        self._connect = connect

    def read(self, bindings: Sequence[ConsumerBinding], state: ScalerState, now: float) -> LagObservation:
        return KafkaLagSource(self._connect()).read(bindings, state, now)


class RefusingControl:
    """ClusterControl and ServiceControl that refuse every change: the read-only wiring's safety net."""

    def update_broker_count(self, current_version: str, target_count: int) -> str:
        raise ActionError("read-only: the broker count is not changed")

    def update_broker_storage(self, current_version: str, volume_gib: int) -> str:
        raise ActionError("read-only: the broker storage is not changed")

    def set_desired(self, binding: ConsumerBinding, count: int) -> str:
        raise ActionError(f"read-only: {binding.ecs.cluster}/{binding.ecs.service} is not changed")


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
    lag = FallbackLagSource(
        LazyKafkaLagSource(KafkaAdminConnector(cluster, clients.secretsmanager)),
        MskLagMetrics(clients.cloudwatch, cluster.name),
    )
    state = DynamoStateStore(clients.dynamodb, env.state_table_name, cluster.arn)
    if read_only:
        refusing = RefusingControl()
        return Ports(
            cluster=MskClusterReader(clients.kafka, cluster.arn),
            metrics=CloudWatchBrokerMetrics(clients.cloudwatch, cluster.name),
            lag=lag,
            services=EcsServiceReader(clients.ecs),
            cluster_control=refusing,
            service_control=refusing,
            rebalancer=None,
            notifier=notifier or ConsoleNotifier(sys.stdout),
            state=ReadOnlyStateStore(state),
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
        services=EcsServiceReader(clients.ecs),
        cluster_control=MskClusterControl(clients.kafka, cluster.arn),
        service_control=EcsServiceControl(clients.ecs),
        rebalancer=rebalancer,
        notifier=notifier or SnsNotifier(clients.sns, env.sns_topic_arn),
        state=state,
    )
