"""ECS adapters against moto: DescribeServices batching, missing services, UpdateService errors."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from builders import binding
from kafka_autoscaler.act.ecs import EcsServiceControl
from kafka_autoscaler.model import ServiceState
from kafka_autoscaler.observe.ecs import EcsServiceReader, deployment_in_progress
from kafka_autoscaler.ports import ActionError
from moto import mock_aws

REGION = "eu-west-1"


@pytest.fixture
def ecs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", "2")  # moto reports this many running tasks
    with mock_aws():
        client = boto3.client("ecs", region_name=REGION)
        client.register_task_definition(
            family="consumer", containerDefinitions=[{"name": "c", "image": "consumer", "memory": 256}]
        )
        yield client


def create(ecs: Any, cluster: str, *services: str, desired: int = 2) -> None:
    ecs.create_cluster(clusterName=cluster)
    for service in services:
        ecs.create_service(cluster=cluster, serviceName=service, taskDefinition="consumer", desiredCount=desired)


def record_calls(ecs: Any, operation: str) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    ecs.meta.events.register(f"provide-client-params.ecs.{operation}", lambda params, **_: calls.append(dict(params)))
    return calls


def test_services_are_described_in_batches_of_ten_per_cluster(ecs: Any) -> None:
    orders = [f"svc-{i:02d}" for i in range(12)]
    create(ecs, "orders", *orders)
    create(ecs, "payments", "payments-processor", desired=3)
    bindings = [binding(group_id=f"g-{name}", ecs={"cluster": "orders", "service": name}) for name in orders]
    bindings.append(binding(group_id="payments", ecs={"cluster": "payments", "service": "payments-processor"}))
    calls = record_calls(ecs, "DescribeServices")

    states = EcsServiceReader(ecs).describe(bindings)

    assert [(c["cluster"], len(c["services"])) for c in calls] == [("orders", 10), ("orders", 2), ("payments", 1)]
    assert states["g-svc-11"] == ServiceState("orders", "svc-11", desired=2, running=2, pending=0)
    # 3 desired, 2 running: the rollout is still going
    assert states["payments"] == ServiceState("payments", "payments-processor", 3, 2, 1, deployment_in_progress=True)
    assert len(states) == 13


def test_a_missing_service_is_left_out_and_named_in_a_warning(ecs: Any, caplog: pytest.LogCaptureFixture) -> None:
    create(ecs, "orders", "orders-processor")
    bindings = [
        binding(group_id="present", ecs={"cluster": "orders", "service": "orders-processor"}),
        binding(group_id="absent", ecs={"cluster": "orders", "service": "deleted-service"}),
    ]
    with caplog.at_level(logging.WARNING):
        states = EcsServiceReader(ecs).describe(bindings)
    assert set(states) == {"present"}
    assert "deleted-service" in caplog.text and "MISSING" in caplog.text


def test_a_deleted_service_reads_as_missing(ecs: Any) -> None:
    create(ecs, "orders", "orders-processor", desired=0)
    ecs.delete_service(cluster="orders", service="orders-processor")
    assert EcsServiceReader(ecs).describe([binding()]) == {}


def test_an_unknown_cluster_leaves_out_only_its_services(ecs: Any, caplog: pytest.LogCaptureFixture) -> None:
    create(ecs, "orders", "orders-processor")
    bindings = [binding(), binding(group_id="ghost", ecs={"cluster": "ghost-cluster", "service": "x"})]
    with caplog.at_level(logging.WARNING):
        states = EcsServiceReader(ecs).describe(bindings)
    assert set(states) == {"orders-processor"}
    assert "ghost-cluster" in caplog.text and "ClusterNotFoundException" in caplog.text


def test_a_service_named_by_arn_is_matched(ecs: Any) -> None:
    create(ecs, "orders", "orders-processor")
    arn = ecs.describe_services(cluster="orders", services=["orders-processor"])["services"][0]["serviceArn"]
    states = EcsServiceReader(ecs).describe([binding(ecs={"cluster": "orders", "service": arn})])
    assert states["orders-processor"].desired == 2


@pytest.mark.parametrize(
    ("deployments", "in_progress", "why"),
    [
        ([], False, "no deployment reported (external controller)"),
        ([{"status": "PRIMARY", "rolloutState": "COMPLETED"}], False, "rollout done"),
        ([{"status": "PRIMARY", "rolloutState": "IN_PROGRESS"}], True, "primary still rolling"),
        ([{"status": "PRIMARY", "rolloutState": "COMPLETED"}, {"status": "ACTIVE"}], True, "old tasks draining"),
        ([{"status": "PRIMARY"}], False, "no rollout state: circuit breaker off"),
    ],
)
def test_deployment_in_progress(deployments: list[dict[str, str]], in_progress: bool, why: str) -> None:
    assert deployment_in_progress({"deployments": deployments}) is in_progress, why  # type: ignore[typeddict-item]


def test_set_desired_updates_the_service(ecs: Any) -> None:
    create(ecs, "orders", "orders-processor")
    detail = EcsServiceControl(ecs).set_desired(binding(), 7)
    assert detail == "orders/orders-processor desiredCount=7"
    assert ecs.describe_services(cluster="orders", services=["orders-processor"])["services"][0]["desiredCount"] == 7


def test_an_update_failure_is_an_action_error_naming_the_code(ecs: Any) -> None:
    create(ecs, "orders")
    with pytest.raises(ActionError, match="orders/orders-processor failed: ServiceNotFoundException"):
        EcsServiceControl(ecs).set_desired(binding(), 3)
