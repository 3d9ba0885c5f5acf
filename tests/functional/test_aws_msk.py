"""MSK adapters against a real botocore Kafka client with Stubber.

moto has no ListClusterOperationsV2, ListNodes, UpdateBrokerCount or UpdateBrokerStorage,
so every call is stubbed with `expected_params`; Stubber also checks each request and
response against botocore's service model. Bodies follow the MSK API reference examples.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.stub import Stubber
from builders import CLUSTER_ARN
from kafka_autoscaler.act.msk import MskClusterControl
from kafka_autoscaler.observe.msk import MskClusterReader
from kafka_autoscaler.ports import ActionError, ObserveError

VERSION = "K3AEGXETSR30VB"
OP_PREFIX = "arn:aws:kafka:eu-west-1:123456789012:cluster-operation/orders/6f1d2c3b-1a2b-4c5d-9e8f-0a1b2c3d4e5f-2"
SUBNETS = ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002", "subnet-0a1b2c3d4e5f60003"]


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 20, hour, minute, tzinfo=UTC)


def cluster_info(**provisioned: Any) -> dict[str, Any]:
    group: dict[str, Any] = {
        "BrokerAZDistribution": "DEFAULT",
        "ClientSubnets": SUBNETS,
        "InstanceType": "kafka.m5.large",
        "SecurityGroups": ["sg-0a1b2c3d4e5f60001"],
        "StorageInfo": {"EbsStorageInfo": {"VolumeSize": 1000}},
    }
    body: dict[str, Any] = {
        "BrokerNodeGroupInfo": group,
        "CurrentBrokerSoftwareInfo": {"KafkaVersion": "3.6.0"},
        "EncryptionInfo": {"EncryptionInTransit": {"ClientBroker": "TLS", "InCluster": True}},
        "EnhancedMonitoring": "DEFAULT",
        "NumberOfBrokerNodes": 6,
    }
    body.update(provisioned)
    return {
        "ClusterInfo": {
            "ClusterType": "PROVISIONED",
            "ClusterArn": CLUSTER_ARN,
            "ClusterName": "orders",
            "CreationTime": at(8),
            "CurrentVersion": VERSION,
            "State": "ACTIVE",
            "Tags": {},
            "Provisioned": body,
        }
    }


def operation(op_id: str, kind: str, state: str, start: datetime, end: datetime | None = None) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "ClusterArn": CLUSTER_ARN,
        "ClusterType": "PROVISIONED",
        "StartTime": start,
        "OperationArn": f"{OP_PREFIX}/{op_id}",
        "OperationState": state,
        "OperationType": kind,
    }
    if end is not None:
        summary["EndTime"] = end
    return summary


def node(broker_id: int, subnet: str) -> dict[str, Any]:
    return {
        "AddedToClusterTime": "2026-11-20T08:15:00.000Z",
        "BrokerNodeInfo": {
            "AttachedENIId": f"eni-0a1b2c3d4e5f6000{broker_id}",
            "BrokerId": float(broker_id),
            "ClientSubnet": subnet,
            "ClientVpcIpAddress": f"10.0.{broker_id}.10",
            "CurrentBrokerSoftwareInfo": {"KafkaVersion": "3.6.0"},
            "Endpoints": [f"b-{broker_id}.orders.abc123.c2.kafka.eu-west-1.amazonaws.com"],
        },
        "InstanceType": "m5.large",
        "NodeARN": f"arn:aws:kafka:eu-west-1:123456789012:broker/orders/6f1d2c3b/{broker_id}",
        "NodeType": "BROKER",
    }


ALL_NODES = [node(b, SUBNETS[(b - 1) % 3]) for b in range(1, 7)]
ARN_ONLY = {"ClusterArn": CLUSTER_ARN}


def stub_describe(stub: Stubber, operations: list[list[dict[str, Any]]], nodes: list[list[dict[str, Any]]]) -> None:
    """DescribeClusterV2, then each page of operations and of nodes, chained by NextToken."""
    stub.add_response("describe_cluster_v2", cluster_info(), ARN_ONLY)
    for name, key, pages in (
        ("list_cluster_operations_v2", "ClusterOperationInfoList", operations),
        ("list_nodes", "NodeInfoList", nodes),
    ):
        for number, page in enumerate(pages):
            response: dict[str, Any] = {key: page}
            if number + 1 < len(pages):
                response["NextToken"] = f"{name}-page-{number + 2}"
            params = ARN_ONLY if number == 0 else {**ARN_ONLY, "NextToken": f"{name}-page-{number + 1}"}
            stub.add_response(name, response, params)


def test_describe_reads_size_operation_and_racks_across_pages(kafka: tuple[Any, Stubber]) -> None:
    client, stub = kafka
    operations = [
        [
            operation("a", "UPDATE_BROKER_STORAGE", "UPDATE_COMPLETE", at(9), at(9, 40)),
            operation("b", "UPDATE_BROKER_STORAGE", "UPDATE_COMPLETE", at(11), at(11, 30)),
        ],
        [
            operation("c", "UPDATE_BROKER_STORAGE", "UPDATE_FAILED", at(12), at(12, 5)),
            operation("d", "UPDATE_BROKER_COUNT", "PENDING", at(13)),
        ],
    ]
    stub_describe(stub, operations, [ALL_NODES[:4], ALL_NODES[4:]])

    state = MskClusterReader(client, CLUSTER_ARN).describe()

    assert (state.arn, state.state, state.current_version) == (CLUSTER_ARN, "ACTIVE", VERSION)
    assert (state.broker_count, state.az_count, state.instance_type, state.volume_gib) == (6, 3, "kafka.m5.large", 1000)
    assert state.operation_in_progress == "UPDATE_BROKER_COUNT"
    # the newest *completed* storage change counts; the failed one after it does not
    assert state.last_storage_update_t == at(11, 30).timestamp()
    assert [(b.broker_id, b.rack) for b in state.brokers] == [(b, SUBNETS[(b - 1) % 3]) for b in range(1, 7)]
    assert all(not b.cpu_pct and b.partition_count is None for b in state.brokers)


@pytest.mark.parametrize(
    ("operations", "expected_in_flight"),
    [
        ([operation("a", "UPDATE_BROKER_COUNT", "UPDATE_COMPLETE", at(9), at(10))], None),
        ([operation("a", "UPDATE_BROKER_TYPE", "UPDATE_IN_PROGRESS", at(9))], "UPDATE_BROKER_TYPE"),
        ([operation("a", "UPDATE_BROKER_COUNT", "ROLLBACK_IN_PROGRESS", at(9))], "UPDATE_BROKER_COUNT"),
        (
            [
                operation("a", "UPDATE_BROKER_STORAGE", "PENDING", at(9)),
                operation("b", "UPDATE_BROKER_COUNT", "UPDATE_IN_PROGRESS", at(10)),
            ],
            "UPDATE_BROKER_COUNT",
        ),
        ([], None),
    ],
    ids=["finished", "running", "rolling-back", "newest-of-two", "no-history"],
)
def test_operation_in_flight(
    kafka: tuple[Any, Stubber], operations: list[dict[str, Any]], expected_in_flight: str | None
) -> None:
    client, stub = kafka
    stub_describe(stub, [operations], [ALL_NODES])

    state = MskClusterReader(client, CLUSTER_ARN).describe()

    assert state.operation_in_progress == expected_in_flight
    assert state.last_storage_update_t is None


def test_serverless_cluster_is_refused(kafka: tuple[Any, Stubber]) -> None:
    client, stub = kafka
    info = cluster_info()["ClusterInfo"]
    del info["Provisioned"]
    info["ClusterType"] = "SERVERLESS"
    info["Serverless"] = {"VpcConfigs": [{"SubnetIds": SUBNETS}]}
    stub.add_response("describe_cluster_v2", {"ClusterInfo": info}, ARN_ONLY)
    stub.add_response("list_cluster_operations_v2", {"ClusterOperationInfoList": []}, ARN_ONLY)
    stub.add_response("list_nodes", {"NodeInfoList": []}, ARN_ONLY)

    with pytest.raises(ObserveError, match="not a provisioned cluster"):
        MskClusterReader(client, CLUSTER_ARN).describe()


@pytest.mark.parametrize(
    ("failing", "code", "status"),
    [
        ("describe_cluster_v2", "NotFoundException", 404),
        ("list_cluster_operations_v2", "ForbiddenException", 403),
        ("list_nodes", "TooManyRequestsException", 429),
    ],
)
def test_describe_wraps_aws_errors_naming_operation_and_code(
    kafka: tuple[Any, Stubber], failing: str, code: str, status: int
) -> None:
    client, stub = kafka
    for name, response in (
        ("describe_cluster_v2", cluster_info()),
        ("list_cluster_operations_v2", {"ClusterOperationInfoList": []}),
        ("list_nodes", {"NodeInfoList": ALL_NODES}),
    ):
        if name == failing:
            stub.add_client_error(name, code, "the request was refused", status, expected_params=ARN_ONLY)
            break
        stub.add_response(name, response, ARN_ONLY)
    api_name = {"describe_cluster_v2": "DescribeClusterV2", "list_cluster_operations_v2": "ListClusterOperationsV2"}

    with pytest.raises(ObserveError) as raised:
        MskClusterReader(client, CLUSTER_ARN).describe()

    assert api_name.get(failing, "ListNodes") in str(raised.value)
    assert f"{code}: the request was refused" in str(raised.value)


def test_update_broker_count_sends_target_and_version(kafka: tuple[Any, Stubber]) -> None:
    client, stub = kafka
    stub.add_response(
        "update_broker_count",
        {"ClusterArn": CLUSTER_ARN, "ClusterOperationArn": f"{OP_PREFIX}/count-9"},
        {"ClusterArn": CLUSTER_ARN, "CurrentVersion": VERSION, "TargetNumberOfBrokerNodes": 9},
    )

    assert MskClusterControl(client, CLUSTER_ARN).update_broker_count(VERSION, 9) == f"{OP_PREFIX}/count-9"


def test_update_broker_storage_grows_every_broker(kafka: tuple[Any, Stubber]) -> None:
    client, stub = kafka
    stub.add_response(
        "update_broker_storage",
        {"ClusterArn": CLUSTER_ARN, "ClusterOperationArn": f"{OP_PREFIX}/storage-1100"},
        {
            "ClusterArn": CLUSTER_ARN,
            "CurrentVersion": VERSION,
            "TargetBrokerEBSVolumeInfo": [{"KafkaBrokerNodeId": "All", "VolumeSizeGB": 1100}],
        },
    )

    assert MskClusterControl(client, CLUSTER_ARN).update_broker_storage(VERSION, 1100) == f"{OP_PREFIX}/storage-1100"


@pytest.mark.parametrize(
    ("method", "code", "status", "message"),
    [
        ("update_broker_count", "ConflictException", 409, "The cluster is being updated."),
        ("update_broker_count", "BadRequestException", 400, "The request does not include a valid version."),
        ("update_broker_storage", "BadRequestException", 400, "Storage can be updated once every 6 hours."),
        ("update_broker_storage", "TooManyRequestsException", 429, "Rate exceeded."),
    ],
)
def test_update_errors_become_action_errors(
    kafka: tuple[Any, Stubber], method: str, code: str, status: int, message: str
) -> None:
    client, stub = kafka
    stub.add_client_error(method, code, message, status)
    control = MskClusterControl(client, CLUSTER_ARN)

    with pytest.raises(ActionError) as raised:
        getattr(control, method)(VERSION, 9 if method == "update_broker_count" else 1100)

    api_name = "UpdateBrokerCount" if method == "update_broker_count" else "UpdateBrokerStorage"
    assert str(raised.value).startswith(f"MSK {api_name}")
    assert f"{code}: {message}" in str(raised.value)


def test_update_without_operation_arn_is_an_error(kafka: tuple[Any, Stubber]) -> None:
    client, stub = kafka
    stub.add_response("update_broker_count", {"ClusterArn": CLUSTER_ARN})

    with pytest.raises(ActionError, match="no ClusterOperationArn"):
        MskClusterControl(client, CLUSTER_ARN).update_broker_count(VERSION, 9)
