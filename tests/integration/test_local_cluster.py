"""The local KRaft cluster: start, racks, produce/consume, add and stop brokers, CLI tools."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.consumer import KafkaConsumer
from kafka.producer import KafkaProducer
from kafka_autoscaler.local.cluster import (
    CONSUMER_GROUP_TOOL,
    BrokerStartError,
    KafkaJarsMissingError,
    LocalKafkaCluster,
)

pytestmark = pytest.mark.integration

_OWNER_SCRIPT = """
import json, sys, time
from kafka_autoscaler.local.cluster import LocalKafkaCluster
cluster = LocalKafkaCluster()
cluster.start(brokers=1)
pids = [*cluster.broker_pids().values(), cluster.controller_pid]
print(json.dumps({"pids": pids, "work_dir": str(cluster.work_dir)}), flush=True)
time.sleep(600)
"""


def _live_brokers(bootstrap: str, *, include_fenced: bool = False) -> dict[int, str]:
    """Broker id -> rack, as kafka-python's DescribeCluster sees the cluster."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        brokers = admin.describe_cluster()["brokers"]
    finally:
        admin.close()
    return {b["broker_id"]: b["rack"] for b in brokers if include_fenced or not b["is_fenced"]}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _produce_and_consume(bootstrap: str, topic: str, group: str, count: int) -> list[bytes]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=3)])
    finally:
        admin.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for i in range(count):
        producer.send(topic, key=str(i % 3).encode(), value=f"record-{i}".encode())
    producer.flush()
    producer.close()
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest")
    values: list[bytes] = []
    deadline = time.monotonic() + 30
    try:
        while len(values) < count and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                values.extend(record.value for record in records)
        consumer.commit()
    finally:
        consumer.close()
    return values


def test_starts_three_brokers_in_three_racks(kafka_cluster: LocalKafkaCluster) -> None:
    expected = {1: "az-1", 2: "az-2", 3: "az-3"}
    assert kafka_cluster.racks() == expected
    assert _live_brokers(kafka_cluster.bootstrap_servers) == expected
    assert all(_alive(pid) for pid in kafka_cluster.broker_pids().values())
    assert all(path.is_dir() for node_id in expected for path in kafka_cluster.log_dirs(node_id))


def test_produces_and_consumes_records(kafka_cluster: LocalKafkaCluster) -> None:
    values = _produce_and_consume(kafka_cluster.bootstrap_servers, f"orders-{uuid.uuid4().hex[:8]}", "g1", 30)
    assert sorted(values) == sorted(f"record-{i}".encode() for i in range(30))


def test_added_broker_joins_and_stopped_broker_leaves(kafka_cluster: LocalKafkaCluster) -> None:
    node_id = kafka_cluster.add_broker()
    assert node_id == 4
    assert kafka_cluster.racks()[node_id] == "az-1"
    assert set(_live_brokers(kafka_cluster.bootstrap_servers)) == {1, 2, 3, 4}
    pid = kafka_cluster.broker_pids()[node_id]

    kafka_cluster.stop_broker(node_id, unregister=True)

    assert not _alive(pid)
    assert set(kafka_cluster.broker_pids()) == {1, 2, 3}
    assert set(_live_brokers(kafka_cluster.bootstrap_servers, include_fenced=True)) == {1, 2, 3}


def test_consumer_group_command_lists_groups(kafka_cluster: LocalKafkaCluster) -> None:
    group = f"cli-{uuid.uuid4().hex[:8]}"
    _produce_and_consume(kafka_cluster.bootstrap_servers, f"cli-{group}", group, 3)

    result = kafka_cluster.run_tool(
        CONSUMER_GROUP_TOOL, "--bootstrap-server", kafka_cluster.bootstrap_servers, "--list"
    )

    assert result.returncode == 0, result.stderr
    assert group in result.stdout.split()


def test_stop_ends_every_process_and_removes_work_dir() -> None:
    cluster = LocalKafkaCluster()
    cluster.start(brokers=1)
    pids = [*cluster.broker_pids().values(), cluster.controller_pid]
    work_dir = cluster.work_dir

    cluster.stop()

    assert len(pids) == 2
    assert not any(_alive(pid) for pid in pids if pid is not None)
    assert work_dir is not None
    assert not work_dir.exists()


def test_missing_jars_give_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KafkaJarsMissingError, match=r"local-kafka/fetch\.sh"):
        LocalKafkaCluster(libs_dir=tmp_path).start()


def test_broker_that_cannot_start_fails_with_its_log() -> None:
    cluster = LocalKafkaCluster(server_config={"num.io.threads": "many"})
    with pytest.raises(BrokerStartError, match=r"num\.io\.threads"):
        cluster.start(brokers=1)
    assert cluster.controller_pid is None


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_no_java_process_outlives_its_python_owner(signum: int) -> None:
    owner = subprocess.Popen([sys.executable, "-c", _OWNER_SCRIPT], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        started = json.loads(owner.stdout.readline())
        owner.send_signal(signum)
        owner.wait(timeout=60)
    finally:
        owner.kill()
    pids: list[int] = started["pids"]
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    shutil.rmtree(started["work_dir"], ignore_errors=True)  # SIGKILL leaves it behind
    assert not any(_alive(pid) for pid in pids)
