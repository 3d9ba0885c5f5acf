"""Exact time lag: the write time of the record at each position, bounded in partitions and time."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from kafka.structs import TopicPartition
from kafka_autoscaler.observe.record_times import record_timestamps


class Consumer:
    """Answers polls with one record per assigned partition, except those in `silent`; each poll takes 1 s."""

    def __init__(self, silent: frozenset[tuple[str, int]] = frozenset()) -> None:
        self.silent = silent
        self.assigned: list[list[TopicPartition]] = []
        self.positions: dict[TopicPartition, int] = {}
        self.paused: set[TopicPartition] = set()
        self.now = 0.0

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.assigned.append(list(partitions))

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.positions[tp] = offset

    def pause(self, tp: TopicPartition) -> None:
        self.paused.add(tp)

    def poll(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Any]]:
        self.now += 1.0
        return {
            tp: [SimpleNamespace(offset=self.positions[tp], timestamp=1_000_000 + self.positions[tp])]
            for tp in self.assigned[-1]
            if (tp.topic, tp.partition) not in self.silent and tp not in self.paused
        }


def test_each_position_gives_its_records_write_time_in_chunks_of_bounded_size() -> None:
    consumer = Consumer()
    positions = {("t", p): 100 * p for p in range(5)}
    found = record_timestamps(consumer, positions, timeout_s=30, max_partitions=2, clock=lambda: consumer.now)
    assert found == {("t", p): (1_000_000 + 100 * p) / 1000 for p in range(5)}
    assert [len(chunk) for chunk in consumer.assigned] == [2, 2, 1]


def test_partitions_not_answered_in_time_are_left_out_and_the_rest_not_asked() -> None:
    consumer = Consumer(silent={("t", 0)})
    positions = {("t", p): 5 for p in range(4)}
    found = record_timestamps(consumer, positions, timeout_s=3, max_partitions=2, clock=lambda: consumer.now)
    assert found == {("t", 1): 1000.005}
    assert len(consumer.assigned) == 1, "the time was spent: the next chunk is not started"
