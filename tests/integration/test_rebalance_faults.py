"""kill -9 of a broker in the middle of a rebalance, with a producer writing sequence numbers at acks=all.

Its own cluster (3 brokers, then a 4th joins empty), with Kafka's automatic leader rebalance
off so that the leaders are balanced by the rebalancer or not at all. One warm admin client is
used throughout, as a warm Lambda keeps one. Afterwards: no acknowledged record lost,
throttles cleared, replicas and leaders per broker within one of each other.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic
from kafka.producer import KafkaProducer
from kafka.structs import TopicPartition
from kafka_autoscaler.local.cluster import LocalKafkaCluster
from kafka_autoscaler.rebalance.executor import ExecutorSettings
from kafka_autoscaler.rebalance.layout import read_layout, reassignments_in_flight
from kafka_autoscaler.rebalance.placement import replica_counts
from kafka_autoscaler.rebalance.service import RebalanceRequest, RebalanceResult, run_rebalance
from kafka_autoscaler.rebalance.throttle import FOLLOWER_RATE, FOLLOWER_REPLICAS, LEADER_RATE, LEADER_REPLICAS
from kafka_records import read_values

pytestmark = pytest.mark.integration

TOPIC = "faults"
PARTITIONS = 8
PAD = b"x" * 1000
PRELOAD = 2500  # about 2.5 MB before the rebalance starts
SLOW = ExecutorSettings(max_in_flight=2, poll_interval_s=0.5, throttle_bytes_per_s=100_000)
FAST = ExecutorSettings(max_in_flight=8, poll_interval_s=0.5, throttle_bytes_per_s=50_000_000)
VICTIM = 2


class SequenceProducer:
    """Writes 0, 1, 2, ... at acks=all and counts what was sent and acknowledged."""

    def __init__(self, bootstrap: str) -> None:
        self._producer = KafkaProducer(
            bootstrap_servers=bootstrap, acks="all", retries=1_000_000, linger_ms=5, request_timeout_ms=10_000
        )
        self.sent = 0
        self.acked: set[int] = set()
        self.failed: list[str] = []

    def send(self, seq: int) -> Any:
        self.sent += 1
        future = self._producer.send(TOPIC, key=str(seq).encode(), value=str(seq).encode() + b":" + PAD)
        future.add_callback(lambda _: self.acked.add(seq))
        future.add_errback(lambda error: self.failed.append(f"{seq}: {error}"))
        return future

    def run(self, start: int, stop: threading.Event) -> None:
        seq = start
        while not stop.is_set():
            self.send(seq)
            seq += 1
            time.sleep(0.004)

    def close(self) -> None:
        self._producer.flush(timeout=120)
        self._producer.close()


def read_back(bootstrap: str) -> Counter[int]:
    """How often each sequence number is in the topic, read from every partition's start to its end."""
    values = read_values(bootstrap, [TopicPartition(TOPIC, p) for p in range(PARTITIONS)], timeout_s=180)
    return Counter(int(value.split(b":", 1)[0]) for value in values)


def throttles(admin: KafkaAdminClient, brokers: list[int]) -> dict[str, dict[str, Any]]:
    resources = [ConfigResource(ConfigResourceType.TOPIC, TOPIC, [LEADER_REPLICAS, FOLLOWER_REPLICAS])]
    resources += [ConfigResource(ConfigResourceType.BROKER, str(b), [LEADER_RATE, FOLLOWER_RATE]) for b in brokers]
    found: dict[str, dict[str, Any]] = {}
    for kind in admin.describe_configs(resources).values():
        for name, configs in kind.items():
            if present := {k: v["value"] for k, v in configs.items() if v.get("value")}:
                found[name] = present
    return found


def leaders_per_broker(admin: KafkaAdminClient, brokers: list[int]) -> dict[int, int]:
    counts = Counter(p["leader_id"] for t in admin.describe_topics([TOPIC]) for p in t["partitions"])
    return {b: counts[b] for b in brokers}


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalKafkaCluster]:
    with LocalKafkaCluster(server_config={"auto.leader.rebalance.enable": "false"}) as kafka:
        kafka.start(brokers=3)
        yield kafka


def test_kill_9_of_a_broker_mid_rebalance_loses_no_acknowledged_record(cluster: LocalKafkaCluster) -> None:
    bootstrap = cluster.bootstrap_servers
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000)  # warm, kept throughout
    admin.create_topics([NewTopic(TOPIC, num_partitions=PARTITIONS, replication_factor=2)])
    admin.wait_for_topics([TOPIC], timeout_ms=60_000)
    producer = SequenceProducer(bootstrap)
    for seq in range(PRELOAD):
        producer.send(seq)
    producer._producer.flush(timeout=60)
    new_broker = cluster.add_broker()
    brokers = [1, 2, 3, new_broker]

    stop = threading.Event()
    producing = threading.Thread(target=producer.run, args=(PRELOAD, stop), daemon=True)
    producing.start()
    outcome: dict[str, Any] = {}

    def rebalance() -> None:
        try:
            outcome["result"] = run_rebalance(RebalanceRequest("rebalance"), admin, settings=SLOW)
        except Exception as error:  # the point of the test: a broker crash must not end the run this way
            outcome["error"] = f"{type(error).__name__}: {error}"

    try:
        running = threading.Thread(target=rebalance, daemon=True)
        running.start()
        deadline = time.monotonic() + 120
        while not reassignments_in_flight(admin):
            assert running.is_alive(), f"the rebalance ended before moving: {outcome}"
            assert time.monotonic() < deadline, "no reassignment started within 120 s"
            time.sleep(0.1)
        cluster.stop_broker(VICTIM, kill=True)  # SIGKILL: no controlled shutdown
        running.join(timeout=300)
        assert not running.is_alive(), "the rebalance did not return within 300 s of the crash"
        assert "error" not in outcome, outcome["error"]
        during: RebalanceResult = outcome["result"]
        print(f"\nrun during the crash: {during.status}: {during.message}")
        assert during.status in {"incomplete", "complete"}, during.message

        # Fenced now (the controller's session timeout has passed): a new run refuses, with the reason.
        deadline = time.monotonic() + 60
        while VICTIM not in read_layout(admin).fenced:
            assert time.monotonic() < deadline, "the killed broker was never fenced"
            time.sleep(0.5)
        refused = run_rebalance(RebalanceRequest("rebalance"), admin, settings=FAST)
        assert refused.status == "refused" and f"[{VICTIM}]" in refused.message, refused.message

        cluster.restart_broker(VICTIM)
        results = [run_rebalance(RebalanceRequest("rebalance"), admin, settings=FAST)]
        while results[-1].status not in {"complete", "balanced"} and len(results) < 4:
            results.append(run_rebalance(RebalanceRequest("rebalance"), admin, settings=FAST))
        print(f"after the restart: {[(r.status, r.message) for r in results]}")
        assert results[-1].status in {"complete", "balanced"}, results[-1].message
    finally:
        stop.set()
        producing.join(timeout=60)
        producer.close()

    seen = read_back(bootstrap)
    lost = sorted(producer.acked - set(seen))
    duplicates = sum(n - 1 for n in seen.values() if n > 1)
    leaders = leaders_per_broker(admin, brokers)
    replicas = replica_counts({p: r for p, r in read_layout(admin).assignment.items() if p[0] == TOPIC}, brokers)
    print(
        f"sent {producer.sent}, acknowledged {len(producer.acked)}, failed {len(producer.failed)}, "
        f"read back {sum(seen.values())} ({len(seen)} distinct), duplicates {duplicates}, lost {len(lost)}; "
        f"leaders per broker {leaders}, replicas per broker {replicas}"
    )
    assert lost == [], f"{len(lost)} acknowledged records lost, first {lost[:10]}"
    assert throttles(admin, brokers) == {}
    assert reassignments_in_flight(admin) == {}
    assert max(replicas.values()) - min(replicas.values()) <= 1, replicas
    assert max(leaders.values()) - min(leaders.values()) <= 1, leaders
    admin.close()
