"""Grow a topic's partition count through Kafka's CreatePartitions (kafka-python's admin client).

Under MSK IAM access control this is kafka-cluster:AlterTopic on the topic. Kafka only adds
partitions (a count at or below the present one is refused with InvalidPartitionsError); the
existing ones keep their data, and the new ones are placed by the controller.
"""

from __future__ import annotations

from typing import Any

from kafka.errors import KafkaError

from kafka_autoscaler.ports import ActionError

# How long the controller may take to create the partitions before answering.
CREATE_TIMEOUT_MS = 30_000


class KafkaPartitionControl:
    """ports.PartitionControl over a kafka-python KafkaAdminClient passed in by the caller."""

    def __init__(self, admin: Any) -> None:
        self._admin = admin

    def create_partitions(self, topic: str, total_count: int) -> str:
        try:
            self._admin.create_partitions({topic: total_count}, timeout_ms=CREATE_TIMEOUT_MS)
        except KafkaError as error:
            raise ActionError(f"CreatePartitions of {topic} to {total_count} failed: {error}") from error
        return f"{topic} now has {total_count} partitions"
