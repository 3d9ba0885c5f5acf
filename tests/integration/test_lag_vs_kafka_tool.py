"""The scaler's lag reader and `kafka-autoscaler lag` against Kafka's own kafka-consumer-groups tool.

One quiet scenario (nothing produces or commits while it is compared) on the shared local cluster:
- `active`: a live member that consumed part of two topics and committed;
- `uncommitted`: a live member that never committed (Kafka prints "-");
- `parked`: committed offsets, never a member (Empty);
- `deserted`: consumed and committed, then its only member left (Empty);
- `trimmed`: committed on a topic whose log start delete-records moved, one commit below it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.structs import OffsetAndMetadata, TopicPartition
from kafka_autoscaler.cli import main
from kafka_autoscaler.config import ConsumerBinding, EcsService
from kafka_autoscaler.local.cluster import CONSUMER_GROUP_TOOL, LocalKafkaCluster
from kafka_autoscaler.model import GroupLag, PartitionLag, ScalerState
from kafka_autoscaler.observe.kafka_lag import KafkaLagSource

pytestmark = pytest.mark.integration

RUN = uuid.uuid4().hex[:6]
ORDERS, PAYMENTS, TRIMMED = f"lag-orders-{RUN}", f"lag-payments-{RUN}", f"lag-trimmed-{RUN}"
ACTIVE, UNCOMMITTED, PARKED, DESERTED, TRIMMER = (
    f"lag-{name}-{RUN}" for name in ("active", "uncommitted", "parked", "deserted", "trimmed")
)
GROUPS = (ACTIVE, UNCOMMITTED, PARKED, DESERTED, TRIMMER)
LOG_START = 30  # delete-records moves TRIMMED's log start here


@dataclass(frozen=True)
class ToolRow:
    """One row of `kafka-consumer-groups --describe`; None where it prints "-"."""

    group: str
    topic: str
    partition: int
    current: int | None
    end: int | None
    lag: int | None
    consumer: str | None


def _int(cell: str) -> int | None:
    return None if cell == "-" else int(cell)


def parse_describe(stdout: str) -> dict[tuple[str, str, int], ToolRow]:
    """Rows of the tool's offsets table by (group, topic, partition); headers and blank lines skipped."""
    rows: dict[tuple[str, str, int], ToolRow] = {}
    for line in stdout.splitlines():
        cells = line.split()
        if len(cells) != 9 or cells[0] == "GROUP":
            continue
        group, topic, partition, current, end, lag, consumer = cells[:7]
        row = ToolRow(
            group, topic, int(partition), _int(current), _int(end), _int(lag), None if consumer == "-" else consumer
        )
        rows[(group, topic, row.partition)] = row
    return rows


def _binding(group_id: str, topics: list[str] | None = None) -> ConsumerBinding:
    return ConsumerBinding(group_id=group_id, topics=topics or [], ecs=EcsService(cluster="c", service=group_id))


def _consume(bootstrap: str, group: str, topics: list[str], count: int, *, commit: bool) -> KafkaConsumer:
    """A member of `group` that read `count` records (then committed them when asked) and stays joined."""
    consumer = KafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=5,
    )
    seen, deadline = 0, time.monotonic() + 60
    while (seen < count or not consumer.assignment()) and time.monotonic() < deadline:
        seen += sum(len(records) for records in consumer.poll(500, max_records=count - seen or 1).values())
    assert consumer.assignment(), f"{group} never got partitions"
    if commit:
        consumer.commit()
    return consumer


@dataclass(frozen=True)
class Scenario:
    cluster: LocalKafkaCluster
    admin: KafkaAdminClient
    log_start: dict[tuple[str, int], int]


@pytest.fixture(scope="module")
def scenario(kafka_cluster: LocalKafkaCluster) -> Iterator[Scenario]:
    bootstrap = kafka_cluster.bootstrap_servers
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(ORDERS, 4, 1), NewTopic(PAYMENTS, 3, 1), NewTopic(TRIMMED, 2, 1)])
    admin.wait_for_topics([ORDERS, PAYMENTS, TRIMMED], timeout_ms=30_000)
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for topic, partitions in ((ORDERS, 4), (PAYMENTS, 3), (TRIMMED, 2)):
        for partition in range(partitions):
            for i in range(20 + 15 * partition + (60 if topic == TRIMMED else 0)):
                producer.send(topic, f"{topic}-{partition}-{i}".encode(), partition=partition)
    producer.flush()
    producer.close()
    members = [
        _consume(bootstrap, ACTIVE, [ORDERS, PAYMENTS], 40, commit=True),
        _consume(bootstrap, UNCOMMITTED, [TRIMMED], 10, commit=False),
    ]
    _consume(bootstrap, DESERTED, [ORDERS], 25, commit=True).close()
    admin.alter_group_offsets(
        PARKED, {TopicPartition(PAYMENTS, p): OffsetAndMetadata(5 * p + 1, "", -1) for p in range(3)}
    )
    admin.alter_group_offsets(
        TRIMMER,
        {
            TopicPartition(TRIMMED, 0): OffsetAndMetadata(10, "", -1),
            TopicPartition(TRIMMED, 1): OffsetAndMetadata(50, "", -1),
        },
    )
    admin.delete_records({TopicPartition(TRIMMED, p): LOG_START for p in range(2)})
    try:
        yield Scenario(kafka_cluster, admin, {(TRIMMED, 0): LOG_START, (TRIMMED, 1): LOG_START})
    finally:
        for member in members:
            member.close()
        admin.close()


def _tool(cluster: LocalKafkaCluster, *args: str) -> dict[tuple[str, str, int], ToolRow]:
    result = cluster.run_tool(CONSUMER_GROUP_TOOL, "--bootstrap-server", cluster.bootstrap_servers, "--describe", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return parse_describe(result.stdout)


def _assert_matches_tool(tool: dict[tuple[str, str, int], ToolRow], ours: dict[str, GroupLag], s: Scenario) -> int:
    """Every row Kafka's tool prints for our groups has the same end offset, commit and LAG in ours."""
    compared = 0
    for (group, topic, partition), row in tool.items():
        if group not in GROUPS:
            continue
        mine = {(p.topic, p.partition): p for p in ours[group].partitions}[(topic, partition)]
        assert mine.end_offset == row.end, (group, topic, partition)
        assert mine.committed_offset == row.current, (group, topic, partition)
        if row.current is None:
            # Kafka prints "-"; the scaler counts from the log start (see observe/kafka_lag.py).
            assert row.lag is None
            assert mine.lag == mine.end_offset - s.log_start.get((topic, partition), 0)
        else:
            assert mine.lag == row.lag, (group, topic, partition)
        compared += 1
    return compared


def test_reader_matches_kafka_tool_per_partition(scenario: Scenario) -> None:
    tool = _tool(scenario.cluster, *(arg for g in GROUPS for arg in ("--group", g)))
    observed = KafkaLagSource(scenario.admin).read([_binding(g) for g in GROUPS], ScalerState(), time.time())
    assert observed.problems == ()
    assert set(observed.groups) == set(GROUPS)
    assert _assert_matches_tool(tool, dict(observed.groups), scenario) == len(tool)
    shown = Counter(group for group, _, _ in tool)
    assert (shown[ACTIVE], shown[UNCOMMITTED], shown[PARKED], shown[TRIMMER]) == (7, 2, 3, 2)
    assert shown[DESERTED] >= 1, "the deserted group's commits outlive its member"

    groups = observed.groups
    assert (groups[ACTIVE].state, groups[ACTIVE].members) == ("Stable", 1)
    assert (groups[UNCOMMITTED].state, groups[UNCOMMITTED].members) == ("Stable", 1)
    for empty in (PARKED, DESERTED, TRIMMER):
        assert (groups[empty].state, groups[empty].members) == ("Empty", 0)
    # Below the log start Kafka's LAG still counts from the commit: 80 - 10, not 80 - 30.
    trimmed = {p.partition: p for p in groups[TRIMMER].partitions}
    assert (trimmed[0].committed_offset, trimmed[0].lag) == (10, 70)
    assert groups[UNCOMMITTED].total_lag == sum(p.end_offset - LOG_START for p in groups[UNCOMMITTED].partitions)
    assert all(p.produce_rate is None and p.time_lag_s in (None, 0.0) for g in groups.values() for p in g.partitions)
    topics = ((ORDERS, 4), (PAYMENTS, 3), (TRIMMED, 2))
    assert set(observed.end_offsets) == {f"{t}:{p}" for t, n in topics for p in range(n)}
    assert set(observed.commits) == {f"{g}|{t}:{p}" for (g, t, p), row in tool.items() if row.current is not None}


def test_bound_topics_limit_the_partitions_and_a_missing_topic_makes_the_group_missing(scenario: Scenario) -> None:
    observed = KafkaLagSource(scenario.admin).read([_binding(ACTIVE, [PAYMENTS])], ScalerState(), time.time())
    assert {p.topic for p in observed.groups[ACTIVE].partitions} == {PAYMENTS}
    assert observed.groups[ACTIVE].partition_count == 3
    absent = f"lag-absent-{RUN}"
    observed = KafkaLagSource(scenario.admin).read([_binding(ACTIVE, [PAYMENTS, absent])], ScalerState(), time.time())
    assert observed.groups == {}, "a bound topic that cannot be described is missing data, not lag 0"
    assert any(f"'{absent}' (UnknownTopicOrPartitionError) could not be described" in p for p in observed.problems)


def test_all_groups_from_the_tool_and_the_command_agree(scenario: Scenario, capsys: pytest.CaptureFixture[str]) -> None:
    tool = _tool(scenario.cluster, "--all-groups")
    assert main(["lag", "--bootstrap-server", scenario.cluster.bootstrap_servers, "--interval", "0", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    ours = {
        g["group_id"]: GroupLag(
            group_id=g["group_id"],
            source="kafka",
            total_lag=g["total_lag"],
            max_time_lag_s=g["max_time_lag_s"],
            produce_rate=g["produce_rate"],
            consume_rate=g["consume_rate"],
            partition_count=len(g["partitions"]),
            partitions=tuple(_partition(p) for p in g["partitions"]),
        )
        for g in report["groups"]
    }
    assert set(GROUPS) <= set(ours)
    assert _assert_matches_tool(tool, ours, scenario) == sum(1 for group, _, _ in tool if group in GROUPS) >= 15
    one_read = [p for g in report["groups"] if g["group_id"] in GROUPS for p in g["partitions"]]
    assert all(p["produce_rate"] is None for p in one_read), "one read has no rate"
    assert all(p["status"] is None or p["lag"] == 0 for p in one_read), "one read cannot judge a lagging partition"


def _partition(row: dict[str, Any]) -> PartitionLag:
    return PartitionLag(row["topic"], row["partition"], row["end_offset"], row["committed_offset"], row["lag"])


def test_two_reads_give_rates_time_lag_bounds_and_burrow_status(
    scenario: Scenario, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["lag", "--bootstrap-server", scenario.cluster.bootstrap_servers, "--interval", "1", "--json"]
    assert main([*args, "--group", ACTIVE, "--group", DESERTED]) == 0
    groups = {g["group_id"]: g for g in json.loads(capsys.readouterr().out)["groups"]}
    for group in groups.values():
        for p in group["partitions"]:
            assert p["produce_rate"] == 0.0, "nothing was produced between the reads"
            if p["lag"] > 0:
                assert p["time_lag_lower_bound"] is True, "the commit is older than the first read"
                assert p["time_lag_s"] >= 1.0
    lagging = {
        g: [p for p in groups[g]["partitions"] if p["lag"] > 0 and p["committed_offset"] is not None] for g in groups
    }
    assert lagging[ACTIVE] and lagging[DESERTED]
    # A live member that does not move its offset stalls; a group nobody is in has stopped.
    assert {p["status"] for p in lagging[ACTIVE]} == {"STALL"}
    assert {p["status"] for p in lagging[DESERTED]} == {"STOP"}
    assert groups[ACTIVE]["status"] == groups[DESERTED]["status"] == "ERR"


def test_command_prints_an_aligned_table_and_fails_clearly_without_a_broker(scenario: Scenario) -> None:
    command = [sys.executable, "-m", "kafka_autoscaler", "lag", "--interval", "0"]
    shown = subprocess.run(
        [*command, "--bootstrap-server", scenario.cluster.bootstrap_servers, "--group", TRIMMER],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    header = next(line for line in lines if line.startswith("GROUP"))
    rows = [line for line in lines if line.startswith(TRIMMER)]
    partition_committed_lag = {(cells[2], cells[3], cells[5]) for cells in (row.split() for row in rows)}
    assert partition_committed_lag == {("0", "10", "70"), ("1", "50", "45")}
    columns = [m.start() for m in re.finditer(r"\S+", header)]
    for row in rows:
        assert [m.start() for m in re.finditer(r"\S+", row)] == columns, "cells start under their headers"
    refused = subprocess.run(
        [*command, "--bootstrap-server", "127.0.0.1:1", "--timeout", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 1
    assert "cannot reach Kafka at 127.0.0.1:1" in refused.stderr


class _CountingSend:
    """Wraps the admin client's send to count requests by type."""

    def __init__(self, admin: KafkaAdminClient) -> None:
        self.counts: Counter[str] = Counter()
        self._send = admin._manager.send

    def __call__(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        self.counts[type(request).__name__] += 1
        return self._send(request, *args, **kwargs)


def test_requests_per_read_do_not_grow_with_partitions(scenario: Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    bootstrap = scenario.cluster.bootstrap_servers
    counts: dict[int, Counter[str]] = {}
    for width in (10, 200):
        topic, group = f"lag-wide{width}-{RUN}", f"lag-wide{width}-{RUN}"
        scenario.admin.create_topics([NewTopic(topic, width, 1)])
        scenario.admin.wait_for_topics([topic], timeout_ms=60_000)
        scenario.admin.alter_group_offsets(
            group, {TopicPartition(topic, p): OffsetAndMetadata(0, "", -1) for p in range(width)}
        )
        # A read right after creation may meet brokers that do not know the new leaders yet
        # (NOT_LEADER, retried); settle first, then count on a fresh client.
        KafkaLagSource(scenario.admin).read([_binding(group)], ScalerState(), time.time())
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            counting = _CountingSend(admin)
            monkeypatch.setattr(admin._manager, "send", counting)
            observed = KafkaLagSource(admin).read([_binding(group)], ScalerState(), time.time())
        finally:
            admin.close()
        assert observed.groups[group].partition_count == width
        counts[width] = counting.counts
    assert counts[10] == counts[200]
    assert 1 <= counts[200]["ListOffsetsRequest"] <= len(scenario.cluster.broker_pids())
