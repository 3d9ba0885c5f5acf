"""Replicas per broker from Kafka's own metadata, MSK's canary topics left out.

CloudWatch's PartitionCount counts the canary partitions MSK keeps on every broker, so a
drained broker never reads 0 there; MSK removes brokers that hold nothing but those
(https://docs.aws.amazon.com/msk/latest/developerguide/msk-remove-broker.html). A partition
being reassigned lists its old and new replicas together, so a broker still losing a
replica counts it until the move ends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kafka_autoscaler.rebalance.placement import is_canary


def replicas_by_broker(brokers: list[dict[str, Any]], topics: list[dict[str, Any]]) -> dict[int, int]:
    """Count from DescribeCluster's brokers and DescribeTopics' partitions (kafka-python's dicts)."""
    counts = {int(b["broker_id"]): 0 for b in brokers}
    for topic in topics:
        if topic.get("error_code", 0) or is_canary(str(topic.get("name", ""))):
            continue  # being deleted or unreadable, or MSK's canaries
        for partition in topic.get("partitions", []):
            for broker in partition.get("replica_nodes", []):
                counts[int(broker)] = counts.get(int(broker), 0) + 1
    return counts


class KafkaReplicaReader:
    """ports.ReplicaReader on a kafka-python admin client, connected on first use."""

    def __init__(self, connect: Callable[[], Any]) -> None:
        self._connect = connect

    def replicas_per_broker(self) -> dict[int, int]:
        admin = self._connect()
        return replicas_by_broker(admin.describe_cluster().get("brokers", []), admin.describe_topics())
