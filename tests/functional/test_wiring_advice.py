"""The AWS wiring gives the tick the advisor and, when allowed, partition changes; one failed connect per tick."""

from __future__ import annotations

import boto3
import pytest
from builders import config
from kafka.errors import KafkaConnectionError
from kafka_autoscaler.handlers import wiring
from kafka_autoscaler.handlers.wiring import AwsClients, HandlerEnv, KafkaAdminConnector, build_aws_ports
from moto import mock_aws

REGION = "eu-west-1"


@pytest.mark.parametrize(("auto_increase", "partitions_wired"), [(False, False), (True, True)])
def test_ports_carry_the_advisor_and_partition_control_when_allowed(
    auto_increase: bool, partitions_wired: bool
) -> None:
    partitions = {"auto_increase": auto_increase, "max": 64}
    with mock_aws():
        ports = build_aws_ports(config(partitions=partitions), AwsClients.create(REGION), HandlerEnv("t", "s"))
        read_only = build_aws_ports(
            config(partitions=partitions), AwsClients.create(REGION), HandlerEnv("t", "s"), read_only=True
        )
    assert ports.facts is not None and read_only.facts is not None
    assert (ports.partitions is not None) is partitions_wired
    assert read_only.partitions is None  # plan never changes a partition count


def test_a_failed_connection_is_not_tried_again_within_the_tick(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[str] = []

    def unreachable(*_: object) -> object:
        attempts.append("connect")
        raise KafkaConnectionError()

    monkeypatch.setattr(wiring, "admin_client_for", unreachable)
    with mock_aws():
        connect = KafkaAdminConnector(config().cluster, boto3.client("secretsmanager", region_name=REGION))
    for _ in range(2):  # the lag source, then the advisor
        with pytest.raises(KafkaConnectionError):
            connect()
    assert attempts == ["connect"]
