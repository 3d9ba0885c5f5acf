"""`kafka-autoscaler plan`: the real read adapters (moto ECS, CloudWatch), dry-run, nothing changed."""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.stub import Stubber
from builders import CLUSTER_ARN, binding, group
from fakes import FakeLag, FakeWorld
from kafka_autoscaler.cli import plan
from kafka_autoscaler.config import load_config
from kafka_autoscaler.handlers.wiring import AwsClients
from moto import mock_aws

REGION = "eu-west-1"


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsClients]:
    with mock_aws():
        ecs = boto3.client("ecs", region_name=REGION)
        ecs.create_cluster(clusterName="orders")
        ecs.create_service(cluster="orders", serviceName="orders-processor", desiredCount=4)
        created = AwsClients.create(REGION)
        yield dataclasses.replace(created, ecs=ecs)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "autoscaler.yaml"
    data = {
        "cluster": {"arn": CLUSTER_ARN, "bootstrap_servers": "127.0.0.1:1", "auth": {"mechanism": "plaintext"}},
        "consumers": [binding().model_dump(mode="json")],
        "storage": {"mode": "off"},
    }
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _unavailable_msk(clients: AwsClients) -> Stubber:
    stub = Stubber(clients.kafka)
    stub.add_client_error(
        "describe_cluster_v2",
        "ServiceUnavailableException",
        "try later",
        503,
        expected_params={"ClusterArn": CLUSTER_ARN},
    )
    stub.activate()
    return stub


def _plan(config_file: Path, clients: AwsClients, world: FakeWorld, as_json: bool) -> Any:
    config = load_config(config_file)
    ports = dataclasses.replace(plan.plan_ports(config, clients, None), lag=FakeLag(world), facts=None)
    result = plan.make_plan(config, ports, 1_700_000_000.0)
    return plan.render_json(config, result) if as_json else plan.render_text(config, result)


def test_plan_reports_a_scale_out_and_changes_nothing(config_file: Path, clients: AwsClients) -> None:
    _unavailable_msk(clients)
    world = FakeWorld(cluster=None, groups={"orders-processor": group(produce=40.0, lag=1200)}, services={})
    out = json.loads(_plan(config_file, clients, world, as_json=True))
    consumer = next(d for d in out["decisions"] if d["key"] == "consumer:orders-processor")
    assert (consumer["action"], consumer["current"], consumer["desired"]) == ("scale_out", 4, 12)
    # No rate history is stored yet: the forecast is shown, and says so.
    assert consumer["details"]["forecast"]["status"] == "no_history"
    brokers = next(d for d in out["decisions"] if d["key"] == "brokers")
    assert brokers["reason"] == "MissingData"
    assert any("ServiceUnavailableException" in p for p in out["problems"])
    service = clients.ecs.describe_services(cluster="orders", services=["orders-processor"])["services"][0]
    assert service["desiredCount"] == 4, "plan must never change the service"


def test_plan_text_names_what_it_could_not_observe(config_file: Path, clients: AwsClients) -> None:
    _unavailable_msk(clients)
    world = FakeWorld(cluster=None, groups={}, services={})
    text = _plan(config_file, clients, world, as_json=False)
    assert "nothing is changed" in text
    assert "MissingData" in text and "no lag for group orders-processor" in text


def test_plan_rejects_a_bad_config_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("cluster: {arn: nope, bootstrap_servers: x}\n", encoding="utf-8")
    code = plan.run(argparse.Namespace(file=str(bad), json=False, state_table=None))
    assert code == 2
    assert "cluster.arn" in capsys.readouterr().err
