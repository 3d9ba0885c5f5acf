"""A broker-size change end to end: tick() decides it, the executor calls MSK UpdateBrokerType.

moto has no UpdateBrokerType, so the MSK client is a real botocore client with Stubber and
`expected_params` (PUT /v1/clusters/{clusterArn}/nodes/type: ClusterArn, CurrentVersion,
TargetInstanceType; the answer carries ClusterArn and ClusterOperationArn), per
https://docs.aws.amazon.com/msk/1.0/apireference/clusters-clusterarn-nodes-type.html.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from botocore.stub import Stubber
from builders import CLUSTER_ARN, config
from fakes import FakeWorld, ports_for
from kafka_autoscaler.act.msk import MskClusterControl
from kafka_autoscaler.engine import tick
from kafka_autoscaler.model import Action, BrokerLoad, ClusterState, OutcomeStatus, Reason, Sample, Target
from kafka_autoscaler.ports import ActionError, Ports
from kafka_autoscaler.state.memory import MemoryStateStore
from test_aws_msk import VERSION

NOW = 1_700_000_000.0
OPERATION = (
    "arn:aws:kafka:eu-west-1:123456789012:cluster-operation/orders/6f1d2c3b-1a2b-4c5d-9e8f-0a1b2c3d4e5f-2/type-1"
)


def expect_update(stub: Stubber, instance_type: str) -> None:
    """UpdateBrokerType as the API reference describes it: the ARN, the version read, the target size."""
    stub.add_response(
        "update_broker_type",
        {"ClusterArn": CLUSTER_ARN, "ClusterOperationArn": OPERATION},
        {"ClusterArn": CLUSTER_ARN, "CurrentVersion": VERSION, "TargetInstanceType": instance_type},
    )


def busy_cluster_at_max() -> ClusterState:
    """Six kafka.m7g.xlarge brokers at 85% CPU for the whole 15-minute window."""
    cpu = tuple(Sample(NOW - 60 * m, 85.0) for m in range(20, -1, -1))
    brokers = tuple(BrokerLoad(i, f"az-{(i - 1) % 3 + 1}", cpu_pct=cpu, partition_count=400) for i in range(1, 7))
    return ClusterState(CLUSTER_ARN, "ACTIVE", VERSION, 6, 3, "kafka.m7g.xlarge", 1000, brokers=brokers)


def busy_world(client: Any, store: MemoryStateStore) -> tuple[FakeWorld, Ports]:
    """The busy cluster in a fake world, with MSK changes going to the stubbed client."""
    cluster = busy_cluster_at_max()
    world = FakeWorld(cluster=cluster, groups={}, services={}, loads=cluster.brokers)
    return world, dataclasses.replace(ports_for(world, store), cluster_control=MskClusterControl(client, CLUSTER_ARN))


def sizing_config() -> Any:
    return config(
        consumers=[],
        brokers={"max_brokers": 6, "vertical": {"enabled": True}},
        storage={"mode": "off"},
    )


def test_tick_sizes_up_through_update_broker_type(kafka: tuple[Any, Stubber]) -> None:
    client, stub = kafka
    expect_update(stub, "kafka.m7g.2xlarge")
    store = MemoryStateStore()
    world, ports = busy_world(client, store)

    result = tick(sizing_config(), ports, NOW, "test")

    sized = [o for o in result.outcomes if o.decision.target is Target.BROKER_TYPE]
    assert len(sized) == 1
    outcome = sized[0]
    assert outcome.decision.action is Action.SCALE_OUT
    assert outcome.decision.reason is Reason.CPU_HIGH_AT_MAX_BROKERS
    assert (outcome.status, outcome.detail) == (OutcomeStatus.APPLIED, OPERATION)
    counts = [o.decision for o in result.outcomes if o.decision.target is Target.BROKERS]
    assert [d.reason for d in counts] == [Reason.AT_MAX]  # the count policy holds; the size moves
    assert store.load().last_action_t["broker_type"] == NOW  # the cooldown starts
    assert any("kafka.m7g.2xlarge" in m.text for m in world.messages)


def test_msk_refusal_is_a_failed_outcome_and_the_tick_goes_on(kafka: tuple[Any, Stubber]) -> None:
    client, stub = kafka
    stub.add_client_error("update_broker_type", "BadRequestException", "The cluster is not in a valid state.", 400)
    _, ports = busy_world(client, MemoryStateStore())

    result = tick(sizing_config(), ports, NOW, "test")

    failed = [o for o in result.outcomes if o.status is OutcomeStatus.FAILED]
    assert len(failed) == 1 and failed[0].decision.target is Target.BROKER_TYPE
    assert "UpdateBrokerType to kafka.m7g.2xlarge failed" in failed[0].detail
    assert "BadRequestException" in failed[0].detail


def test_adapter_sends_arn_version_and_type(kafka: tuple[Any, Stubber]) -> None:
    client, stub = kafka
    expect_update(stub, "kafka.m5.2xlarge")
    assert MskClusterControl(client, CLUSTER_ARN).update_broker_type(VERSION, "kafka.m5.2xlarge") == OPERATION


def test_answer_without_operation_is_an_error(kafka: tuple[Any, Stubber]) -> None:
    client, stub = kafka
    stub.add_response("update_broker_type", {"ClusterArn": CLUSTER_ARN})
    with pytest.raises(ActionError, match="UpdateBrokerType returned no ClusterOperationArn"):
        MskClusterControl(client, CLUSTER_ARN).update_broker_type(VERSION, "kafka.m5.2xlarge")
