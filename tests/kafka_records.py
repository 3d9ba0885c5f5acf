"""Read every record of some partitions back from a real Kafka cluster, for no-loss checks."""

from __future__ import annotations

import time
from collections.abc import Sequence

from kafka.consumer import KafkaConsumer
from kafka.structs import TopicPartition


def read_values(bootstrap: str, partitions: Sequence[TopicPartition], timeout_s: float = 120.0) -> list[bytes]:
    """Every record value in `partitions`, read from each one's start to its end at the call."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=2000)
    try:
        consumer.assign(list(partitions))
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(list(partitions))
        values: list[bytes] = []
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            assert time.monotonic() < deadline, f"records could not be read back within {timeout_s:.0f} s"
            for records in consumer.poll(timeout_ms=1000).values():
                values.extend(record.value for record in records)
        return values
    finally:
        consumer.close()
