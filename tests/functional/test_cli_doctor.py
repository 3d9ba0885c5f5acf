"""`kafka-autoscaler doctor`: each check against moto (CloudWatch, ECS, SNS) and botocore's Stubber for
MSK (moto has no DescribeClusterV2 with the provisioned details the checks read)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import kafka_autoscaler.cli.doctor as doctor_module
import pytest
import yaml
from botocore.stub import Stubber
from builders import CLUSTER_ARN, binding, config
from kafka_autoscaler.cli import main
from kafka_autoscaler.cli.doctor import (
    Check,
    Doctor,
    DoctorClients,
    Status,
    run_checks,
    subscriptions_check,
    unpublishable_group,
)
from moto import mock_aws
from test_aws_msk import cluster_info

STACK = "KafkaAutoscaler-orders"


class FakeAdmin:
    def describe_cluster(self) -> dict[str, Any]:
        return {"brokers": [{"broker_id": b} for b in (1, 2, 3)]}


def unreachable() -> Any:
    raise ConnectionRefusedError("[Errno 111] Connection refused")


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        clients = {n: boto3.client(n, region_name="eu-west-1") for n in ("cloudwatch", "ecs", "sns", "secretsmanager")}
        kafka = boto3.client("kafka", region_name="eu-west-1")
        with Stubber(kafka) as stub:
            clients["kafka"], clients["stub"] = kafka, stub
            yield clients


def deploy(aws: dict[str, Any], *, services: tuple[str, ...] = ("orders-processor",)) -> None:
    """What a deployment and running consumers leave behind: services, lag metrics, alarms, a topic."""
    ecs = aws["ecs"]
    ecs.create_cluster(clusterName="orders")
    for service in services:
        ecs.create_service(cluster="orders", serviceName=service, desiredCount=1)
    aws["cloudwatch"].put_metric_data(
        Namespace="AWS/Kafka",
        MetricData=[
            {
                "MetricName": "SumOffsetLag",
                "Dimensions": [
                    {"Name": "Consumer Group", "Value": "orders-processor"},
                    {"Name": "Topic", "Value": "orders"},
                    {"Name": "Cluster Name", "Value": "orders"},
                ],
                "Value": 12.0,
            }
        ],
    )
    topic = aws["sns"].create_topic(Name="decisions")["TopicArn"]
    aws["sns"].subscribe(TopicArn=topic, Protocol="sqs", Endpoint="arn:aws:sqs:eu-west-1:123456789012:ops")
    aws["cloudwatch"].put_metric_alarm(
        AlarmName=f"{STACK}/lag/orders-processor",
        MetricName="SumOffsetLag",
        Namespace="AWS/Kafka",
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=3,
        Threshold=5000,
        ComparisonOperator="GreaterThanThreshold",
        AlarmActions=[topic],
    )


def doctor(aws: dict[str, Any], connect: Any = FakeAdmin, **overrides: Any) -> list[Check]:
    clients = DoctorClients(aws["kafka"], aws["cloudwatch"], aws["ecs"], aws["sns"], aws["secretsmanager"])
    return run_checks(Doctor(config(**overrides), clients, connect, STACK), console=None)


def describe(aws: dict[str, Any], **cluster: Any) -> None:
    body = cluster_info()
    body["ClusterInfo"].update(cluster)
    aws["stub"].add_response("describe_cluster_v2", body, {"ClusterArn": CLUSTER_ARN})


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def test_a_ready_account_passes_every_check(aws: dict[str, Any]) -> None:
    deploy(aws)
    describe(aws)

    checks = doctor(aws)

    assert [(c.name, c.status) for c in checks] == [
        ("cluster reachable", Status.OK),
        ("cluster ACTIVE", Status.OK),
        ("broker type", Status.OK),
        ("monitoring level", Status.OK),
        ("lag metrics of orders-processor", Status.OK),
        ("ECS service orders/orders-processor", Status.OK),
        ("Kafka reachable", Status.OK),
        ("stack alarms", Status.OK),
        ("SNS subscriptions", Status.OK),
    ]
    assert by_name(checks)["lag metrics of orders-processor"].detail == "published for topics orders"
    assert by_name(checks)["Kafka reachable"].detail == "plaintext: 3 brokers answer"


def test_what_is_missing_is_named_with_its_fix(aws: dict[str, Any]) -> None:
    deploy(aws, services=())
    describe(aws, State="UPDATING")
    groups = [binding(group_id="billing:v2", ecs={"cluster": "orders", "service": "billing"}).model_dump(mode="json")]

    checks = by_name(doctor(aws, unreachable, consumers=groups))

    assert checks["cluster ACTIVE"].status is Status.WARN
    lag = checks["lag metrics of billing:v2"]
    assert (lag.status, lag.detail.split(":")[0]) == (Status.WARN, "the name holds '")
    assert "consumer-lag.html" in lag.fix
    service = checks["ECS service orders/billing"]
    assert (service.status, service.detail) == (Status.FAIL, "not found")
    kafka = checks["Kafka reachable"]
    assert kafka.status is Status.FAIL
    assert "ConnectionRefusedError" in kafka.detail and "cluster.network" in kafka.fix


def test_an_unconfirmed_subscription_is_told() -> None:
    """Stubber: moto confirms e-mail subscriptions at once; SNS lists a pending one as PendingConfirmation."""
    sns = boto3.client("sns", region_name="eu-west-1", aws_access_key_id="t", aws_secret_access_key="t")
    topic = "arn:aws:sns:eu-west-1:123456789012:decisions"
    pending = {
        "SubscriptionArn": "PendingConfirmation",
        "Owner": "123456789012",
        "Protocol": "email",
        "Endpoint": "ops@example.com",
        "TopicArn": topic,
    }
    with Stubber(sns) as stub:
        stub.add_response("list_subscriptions_by_topic", {"Subscriptions": [pending]}, {"TopicArn": topic})
        check = subscriptions_check(sns, topic)
    assert (check.status, check.detail) == (Status.WARN, "not confirmed: ['ops@example.com']")


def test_a_group_without_published_lag_is_told_why(aws: dict[str, Any]) -> None:
    deploy(aws)
    describe(aws)
    groups = [
        binding(group_id="audit", ecs={"cluster": "orders", "service": "orders-processor"}).model_dump(mode="json")
    ]

    lag = by_name(doctor(aws, consumers=groups))["lag metrics of audit"]

    assert lag.status is Status.WARN
    assert "STABLE or EMPTY" in lag.detail


def test_an_undeployed_stack_and_an_unknown_cluster(aws: dict[str, Any]) -> None:
    aws["stub"].add_client_error("describe_cluster_v2", "NotFoundException", "cluster not found", 404)

    checks = by_name(doctor(aws))

    assert checks["cluster reachable"].status is Status.FAIL
    assert "NotFoundException" in checks["cluster reachable"].detail
    assert checks["stack alarms"].status is Status.WARN
    assert "not deployed" in checks["stack alarms"].detail


@pytest.mark.parametrize(
    ("group", "published"),
    [("orders-processor", True), ("orders:v2", False), ("commandes-écrites", False), ("a.b_c-d", True)],
)
def test_group_names_msk_never_publishes_lag_for(group: str, published: bool) -> None:
    """A ':' or a non-ASCII character: no lag metrics, ever (MSK's consumer-lag documentation)."""
    assert (unpublishable_group(group) is None) is published


def test_the_command_prints_json_and_fails_on_any_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty account: no cluster, no services, nothing deployed."""
    path = tmp_path / "autoscaler.yaml"
    path.write_text(yaml.safe_dump(config().model_dump(mode="json")), encoding="utf-8")
    aws["stub"].add_client_error("describe_cluster_v2", "NotFoundException", "cluster not found", 404)
    made = DoctorClients(aws["kafka"], aws["cloudwatch"], aws["ecs"], aws["sns"], aws["secretsmanager"])
    monkeypatch.setattr(DoctorClients, "create", classmethod(lambda cls, region: made))
    monkeypatch.setattr(doctor_module, "KafkaAdminConnector", lambda cluster, secrets: unreachable)
    code = main(["doctor", str(path), "--json"])
    checks = json.loads(capsys.readouterr().out)["checks"]
    assert code == 1
    assert {c["status"] for c in checks} >= {"FAIL"}
    assert checks[0]["name"] == "cluster reachable"


def test_an_invalid_configuration_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("cluster: {}\n", encoding="utf-8")
    assert main(["doctor", str(path)]) == 2
