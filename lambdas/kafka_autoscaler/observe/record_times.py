"""Timestamps of the records at given offsets: the exact time lag of a lagging partition.

The time lag of a partition is how old its oldest unconsumed record is; that record sits
at the group's position (the committed offset, or a share group's start offset), and its
timestamp says when it was written (CreateTime, or LogAppendTime where the topic says so).
Reading it costs a fetch per partition, so `lag --exact` asks for it and everything else
estimates from offset samples.

Bounded: at most `max_partitions` partitions are assigned to the one consumer at a time
(its fetches go to every leader at once), records are fetched small, and the whole read
stops at `timeout_s`; partitions not answered by then are left out (their time lag stays
the estimate, marked as such).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import islice
from typing import Any

from kafka import KafkaConsumer
from kafka.structs import TopicPartition

TP = tuple[str, int]
MAX_PARTITIONS = 100  # assigned at once
FETCH_BYTES = 64 * 1024  # per partition: one record is all that is wanted


def record_timestamps(
    consumer: Any,
    positions: Mapping[TP, int],
    timeout_s: float,
    *,
    max_partitions: int = MAX_PARTITIONS,
    clock: Callable[[], float] = time.monotonic,
) -> dict[TP, float]:
    """Epoch seconds of the first record at or after each position, for the partitions answered in time.

    A position below the log start (retention deleted it) gives the oldest record still there.
    """
    deadline = clock() + timeout_s
    found: dict[TP, float] = {}
    for chunk in _chunks(sorted(positions), max_partitions):
        pending = {TopicPartition(t, p) for t, p in chunk}
        consumer.assign(sorted(pending))
        for tp in pending:
            consumer.seek(tp, positions[(tp.topic, tp.partition)])
        while pending and (left := deadline - clock()) > 0:
            batches = consumer.poll(timeout_ms=max(1, round(min(left, 1.0) * 1000)), max_records=len(pending) * 10)
            for tp, records in batches.items():
                if tp in pending and records:
                    found[(tp.topic, tp.partition)] = records[0].timestamp / 1000.0
                    pending.discard(tp)
                    consumer.pause(tp)
        if pending:
            break
    return found


def consumer_for(bootstrap_servers: Sequence[str], request_timeout_ms: int) -> KafkaConsumer:
    """A group-less consumer that reads small fetches and commits nothing."""
    return KafkaConsumer(
        bootstrap_servers=list(bootstrap_servers),
        client_id="kafka-autoscaler-lag",
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=FETCH_BYTES,
        request_timeout_ms=max(request_timeout_ms, 1000),
    )


def _chunks(items: Sequence[TP], size: int) -> Iterator[list[TP]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk
