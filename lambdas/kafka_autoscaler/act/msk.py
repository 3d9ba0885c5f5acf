"""Change an MSK provisioned cluster: broker count, broker volume size and broker size.

Calls UpdateBrokerCount, UpdateBrokerStorage and UpdateBrokerType (IAM: kafka:UpdateBrokerCount,
kafka:UpdateBrokerStorage, kafka:UpdateBrokerType). Each returns at once with the ARN of the operation MSK starts;
MSK refuses a stale CurrentVersion with BadRequestException or ConflictException, and
the next tick reads the new version. The client these calls use should not retry
(handlers/wiring.py MSK_CHANGE_CONFIG): a retry after a lost reply would be refused against
the new version and hide that the first request worked; a lost reply is reported as
`maybe_applied` and read back from the operation list instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from kafka_autoscaler.observe.msk import aws_error_text, reply_lost
from kafka_autoscaler.ports import ActionError

if TYPE_CHECKING:
    from mypy_boto3_kafka.client import KafkaClient

# UpdateBrokerStorage takes a broker id or this keyword; the scaler grows every broker alike.
ALL_BROKERS = "All"


class MskClusterControl:
    """ClusterControl for one MSK provisioned cluster."""

    def __init__(self, kafka_client: KafkaClient, cluster_arn: str) -> None:
        self._client = kafka_client
        self._arn = cluster_arn

    def update_broker_count(self, current_version: str, target_count: int) -> str:
        """Ask MSK for `target_count` brokers; returns the cluster operation ARN."""
        try:
            response = self._client.update_broker_count(
                ClusterArn=self._arn, CurrentVersion=current_version, TargetNumberOfBrokerNodes=target_count
            )
        except (BotoCoreError, ClientError) as error:
            raise ActionError(
                f"MSK UpdateBrokerCount to {target_count} brokers failed: {aws_error_text(error)}",
                maybe_applied=reply_lost(error),
            ) from error
        return _operation_arn(response.get("ClusterOperationArn"), "UpdateBrokerCount")

    def update_broker_storage(self, current_version: str, volume_gib: int) -> str:
        """Grow every broker's EBS volume to `volume_gib`; returns the cluster operation ARN."""
        try:
            response = self._client.update_broker_storage(
                ClusterArn=self._arn,
                CurrentVersion=current_version,
                TargetBrokerEBSVolumeInfo=[{"KafkaBrokerNodeId": ALL_BROKERS, "VolumeSizeGB": volume_gib}],
            )
        except (BotoCoreError, ClientError) as error:
            raise ActionError(
                f"MSK UpdateBrokerStorage to {volume_gib} GiB failed: {aws_error_text(error)}",
                maybe_applied=reply_lost(error),
            ) from error
        return _operation_arn(response.get("ClusterOperationArn"), "UpdateBrokerStorage")

    def update_broker_type(self, current_version: str, instance_type: str) -> str:
        """Change every broker to `instance_type` (a rolling update); returns the cluster operation ARN.

        https://docs.aws.amazon.com/msk/1.0/apireference/clusters-clusterarn-nodes-type.html (PUT, UpdateBrokerType)
        """
        try:
            response = self._client.update_broker_type(
                ClusterArn=self._arn, CurrentVersion=current_version, TargetInstanceType=instance_type
            )
        except (BotoCoreError, ClientError) as error:
            raise ActionError(f"MSK UpdateBrokerType to {instance_type} failed: {aws_error_text(error)}") from error
        return _operation_arn(response.get("ClusterOperationArn"), "UpdateBrokerType")


def _operation_arn(arn: str | None, operation: str) -> str:
    if not arn:
        raise ActionError(f"MSK {operation} returned no ClusterOperationArn")
    return arn
