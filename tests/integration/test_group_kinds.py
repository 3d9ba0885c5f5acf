"""KIP-848 consumer groups and KIP-932 share groups on real Kafka, next to Kafka's own tools.

Kafka's consumers of the new protocol (`group.protocol=consumer`) and share consumers are
Kafka's console tools, run from the cluster's jars; kafka-python speaks neither protocol.
Share groups need the `share.version` feature at 1, raised here as `kafka-features` does.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from builders import binding, config
from fakes import FakeWorld, ports_for
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic, OffsetSpec
from kafka.structs import OffsetAndMetadata, TopicPartition
from kafka_autoscaler.cli import main
from kafka_autoscaler.engine import tick
from kafka_autoscaler.local.cluster import (
    CONSOLE_CONSUMER,
    CONSOLE_SHARE_CONSUMER,
    CONSUMER_GROUP_TOOL,
    SHARE_GROUP_TOOL,
    LocalKafkaCluster,
)
from kafka_autoscaler.model import Action, Reason, ServiceState
from kafka_autoscaler.observe.kafka_lag import KafkaLagSource

pytestmark = pytest.mark.integration

RUN = uuid.uuid4().hex[:6]
TOPIC = f"kinds-{RUN}"
MODERN, QUEUE, OLD = f"kinds-kip848-{RUN}", f"kinds-share-{RUN}", f"kinds-exact-{RUN}"
PARTITIONS = 3
FIRST, MORE = 30, 12  # records per partition before the consumers start, and after they stop


def _produce(bootstrap: str, per_partition: int, timestamp_ms: int | None = None) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for partition in range(PARTITIONS):
        for i in range(per_partition):
            producer.send(TOPIC, f"{partition}-{i}".encode(), partition=partition, timestamp_ms=timestamp_ms)
    producer.flush()
    producer.close()


def _until(check: Callable[[], bool], what: str, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(2)


def _table(stdout: str, columns: int) -> list[list[str]]:
    """Data rows of a tool's table (its header starts with GROUP)."""
    return [cells for line in stdout.splitlines() if len(cells := line.split()) == columns and cells[0] != "GROUP"]


def _tool(cluster: LocalKafkaCluster, tool: str, group: str, *args: str) -> str:
    result = cluster.run_tool(
        tool, "--bootstrap-server", cluster.bootstrap_servers, "--describe", "--group", group, *args
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _ours(cluster: LocalKafkaCluster, capsys: pytest.CaptureFixture[str], group: str) -> dict[str, Any]:
    args = ["lag", "--bootstrap-server", cluster.bootstrap_servers, "--interval", "0", "--json", "--group", group]
    assert main(args) == 0, capsys.readouterr().err
    (report,) = json.loads(capsys.readouterr().out)["groups"]
    return report  # type: ignore[no-any-return]


@dataclass
class Members:
    cluster: LocalKafkaCluster
    running: list[subprocess.Popen[bytes]]

    def stop(self) -> None:
        for process in self.running:
            self.cluster.stop_tool(process)
        self.running = []


@pytest.fixture(scope="module")
def members(kafka_cluster: LocalKafkaCluster) -> Iterator[Members]:
    """One KIP-848 consumer and one share consumer on TOPIC, both caught up and live."""
    cluster = kafka_cluster
    cluster.upgrade_feature("share.version", 1)
    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap_servers)
    admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])
    admin.wait_for_topics([TOPIC], timeout_ms=30_000)
    _produce(cluster.bootstrap_servers, FIRST)
    bootstrap = ("--bootstrap-server", cluster.bootstrap_servers, "--topic", TOPIC)
    modern = cluster.start_tool(
        CONSOLE_CONSUMER,
        *bootstrap,
        "--group",
        MODERN,
        "--from-beginning",
        "--consumer-property",
        "group.protocol=consumer",
    )
    queue = cluster.start_tool(CONSOLE_SHARE_CONSUMER, *bootstrap, "--group", QUEUE)
    running = Members(cluster, [modern, queue])
    try:
        _until(lambda: _caught_up(cluster, MODERN), "the KIP-848 consumer to commit everything")
        # A share-partition gets its start offset when the member first fetches a record from it
        # (share.auto.offset.reset=latest: records produced after it joined).
        _until(lambda: _produce(cluster.bootstrap_servers, 1) or _share_started(cluster), "share-partition state")
        yield running
    finally:
        running.stop()
        admin.close()


def _caught_up(cluster: LocalKafkaCluster, group: str) -> bool:
    rows = _table(_tool(cluster, CONSUMER_GROUP_TOOL, group), 9)
    return len(rows) == PARTITIONS and all(row[5] == "0" for row in rows)


def _share_started(cluster: LocalKafkaCluster) -> bool:
    rows = _table(_tool(cluster, SHARE_GROUP_TOOL, QUEUE), 4)
    return len(rows) == PARTITIONS and all(row[3] != "-" for row in rows)


def test_kip848_and_share_groups_show_the_state_and_members_kafka_shows_then_equal_lag(
    members: Members, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = members.cluster
    for group, tool in ((MODERN, CONSUMER_GROUP_TOOL), (QUEUE, SHARE_GROUP_TOOL)):
        (state_row,) = _table(_tool(cluster, tool, group, "--state"), 6 if tool == CONSUMER_GROUP_TOOL else 5)
        ours = _ours(cluster, capsys, group)
        assert (ours["state"], ours["members"]) == (state_row[-2], int(state_row[-1])) == ("Stable", 1), group
        assert ours["group_type"] == ("share" if group == QUEUE else "consumer")
    members.stop()
    _until(lambda: _ours(cluster, capsys, MODERN)["members"] == 0, "the KIP-848 member to leave")
    _until(lambda: _ours(cluster, capsys, QUEUE)["members"] == 0, "the share member to leave")
    _produce(cluster.bootstrap_servers, MORE)
    modern_tool = {int(r[2]): int(r[5]) for r in _table(_tool(cluster, CONSUMER_GROUP_TOOL, MODERN), 9)}
    share_start = {int(r[2]): int(r[3]) for r in _table(_tool(cluster, SHARE_GROUP_TOOL, QUEUE), 4)}
    modern, queue = _ours(cluster, capsys, MODERN), _ours(cluster, capsys, QUEUE)
    assert {p["partition"]: p["lag"] for p in modern["partitions"]} == modern_tool == dict.fromkeys(range(3), MORE)
    # A share group's lag is the end offset minus the share-partition start offset Kafka prints.
    assert {p["partition"]: p["end_offset"] - share_start[p["partition"]] for p in queue["partitions"]} == {
        p["partition"]: p["lag"] for p in queue["partitions"]
    }
    assert queue["total_lag"] >= PARTITIONS * MORE
    assert (modern["state"], queue["state"]) == ("Empty", "Empty")
    # The same status rules as a classic group: lag, nobody left in the group, offsets still: STOP.
    args = ["lag", "--bootstrap-server", cluster.bootstrap_servers, "--interval", "1", "--samples", "3", "--json"]
    assert main([*args, "--group", MODERN, "--group", QUEUE]) == 0
    judged = {g["group_id"]: g for g in json.loads(capsys.readouterr().out)["groups"]}
    for group in (MODERN, QUEUE):
        assert {p["status"] for p in judged[group]["partitions"] if p["lag"] > 0} == {"STOP"}, group
        assert judged[group]["status"] == "ERR"


def test_a_group_that_does_not_exist_exits_1_and_says_so(
    kafka_cluster: LocalKafkaCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    typo = f"orders-procesor-{RUN}"
    assert main(["lag", "--bootstrap-server", kafka_cluster.bootstrap_servers, "--interval", "0", "--group", typo]) == 1
    assert f"group '{typo}' does not exist" in capsys.readouterr().err


def test_exact_time_lag_reads_the_next_records_timestamp(members: Members, capsys: pytest.CaptureFixture[str]) -> None:
    cluster = members.cluster
    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap_servers)
    written = int(time.time() * 1000) - 90_000  # produced "90 s ago" (CreateTime set by the producer)
    try:
        end = admin.list_partition_offsets({TopicPartition(TOPIC, p): OffsetSpec.LATEST for p in range(PARTITIONS)})
        admin.alter_group_offsets(OLD, {tp: OffsetAndMetadata(o.offset, "", -1) for tp, o in end.items()})
    finally:
        admin.close()
    _produce(cluster.bootstrap_servers, 2, timestamp_ms=written)
    args = ["lag", "--bootstrap-server", cluster.bootstrap_servers, "--interval", "0", "--json", "--group", OLD]
    assert main([*args, "--exact"]) == 0
    (exact,) = json.loads(capsys.readouterr().out)["groups"]
    assert all(p["time_lag_exact"] for p in exact["partitions"])
    assert all(89.0 <= p["time_lag_s"] <= 150.0 for p in exact["partitions"])
    assert main(args) == 0
    (estimated,) = json.loads(capsys.readouterr().out)["groups"]
    assert all(p["time_lag_s"] is None for p in estimated["partitions"]), "one read cannot estimate a time lag"


def test_a_refused_connection_fails_well_before_the_timeout() -> None:
    command = [sys.executable, "-m", "kafka_autoscaler", "lag", "--bootstrap-server", "127.0.0.1:1"]
    started = time.monotonic()
    refused = subprocess.run([*command, "--timeout", "30"], capture_output=True, text=True, timeout=60, check=False)
    elapsed = time.monotonic() - started  # includes the interpreter's start, slow on a loaded machine
    assert refused.returncode == 1
    assert "cannot reach Kafka at 127.0.0.1:1" in refused.stderr and "refused" in refused.stderr.lower()
    assert elapsed < 15, f"took {elapsed:.1f}s with --timeout 30"


DOOMED, RENAMED = f"kinds-doomed-{RUN}", f"kinds-renamed-old-{RUN}"


def _scaler_binding(group_id: str, topics: list[str], **extra: Any) -> dict[str, Any]:
    return binding(
        group_id=group_id, topics=topics, ecs={"cluster": "c", "service": group_id}, min_tasks=1, **extra
    ).model_dump(mode="json")


def test_the_scalers_tick_holds_for_a_deleted_topic_and_a_renamed_group_and_scales_kip848_and_share_groups(
    members: Members,
) -> None:
    cluster = members.cluster
    members.stop()  # the lag of MODERN and QUEUE stays where the first test left it
    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap_servers)
    try:
        admin.create_topics([NewTopic(DOOMED, 2, 1)])
        admin.wait_for_topics([DOOMED], timeout_ms=30_000)
        admin.alter_group_offsets(DOOMED, {TopicPartition(DOOMED, p): OffsetAndMetadata(0, "", -1) for p in range(2)})
        admin.delete_topics([DOOMED])
        _until(lambda: bool(admin.describe_topics([DOOMED])[0]["error_code"]), "the topic to be deleted")
        cfg = config(
            brokers={"enabled": False},
            storage={"mode": "off"},
            consumers=[
                _scaler_binding(DOOMED, [DOOMED]),
                _scaler_binding(RENAMED, [TOPIC]),
                _scaler_binding(MODERN, [TOPIC]),
                _scaler_binding(QUEUE, [TOPIC], group_type="share", mode="lag_threshold", lag_threshold=5),
            ],
        )
        groups = (DOOMED, RENAMED, MODERN, QUEUE)
        world = FakeWorld(cluster=None, groups={}, services={g: ServiceState("c", g, 6, 6, 0) for g in groups})
        ports = replace(ports_for(world), lag=KafkaLagSource(admin))
        result = tick(cfg, ports, time.time(), "test")
    finally:
        admin.close()
    assert result.snapshot is not None and result.plan is not None
    decisions = {d.key.removeprefix("consumer:"): d for d in result.plan.decisions}
    problems = " | ".join(result.snapshot.problems)
    for held in (DOOMED, RENAMED):
        assert (decisions[held].action, decisions[held].reason) == (Action.HOLD, Reason.MISSING_DATA), held
        assert world.services[held].desired == 6, "missing data never scales in"
    assert f"'{DOOMED}' (UnknownTopicOrPartitionError) could not be described" in problems
    assert f"group '{RENAMED}' does not exist" in problems
    modern = result.snapshot.groups[MODERN]
    assert (modern.state, modern.members, modern.partition_count) == ("Empty", 0, PARTITIONS)
    # Its lag is read (one tick has no produce rate yet, so a scale-in would wait; none is due here).
    assert "lag could not be read" not in decisions[MODERN].message
    assert decisions[MODERN].details["largest_partition_lag"] == max(p.lag for p in modern.partitions) > 0
    queue = result.snapshot.groups[QUEUE]
    assert queue.group_type == "share" and queue.total_lag >= PARTITIONS * MORE
    # KEDA-style sizing, ceil(lag / 5), with no cap at the 3 partitions: share consumers can outnumber them.
    assert world.services[QUEUE].desired == min(20, -(-queue.total_lag // 5)) > PARTITIONS
    assert decisions[QUEUE].reason is not Reason.CAPPED_AT_PARTITIONS
