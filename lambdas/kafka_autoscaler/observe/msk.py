"""Read an MSK provisioned cluster: state, size, operation in flight and broker racks.

Calls DescribeClusterV2, ListClusterOperationsV2 and ListNodes (IAM: kafka:DescribeClusterV2,
kafka:ListClusterOperationsV2, kafka:ListNodes). Brokers come back without metrics; the
metrics source fills those in and keeps each broker's rack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError, ConnectionClosedError, ReadTimeoutError

from kafka_autoscaler.model import BrokerLoad, ClusterOperation, ClusterState
from kafka_autoscaler.ports import ObserveError

if TYPE_CHECKING:
    from mypy_boto3_kafka.client import KafkaClient
    from mypy_boto3_kafka.type_defs import ClusterOperationV2SummaryTypeDef, ClusterTypeDef, NodeInfoTypeDef

# MSK reports a queued operation as PENDING and a running one as UPDATE_IN_PROGRESS;
# any other *_IN_PROGRESS state (a rollback, say) is just as busy.
_PENDING_STATE = "PENDING"
_RUNNING_SUFFIX = "IN_PROGRESS"
_FINISHED_OK_STATE = "UPDATE_COMPLETE"


def aws_error_text(error: BotoCoreError | ClientError) -> str:
    """'Code: message' for an AWS error, the plain text for a client-side one."""
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code, message = details.get("Code", "Unknown"), details.get("Message", "")
        return f"{code}: {message}" if message else code
    return str(error)


def reply_lost(error: BotoCoreError | ClientError) -> bool:
    """True when the request may have reached AWS and only its reply was lost."""
    return isinstance(error, ReadTimeoutError | ConnectionClosedError)


def is_in_flight(operation: ClusterOperationV2SummaryTypeDef) -> bool:
    state = operation.get("OperationState", "")
    return state == _PENDING_STATE or state.endswith(_RUNNING_SUFFIX)


def is_storage_change(operation: ClusterOperationV2SummaryTypeDef) -> bool:
    """UpdateBrokerStorage, UpdateStorage and MSK's own storage auto-scaling all name STORAGE."""
    return "STORAGE" in operation.get("OperationType", "")


def operation_in_flight(operations: list[ClusterOperationV2SummaryTypeDef]) -> str | None:
    """The type of the newest operation MSK has not finished, if any."""
    running = [op for op in operations if is_in_flight(op)]
    if not running:
        return None
    newest = max(running, key=lambda op: op["StartTime"].timestamp() if "StartTime" in op else 0.0)
    return newest.get("OperationType", "UNKNOWN")


def last_storage_update(operations: list[ClusterOperationV2SummaryTypeDef]) -> float | None:
    """End of the newest completed storage change, epoch seconds."""
    ends = [
        op["EndTime"].timestamp()
        for op in operations
        if is_storage_change(op) and op.get("OperationState") == _FINISHED_OK_STATE and "EndTime" in op
    ]
    return max(ends, default=None)


def operation_list(operations: list[ClusterOperationV2SummaryTypeDef]) -> tuple[ClusterOperation, ...]:
    """The operations as domain values, newest first."""
    found = [
        ClusterOperation(
            arn=op.get("OperationArn", ""),
            kind=op.get("OperationType", "UNKNOWN"),
            state=op.get("OperationState", "UNKNOWN"),
            start_t=op["StartTime"].timestamp() if "StartTime" in op else None,
            end_t=op["EndTime"].timestamp() if "EndTime" in op else None,
        )
        for op in operations
    ]
    return tuple(sorted(found, key=lambda op: op.start_t or 0.0, reverse=True))


def broker_racks(nodes: list[NodeInfoTypeDef]) -> tuple[BrokerLoad, ...]:
    """One BrokerLoad per broker node, rack = its client subnet (MSK puts one subnet in each AZ)."""
    brokers = [
        BrokerLoad(broker_id=int(info["BrokerId"]), rack=info.get("ClientSubnet"))
        for node in nodes
        if "BrokerId" in (info := node.get("BrokerNodeInfo", {}))
    ]
    return tuple(sorted(brokers, key=lambda b: b.broker_id))


def cluster_state(
    info: ClusterTypeDef,
    operations: list[ClusterOperationV2SummaryTypeDef],
    nodes: list[NodeInfoTypeDef],
) -> ClusterState:
    """Build the ClusterState from the three MSK answers; a serverless cluster is an error."""
    arn = info.get("ClusterArn", "")
    provisioned = info.get("Provisioned")
    if provisioned is None:
        raise ObserveError(f"MSK cluster {arn} is not a provisioned cluster; only provisioned clusters are scaled")
    group = provisioned["BrokerNodeGroupInfo"]
    # Express brokers have no EBS volume to grow: 0 GiB (ClusterState.express says why).
    volume = group.get("StorageInfo", {}).get("EbsStorageInfo", {}).get("VolumeSize", 0)
    return ClusterState(
        arn=arn,
        state=info.get("State", "UNKNOWN"),
        current_version=info.get("CurrentVersion", ""),
        broker_count=provisioned["NumberOfBrokerNodes"],
        az_count=len(set(group["ClientSubnets"])),
        instance_type=group["InstanceType"],
        volume_gib=volume,
        operation_in_progress=operation_in_flight(operations),
        last_storage_update_t=last_storage_update(operations),
        brokers=broker_racks(nodes),
        kafka_version=provisioned.get("CurrentBrokerSoftwareInfo", {}).get("KafkaVersion"),
        operations=operation_list(operations),
    )


class MskClusterReader:
    """ClusterReader for one MSK provisioned cluster."""

    def __init__(self, kafka_client: KafkaClient, cluster_arn: str) -> None:
        self._client = kafka_client
        self._arn = cluster_arn

    def describe(self) -> ClusterState:
        return cluster_state(self._describe_cluster(), self._list_operations(), self._list_nodes())

    def _describe_cluster(self) -> ClusterTypeDef:
        try:
            return self._client.describe_cluster_v2(ClusterArn=self._arn)["ClusterInfo"]
        except (BotoCoreError, ClientError) as error:
            raise ObserveError(f"MSK DescribeClusterV2 failed for {self._arn}: {aws_error_text(error)}") from error

    def _list_operations(self) -> list[ClusterOperationV2SummaryTypeDef]:
        try:
            pages = self._client.get_paginator("list_cluster_operations_v2").paginate(ClusterArn=self._arn)
            return [op for page in pages for op in page.get("ClusterOperationInfoList", [])]
        except (BotoCoreError, ClientError) as error:
            raise ObserveError(
                f"MSK ListClusterOperationsV2 failed for {self._arn}: {aws_error_text(error)}"
            ) from error

    def _list_nodes(self) -> list[NodeInfoTypeDef]:
        try:
            pages = self._client.get_paginator("list_nodes").paginate(ClusterArn=self._arn)
            return [node for page in pages for node in page.get("NodeInfoList", [])]
        except (BotoCoreError, ClientError) as error:
            raise ObserveError(f"MSK ListNodes failed for {self._arn}: {aws_error_text(error)}") from error
