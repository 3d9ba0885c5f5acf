"""`kafka-autoscaler doctor FILE [--json]`: a preflight of a configuration against the real account.

For people about to deploy, or wondering why nothing scales. With the caller's own credentials it
checks, one named step at a time: the cluster is reachable and ACTIVE, its broker type is one the
autoscaler knows, its monitoring level publishes every metric the autoscaler reads, MSK's lag
metrics exist for each consumer group (and why not), the ECS services exist, Kafka answers with the
configured authentication from where the command runs, and the deployed stack's alarms and SNS
subscriptions are in place. Each check says OK, WARN or FAIL and, when not OK, the fix. Exit 1 on any
FAIL, 2 on an invalid configuration.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.table import Table

from kafka_autoscaler.cli.config_file import EXIT_INVALID, read_config
from kafka_autoscaler.config import AutoscalerConfig, StorageMode
from kafka_autoscaler.handlers.wiring import BOTO_CONFIG, KafkaAdminConnector
from kafka_autoscaler.instances import INSTANCES, instance
from kafka_autoscaler.observe.msk import aws_error_text

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_kafka import KafkaClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sns import SNSClient

EXIT_FAIL = 1
# MSK's monitoring levels, lowest first; each publishes the metrics of the levels before it
# (https://docs.aws.amazon.com/msk/latest/developerguide/metrics-details.html).
LEVELS: Final = ("DEFAULT", "PER_BROKER", "PER_TOPIC_PER_BROKER", "PER_TOPIC_PER_PARTITION")
# The level from which MSK publishes each metric the autoscaler reads, with the dimensions it reads
# them by (same page): broker metrics per "Cluster Name", "Broker ID"; lag per "Consumer Group", "Topic".
METRIC_LEVEL: Final = {
    "CpuUser": "DEFAULT",
    "CpuSystem": "DEFAULT",
    "CpuIdle": "DEFAULT",
    "KafkaDataLogsDiskUsed": "DEFAULT",
    "BytesInPerSec": "DEFAULT",
    "BytesOutPerSec": "DEFAULT",
    "PartitionCount": "DEFAULT",
    "EstimatedMaxTimeLag": "DEFAULT",
    "MaxOffsetLag": "DEFAULT",
    "SumOffsetLag": "DEFAULT",
}
BROKER_METRICS: Final = ("CpuUser", "CpuSystem", "BytesInPerSec", "BytesOutPerSec", "PartitionCount")
LAG_METRICS: Final = ("EstimatedMaxTimeLag", "MaxOffsetLag", "SumOffsetLag")
CONSUMER_LAG_DOC: Final = "https://docs.aws.amazon.com/msk/latest/developerguide/consumer-lag.html"


class Status(StrEnum):
    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class DoctorClients:
    kafka: KafkaClient
    cloudwatch: CloudWatchClient
    ecs: ECSClient
    sns: SNSClient
    secretsmanager: SecretsManagerClient

    @classmethod
    def create(cls, region: str) -> DoctorClients:
        def client(name: str) -> Any:
            return boto3.client(name, region_name=region, config=BOTO_CONFIG)  # type: ignore[call-overload]

        return cls(client("kafka"), client("cloudwatch"), client("ecs"), client("sns"), client("secretsmanager"))


@dataclass(frozen=True)
class Doctor:
    """The checks of one configuration. `connect` returns a Kafka admin client (or raises)."""

    config: AutoscalerConfig
    clients: DoctorClients
    connect: Callable[[], Any]
    stack_name: str

    def checks(self) -> list[tuple[str, Callable[[], list[Check]]]]:
        """(what it looks at, the step) in order; a step returns one check or more."""
        return [
            ("the MSK cluster", self.cluster),
            ("MSK's consumer-lag metrics", self.lag_metrics),
            ("the ECS services", self.services),
            ("Kafka", self.kafka),
            ("the deployed stack's alarms and subscriptions", self.stack),
        ]

    def cluster(self) -> list[Check]:
        """Reachable and ACTIVE; a broker type the autoscaler knows; enough monitoring for its metrics."""
        arn = self.config.cluster.arn
        try:
            info = self.clients.kafka.describe_cluster_v2(ClusterArn=arn)["ClusterInfo"]
        except (BotoCoreError, ClientError) as error:
            fix = "check the cluster ARN, the region and that your credentials allow kafka:DescribeClusterV2"
            return [Check("cluster reachable", Status.FAIL, f"DescribeClusterV2 failed: {aws_error_text(error)}", fix)]
        state = info.get("State", "?")
        found = [
            Check("cluster reachable", Status.OK, f"{info.get('ClusterName')} ({info.get('ClusterType')})"),
            cluster_state_check(state),
        ]
        provisioned = info.get("Provisioned")
        if provisioned is None:
            fix = "the autoscaler scales MSK provisioned clusters; serverless clusters scale themselves"
            return [*found, Check("broker type", Status.FAIL, "a serverless cluster has no brokers to scale", fix)]
        found.append(broker_type_check(provisioned["BrokerNodeGroupInfo"]["InstanceType"]))
        found.append(monitoring_check(self.config, provisioned.get("EnhancedMonitoring", "DEFAULT")))
        return found

    def lag_metrics(self) -> list[Check]:
        """Per group: are MSK's lag metrics there (the fallback when Kafka cannot be read), and why not."""
        found = []
        for binding in self.config.consumers:
            group = binding.group_id
            why = unpublishable_group(group)
            if why is not None:
                found.append(Check(f"lag metrics of {group}", Status.WARN, why, f"see {CONSUMER_LAG_DOC}"))
                continue
            try:
                metrics = self.clients.cloudwatch.list_metrics(
                    Namespace="AWS/Kafka",
                    MetricName="SumOffsetLag",
                    Dimensions=[
                        {"Name": "Cluster Name", "Value": self.config.cluster.name},
                        {"Name": "Consumer Group", "Value": group},
                    ],
                )["Metrics"]
            except (BotoCoreError, ClientError) as error:
                found.append(
                    Check(f"lag metrics of {group}", Status.WARN, f"ListMetrics failed: {aws_error_text(error)}")
                )
                continue
            if metrics:
                topics = sorted({d["Value"] for m in metrics for d in m.get("Dimensions", []) if d["Name"] == "Topic"})
                found.append(Check(f"lag metrics of {group}", Status.OK, f"published for topics {', '.join(topics)}"))
            else:
                found.append(
                    Check(
                        f"lag metrics of {group}",
                        Status.WARN,
                        "none published: MSK emits them only for a group in the STABLE or EMPTY state with "
                        "committed offsets",
                        f"start the group's consumers and let them commit; see {CONSUMER_LAG_DOC}",
                    )
                )
        return found

    def services(self) -> list[Check]:
        """Every bound ECS service exists and is ACTIVE."""
        by_cluster: dict[str, list[str]] = {}
        for binding in self.config.consumers:
            by_cluster.setdefault(binding.ecs.cluster, []).append(binding.ecs.service)
        found = []
        for cluster, services in by_cluster.items():
            for start in range(0, len(services), 10):  # DescribeServices takes at most 10 services
                batch = services[start : start + 10]
                try:
                    described = self.clients.ecs.describe_services(cluster=cluster, services=batch)
                except (BotoCoreError, ClientError) as error:
                    detail = f"DescribeServices in {cluster} failed: {aws_error_text(error)}"
                    found += [Check(f"ECS service {cluster}/{s}", Status.FAIL, detail) for s in batch]
                    continue
                status = {s["serviceName"]: s.get("status", "?") for s in described["services"]}
                for service in batch:
                    name = f"ECS service {cluster}/{service}"
                    if status.get(service) == "ACTIVE":
                        found.append(Check(name, Status.OK, "ACTIVE"))
                    else:
                        seen = status.get(service, "not found")
                        fix = "check consumers[].ecs.cluster and .service against the ECS console"
                        found.append(Check(name, Status.FAIL, seen, fix))
        return found

    def kafka(self) -> list[Check]:
        """Kafka answers with the configured authentication, from where this runs."""
        auth = self.config.cluster.auth.mechanism.value
        try:
            brokers = self.connect().describe_cluster()["brokers"]
        except Exception as error:
            fix = (
                "run where the functions run (the cluster's VPC: cluster.network) or open the security groups "
                "to this host; check cluster.bootstrap_servers and cluster.auth"
            )
            return [Check("Kafka reachable", Status.FAIL, f"{auth}: {type(error).__name__}: {error}", fix)]
        return [Check("Kafka reachable", Status.OK, f"{auth}: {len(brokers)} brokers answer")]

    def stack(self) -> list[Check]:
        """The deployed stack's alarms exist and notify, and the topic has confirmed subscriptions."""
        prefix = f"{self.stack_name}/"
        try:
            alarms = self.clients.cloudwatch.describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"]
        except (BotoCoreError, ClientError) as error:
            return [Check("stack alarms", Status.WARN, f"DescribeAlarms failed: {aws_error_text(error)}")]
        if not alarms:
            fix = f"deploy it: cdk deploy -c config=FILE (stack {self.stack_name})"
            return [Check("stack alarms", Status.WARN, f"no alarm named {prefix}...: the stack is not deployed", fix)]
        silent = [a["AlarmName"] for a in alarms if not a.get("AlarmActions")]
        firing = [a["AlarmName"] for a in alarms if a.get("StateValue") == "ALARM"]
        if silent:
            found = [Check("stack alarms", Status.FAIL, f"alarms without an action: {silent}", "redeploy the stack")]
        else:
            found = [Check("stack alarms", Status.OK, f"{len(alarms)} alarms; in ALARM: {', '.join(firing) or 'none'}")]
        topic = self.config.notifications.sns_topic_arn or next(
            (a for alarm in alarms for a in alarm.get("AlarmActions", []) if ":sns:" in a), None
        )
        if topic is None:
            return [*found, Check("SNS subscriptions", Status.WARN, "no topic found in the alarms' actions")]
        return [*found, subscriptions_check(self.clients.sns, topic)]


def cluster_state_check(state: str) -> Check:
    if state == "ACTIVE":
        return Check("cluster ACTIVE", Status.OK, state)
    if state in ("UPDATING", "MAINTENANCE", "REBOOTING_BROKER", "HEALING"):
        return Check("cluster ACTIVE", Status.WARN, f"{state}: nothing is scaled until it is ACTIVE again")
    return Check("cluster ACTIVE", Status.FAIL, state, "the autoscaler acts only on an ACTIVE cluster")


def broker_type_check(instance_type: str) -> Check:
    known = instance(instance_type)
    if known is None:
        families = sorted({i.family for i in INSTANCES.values()})
        fix = f"the autoscaler knows the broker families {', '.join(families)}"
        return Check("broker type", Status.FAIL, f"{instance_type} is not in the broker table", fix)
    if known.express:
        return Check("broker type", Status.WARN, f"{instance_type}: Express brokers have no EBS volumes to grow")
    return Check("broker type", Status.OK, f"{instance_type}: {known.recommended_partitions} partitions per broker")


def metrics_used(config: AutoscalerConfig) -> list[str]:
    """The MSK metrics the configuration makes the scaler, its alarms or the rebalancer read."""
    used = list(BROKER_METRICS)
    if config.brokers.enabled:
        used.append("CpuIdle")  # the broker CPU alarm
    if config.storage.mode is StorageMode.SCALER:
        used.append("KafkaDataLogsDiskUsed")
    if config.consumers:
        used += LAG_METRICS
    return used


def monitoring_check(config: AutoscalerConfig, level: str) -> Check:
    if level not in LEVELS:
        return Check("monitoring level", Status.WARN, f"unknown level {level}")
    short = [m for m in metrics_used(config) if LEVELS.index(METRIC_LEVEL[m]) > LEVELS.index(level)]
    if short:
        needed = max((METRIC_LEVEL[m] for m in short), key=LEVELS.index)
        return Check("monitoring level", Status.FAIL, f"{level} does not publish {short}", f"set it to {needed}")
    return Check("monitoring level", Status.OK, f"{level} publishes all {len(metrics_used(config))} metrics used")


def unpublishable_group(group: str) -> str | None:
    """Why MSK never publishes lag metrics for this group name, or None (MSK consumer-lag docs)."""
    if ":" in group:
        return "the name holds ':' and MSK never publishes lag metrics for such a group; the scaler reads Kafka"
    if not group.isascii():
        return "the name holds non-ASCII characters, which CloudWatch dimensions cannot carry: MSK drops its metrics"
    return None


def subscriptions_check(sns: SNSClient, topic: str) -> Check:
    try:
        listed = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    except (BotoCoreError, ClientError) as error:
        return Check("SNS subscriptions", Status.WARN, f"ListSubscriptionsByTopic failed: {aws_error_text(error)}")
    pending = [s["Endpoint"] for s in listed if s.get("SubscriptionArn") == "PendingConfirmation"]
    confirmed = [s["Endpoint"] for s in listed if s.get("SubscriptionArn") != "PendingConfirmation"]
    if pending:
        return Check("SNS subscriptions", Status.WARN, f"not confirmed: {pending}", "open SNS's confirmation mail")
    if not confirmed:
        return Check("SNS subscriptions", Status.WARN, f"{topic} has no subscription", "add notifications.emails")
    return Check("SNS subscriptions", Status.OK, f"{len(confirmed)} confirmed")


def run_checks(doctor: Doctor, console: Console | None) -> list[Check]:
    """Every step in order, with a spinner naming it on `console` (None: quiet)."""
    results: list[Check] = []
    for what, step in doctor.checks():
        if console is None:
            results += step()
            continue
        with console.status(f"checking {what}..."):
            results += step()
    return results


def render(results: Sequence[Check], console: Console) -> None:
    table = Table(title="kafka-autoscaler doctor")
    for column in ("check", "status", "detail", "fix"):
        table.add_column(column)
    colour = {Status.OK: "green", Status.WARN: "yellow", Status.FAIL: "red"}
    for check in results:
        table.add_row(check.name, f"[{colour[check.status]}]{check.status}[/]", check.detail, check.fix)
    console.print(table)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("doctor", help="preflight: check a configuration against the real account")
    parser.add_argument("file", help="the YAML configuration file")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--stack-name", help="the deployed stack (default KafkaAutoscaler-<cluster name>)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    config = read_config(args.file)
    if config is None:
        return EXIT_INVALID
    clients = DoctorClients.create(config.cluster.region)
    doctor = Doctor(
        config,
        clients,
        KafkaAdminConnector(config.cluster, clients.secretsmanager),
        args.stack_name or f"KafkaAutoscaler-{config.cluster.name}",
    )
    console = None if args.json else Console()
    results = run_checks(doctor, console)
    if args.json:
        print(json.dumps({"checks": [asdict(c) for c in results]}, indent=2))
    else:
        assert console is not None
        render(results, console)
    return EXIT_FAIL if any(c.status is Status.FAIL for c in results) else 0
