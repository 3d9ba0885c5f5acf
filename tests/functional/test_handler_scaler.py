"""The scaler Lambda handler end to end: real ECS, SNS and DynamoDB adapters on moto.

Kafka and MSK cannot run under moto, so the PORTS_FACTORY seam swaps the cluster, broker
metrics and lag ports for in-memory fakes; everything else is the AWS wiring itself.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from builders import binding, config, group
from fakes import FakeLag, FakeWorld
from kafka_autoscaler.config import AutoscalerConfig
from kafka_autoscaler.handlers import scaler
from kafka_autoscaler.handlers.wiring import AwsClients, HandlerEnv, build_aws_ports
from kafka_autoscaler.ports import Ports
from kafka_autoscaler.state.dynamodb import DynamoStateStore
from moto import mock_aws
from moto_tables import create_state_table

REGION = "eu-west-1"  # the region of builders.CLUSTER_ARN
TABLE = "kafka-autoscaler-state"
EVENTS = Path(__file__).parent.parent / "fixtures" / "events"
TRIGGERS = ["scheduled.json", "alarm_state_change.json", "alarm_lambda_action.json", "alarm_sns.json"]


@dataclass(frozen=True)
class LambdaContext:
    function_name: str = "kafka-autoscaler-scaler"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:kafka-autoscaler-scaler"
    aws_request_id: str = "5f2b0c1e-9d7a-4c3b-8e6f-1a2b3c4d5e6f"


@dataclass
class Aws:
    ecs: Any
    sqs: Any
    queue: str
    dynamodb: Any
    topic: str
    task_root: Path
    world: FakeWorld
    failing_services: set[str]

    def write_config(self, **overrides: Any) -> None:
        values = two_bindings().model_dump(mode="json") | overrides
        (self.task_root / "autoscaler.yaml").write_text(yaml.safe_dump(values))

    def desired(self, service: str) -> int:
        found = self.ecs.describe_services(cluster="orders", services=[service])["services"][0]
        return int(found["desiredCount"])

    def notifications(self) -> list[dict[str, Any]]:
        messages = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]

    def stored(self) -> list[str]:
        return sorted(i["sk"]["S"] for i in self.dynamodb.scan(TableName=TABLE)["Items"])


def two_bindings() -> AutoscalerConfig:
    audit = binding(group_id="audit-archiver", ecs={"cluster": "orders", "service": "audit-archiver"})
    return config(
        consumers=[binding().model_dump(mode="json"), audit.model_dump(mode="json")],
        brokers={"enabled": False},
        storage={"mode": "off"},
    )


def fake_kafka(world: FakeWorld, failing: set[str]) -> Callable[[AutoscalerConfig, AwsClients, HandlerEnv], Ports]:
    """build_aws_ports, with Kafka and MSK faked and UpdateService failing for the named services."""

    def factory(cfg: AutoscalerConfig, clients: AwsClients, env: HandlerEnv) -> Ports:
        def refuse(params: dict[str, Any], **_: Any) -> Any:
            if json.loads(params["body"])["service"] in failing:
                return FailedHttp(), {"Error": {"Code": "InvalidParameterException", "Message": "refused in test"}}
            return None

        clients.ecs.meta.events.register("before-call.ecs.UpdateService", refuse)
        ports = build_aws_ports(cfg, clients, env)
        return dataclasses.replace(ports, cluster=world, metrics=world, lag=FakeLag(world), facts=None)

    return factory


@dataclass
class FailedHttp:
    status_code: int = 400
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Aws]:
    environment = {
        "MOTO_ECS_SERVICE_RUNNING": "4",
        "POWERTOOLS_TRACE_DISABLED": "1",
        "LAMBDA_TASK_ROOT": str(tmp_path),
        "AUTOSCALER_CONFIG_FILE": "autoscaler.yaml",
        "STATE_TABLE_NAME": TABLE,
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("POWERTOOLS_METRICS_NAMESPACE", raising=False)
    with mock_aws():
        ecs = boto3.client("ecs", region_name=REGION)
        ecs.create_cluster(clusterName="orders")
        ecs.register_task_definition(
            family="consumer", containerDefinitions=[{"name": "c", "image": "consumer", "memory": 256}]
        )
        for service in ("orders-processor", "audit-archiver"):
            ecs.create_service(cluster="orders", serviceName=service, taskDefinition="consumer", desiredCount=4)
        sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
        topic = sns.create_topic(Name="kafka-autoscaler-decisions")["TopicArn"]
        queue = sqs.create_queue(QueueName="decisions")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        monkeypatch.setenv("SNS_TOPIC_ARN", topic)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_state_table(dynamodb, TABLE)
        lagging = group(produce=40.0, lag=1200)  # needs 12 tasks where 4 run (see the engine tests)
        world = FakeWorld(
            cluster=None,
            services={},
            groups={
                "orders-processor": lagging,
                "audit-archiver": dataclasses.replace(lagging, group_id="audit-archiver"),
            },
        )
        failing: set[str] = set()
        monkeypatch.setattr(scaler, "PORTS_FACTORY", fake_kafka(world, failing))
        scaler.runtime.cache_clear()
        state = Aws(ecs, sqs, queue, dynamodb, topic, tmp_path, world, failing)
        state.write_config()
        yield state
        scaler.runtime.cache_clear()


def invoke(name: str | dict[str, Any]) -> dict[str, Any]:
    event = json.loads((EVENTS / name).read_text()) if isinstance(name, str) else name
    result: dict[str, Any] = scaler.handler(event, LambdaContext())
    return result


def emf(stdout: str) -> list[dict[str, Any]]:
    blobs = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return [b for b in blobs if "_aws" in b]


@pytest.mark.parametrize("trigger", TRIGGERS)
def test_each_trigger_runs_one_tick_that_scales_notifies_and_records(aws: Aws, trigger: str) -> None:
    response = invoke(trigger)

    assert response["status"] == "ran"
    assert [(d["key"], d["current"], d["desired"], d["status"]) for d in response["decisions"]] == [
        ("consumer:orders-processor", 4, 12, "applied"),
        ("consumer:audit-archiver", 4, 12, "applied"),
    ]
    assert aws.desired("orders-processor") == 12 and aws.desired("audit-archiver") == 12
    [notification] = aws.notifications()
    assert "consumer:orders-processor 4->12" in notification["Subject"]
    # The lease is released; the first tick also stores the forecaster's rate history apart.
    assert [key.partition("#")[0] for key in aws.stored()] == ["log", "log", "rates", "state"]
    assert DynamoStateStore(aws.dynamodb, TABLE, two_bindings().cluster.arn).load().version == 2  # intent, record


def test_a_failed_update_of_one_service_does_not_stop_the_other(aws: Aws) -> None:
    aws.failing_services.add("audit-archiver")

    response = invoke("scheduled.json")

    statuses = {d["key"]: (d["status"], d["detail"]) for d in response["decisions"]}
    assert statuses["consumer:orders-processor"] == ("applied", "orders/orders-processor desiredCount=12")
    assert statuses["consumer:audit-archiver"][0] == "failed"
    assert "InvalidParameterException" in statuses["consumer:audit-archiver"][1]
    assert aws.desired("orders-processor") == 12 and aws.desired("audit-archiver") == 4
    [notification] = aws.notifications()
    assert notification["Subject"].endswith("1 action(s) failed")


@pytest.mark.parametrize(
    ("flag", "status", "words"),
    [("dry_run", "skipped_dry_run", "dry run, not applied"), ("paused", "skipped_paused", "paused, not applied")],
)
def test_dry_run_and_paused_notify_but_leave_ecs_alone(aws: Aws, flag: str, status: str, words: str) -> None:
    aws.write_config(**{flag: True})

    response = invoke("scheduled.json")

    assert [d["status"] for d in response["decisions"]] == [status, status]
    assert aws.desired("orders-processor") == 4 and aws.desired("audit-archiver") == 4
    [notification] = aws.notifications()
    assert words in notification["Message"]
    assert "state" in aws.stored()


def test_a_held_lease_makes_the_second_invocation_skip(aws: Aws) -> None:
    cluster_arn = two_bindings().cluster.arn
    assert DynamoStateStore(aws.dynamodb, TABLE, cluster_arn).acquire_lease("other-request", 4e9, 300)

    response = invoke("scheduled.json")

    assert response == {
        "status": "skipped",
        "trigger": response["trigger"],
        "reason": "another invocation holds the lease",
    }
    assert aws.desired("orders-processor") == 4
    assert aws.notifications() == [] and aws.stored() == ["lease"]


def test_a_state_saved_meanwhile_by_another_invocation_refuses_this_record(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    factory = scaler.PORTS_FACTORY

    def racing(cfg: AutoscalerConfig, clients: AwsClients, env: HandlerEnv) -> Ports:
        ports = factory(cfg, clients, env)
        other = DynamoStateStore(clients.dynamodb, env.state_table_name, cfg.cluster.arn)

        class Racing(DynamoStateStore):
            def load(self) -> Any:
                loaded = super().load()
                other.save(other.load(), [], 1.0)  # another invocation records first
                return loaded

        return dataclasses.replace(ports, state=Racing(clients.dynamodb, env.state_table_name, cfg.cluster.arn))

    monkeypatch.setattr(scaler, "PORTS_FACTORY", racing)
    response = invoke("scheduled.json")
    assert response["status"] == "conflict"
    assert "saved by another invocation" in response["reason"]
    assert "lease" not in aws.stored()  # released all the same


def test_metrics_are_emitted_as_emf_with_one_dimension_each(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    aws.world.groups["orders-processor"] = dataclasses.replace(
        aws.world.groups["orders-processor"], max_time_lag_s=95.0
    )
    invoke("scheduled.json")
    blobs = emf(capsys.readouterr().out)

    def metric(name: str, dimension: str, value: str) -> Any:
        for blob in blobs:
            [directive] = blob["_aws"]["CloudWatchMetrics"]
            if blob.get(dimension) == value and name in [m["Name"] for m in directive["Metrics"]]:
                assert directive["Namespace"] == "KafkaAutoscaler"
                assert directive["Dimensions"] == [[dimension]]
                return blob[name]
        raise AssertionError(f"no {name} for {dimension}={value} in {blobs}")

    assert metric("Decisions", "Action", "scale_out") == [2.0]
    assert metric("DesiredTasks", "ConsumerGroup", "audit-archiver") == [12.0]
    assert metric("RunningTasks", "ConsumerGroup", "audit-archiver") == [4.0]  # as ECS reports, before the change
    assert metric("TotalLag", "ConsumerGroup", "orders-processor") == [12 * 1200]
    assert metric("MaxTimeLagSeconds", "ConsumerGroup", "orders-processor") == [95.0]


@pytest.mark.parametrize("event", ["unknown_s3_put.json", "unknown_custom.json"])
def test_an_unknown_event_is_ignored_without_a_tick(aws: Aws, event: str) -> None:
    response = invoke(event)
    assert response["status"] == "ignored" and response["reason"]
    assert aws.stored() == [] and aws.notifications() == [] and aws.desired("orders-processor") == 4


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ("malformed_sns_not_json.json", "the SNS message is not JSON"),
        ("malformed_alarm_no_state.json", "has no 'state.value'"),
    ],
)
def test_a_malformed_event_returns_a_clear_error_and_does_nothing(aws: Aws, event: str, reason: str) -> None:
    response = invoke(event)
    assert response["status"] == "error"
    assert response["reason"].startswith("malformed event: ") and reason in response["reason"]
    assert aws.stored() == [] and aws.notifications() == [] and aws.desired("orders-processor") == 4
