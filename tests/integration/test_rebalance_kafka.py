"""The rebalancer on a real KRaft cluster: scale out, drain, crash and resume, with no record lost.

One cluster for the module (it gains a broker, so the shared session cluster is not used):
3 brokers in az-1..az-3, two RF-2 topics with data; the tests run in order on it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
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
from kafka_autoscaler.model import Action, Decision, Reason, Target
from kafka_autoscaler.rebalance.executor import ExecutorSettings
from kafka_autoscaler.rebalance.layout import read_layout, reassignments_in_flight
from kafka_autoscaler.rebalance.placement import leader_counts, replica_counts
from kafka_autoscaler.rebalance.service import LocalRebalancer, RebalanceRequest, run_rebalance
from kafka_autoscaler.rebalance.throttle import FOLLOWER_RATE, FOLLOWER_REPLICAS, LEADER_RATE, LEADER_REPLICAS
from kafka_records import read_values

pytestmark = pytest.mark.integration

TOPICS = ("orders", "payments")
PARTITIONS = 6
RECORD = b"x" * 1000
BEFORE = 3000  # records produced before any move: about 3 MB, 250 kB per partition
FAST = ExecutorSettings(max_in_flight=4, poll_interval_s=0.2, throttle_bytes_per_s=20_000_000)


class Ledger:
    """Every record value produced into the topics, to compare with what can be read back."""

    def __init__(self) -> None:
        self.sent: Counter[bytes] = Counter()
        self.errors: list[str] = []

    def produce(self, bootstrap: str, prefix: str, count: int) -> None:
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", retries=10, linger_ms=5)
        try:
            futures = [self._send(producer, prefix, i) for i in range(count)]
            producer.flush()
        finally:
            producer.close()
        self._settle(futures)

    def produce_until(self, bootstrap: str, prefix: str, stop: threading.Event) -> None:
        """Produce a record every few milliseconds until ``stop`` is set (run in a thread)."""
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", retries=10, linger_ms=5)
        futures = []
        try:
            i = 0
            while not stop.is_set():
                futures.append(self._send(producer, prefix, i))
                i += 1
                time.sleep(0.005)
            producer.flush()
        finally:
            producer.close()
        self._settle(futures)

    def _send(self, producer: KafkaProducer, prefix: str, i: int) -> tuple[bytes, Any]:
        value = f"{prefix}-{i}".encode() + RECORD
        return value, producer.send(TOPICS[i % len(TOPICS)], key=str(i).encode(), value=value)

    def _settle(self, futures: list[tuple[bytes, Any]]) -> None:
        for value, future in futures:
            try:
                future.get(timeout=30)
                self.sent[value] += 1
            except Exception as error:  # a lost acknowledged write is what the test looks for
                self.errors.append(f"{type(error).__name__}: {error}")


def read_everything(bootstrap: str) -> Counter[bytes]:
    """Every record in the topics, read from the start of each partition to its end."""
    return Counter(read_values(bootstrap, [TopicPartition(t, p) for t in TOPICS for p in range(PARTITIONS)]))


def throttle_settings(admin: KafkaAdminClient, brokers: list[int]) -> dict[str, dict[str, Any]]:
    """The throttle settings still present on the topics and brokers (empty when cleared)."""
    resources = [ConfigResource(ConfigResourceType.TOPIC, t, [LEADER_REPLICAS, FOLLOWER_REPLICAS]) for t in TOPICS]
    resources += [ConfigResource(ConfigResourceType.BROKER, str(b), [LEADER_RATE, FOLLOWER_RATE]) for b in brokers]
    found: dict[str, dict[str, Any]] = {}
    for kind in admin.describe_configs(resources).values():
        for name, configs in kind.items():
            present = {k: v["value"] for k, v in configs.items() if v.get("value")}
            if present:
                found[name] = present
    return found


def assert_balanced(admin: KafkaAdminClient, racks: dict[int, str], drained: tuple[int, ...] = ()) -> None:
    layout = read_layout(admin)
    staying = [b for b in racks if b not in drained]
    ours = {pid: r for pid, r in layout.assignment.items() if pid[0] in TOPICS}
    replicas = replica_counts(ours, staying)
    preferred = leader_counts(ours, staying)
    assert max(replicas.values()) - min(replicas.values()) <= 1, replicas
    assert max(preferred.values()) - min(preferred.values()) <= 1, preferred
    deadline = time.monotonic() + 10  # brokers learn elected leaders a moment after the controller
    while True:
        actual = Counter(p["leader_id"] for t in admin.describe_topics(list(TOPICS)) for p in t["partitions"])
        if max(actual[b] for b in staying) - min(actual[b] for b in staying) <= 1 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert max(actual[b] for b in staying) - min(actual[b] for b in staying) <= 1, actual
    assert all(len({racks[b] for b in r}) == len(r) for r in ours.values()), ours
    assert not any(b in drained for r in layout.assignment.values() for b in r)


def rebalance_decision() -> Decision:
    return Decision(
        Target.REBALANCE,
        "rebalance",
        Action.REBALANCE,
        0,
        0,
        Reason.PARTITIONS_UNBALANCED,
        "test",
        {"exclude_brokers": []},
    )


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalKafkaCluster]:
    with LocalKafkaCluster() as kafka:
        kafka.start(brokers=3)
        yield kafka


@pytest.fixture(scope="module")
def admin(cluster: LocalKafkaCluster) -> Iterator[KafkaAdminClient]:
    client = KafkaAdminClient(bootstrap_servers=cluster.bootstrap_servers, request_timeout_ms=30_000)
    client.create_topics([NewTopic(t, num_partitions=PARTITIONS, replication_factor=2) for t in TOPICS])
    yield client
    client.close()


@pytest.fixture(scope="module")
def ledger(cluster: LocalKafkaCluster, admin: KafkaAdminClient) -> Ledger:
    book = Ledger()
    book.produce(cluster.bootstrap_servers, "before", BEFORE)
    assert not book.errors
    return book


def test_added_broker_gets_its_share_and_no_record_is_lost(
    cluster: LocalKafkaCluster, admin: KafkaAdminClient, ledger: Ledger
) -> None:
    new_broker = cluster.add_broker()
    assert replica_counts(read_layout(admin).assignment, [new_broker]) == {new_broker: 0}
    rebalancer = LocalRebalancer(admin, settings=FAST)
    stop = threading.Event()
    producing = threading.Thread(target=ledger.produce_until, args=(cluster.bootstrap_servers, "during", stop))
    producing.start()
    try:
        started = time.monotonic()
        detail = rebalancer.start(rebalance_decision())
        moving = rebalancer.in_progress()
        result = rebalancer.wait(timeout_s=300)
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        producing.join()

    assert detail == "rebalance started in the background"
    assert moving is not None and moving >= 1
    assert rebalancer.last_error is None
    assert result is not None and result.status == "complete", result
    assert result.report is not None and result.report.throttled and result.report.throttle_cleared
    print(f"\nrebalance onto broker {new_broker}: {result.plan}; {elapsed:.1f}s ({result.message})")
    assert_balanced(admin, cluster.racks())
    assert replica_counts(read_layout(admin).assignment, [new_broker])[new_broker] == 2 * PARTITIONS * 2 // 4
    assert throttle_settings(admin, list(cluster.racks())) == {}
    assert not ledger.errors
    assert sum(ledger.sent.values()) > BEFORE  # records were produced during the move too
    assert read_everything(cluster.bootstrap_servers) == ledger.sent


def test_rebalancing_a_balanced_cluster_moves_nothing(admin: KafkaAdminClient, ledger: Ledger) -> None:
    result = run_rebalance(RebalanceRequest("rebalance"), admin, settings=FAST)

    assert result.status == "balanced", result
    assert result.plan is not None and result.plan.startswith("0 partitions change")
    assert result.report is not None and result.report.completed == ()


def test_high_cpu_refuses_to_start_moves(cluster: LocalKafkaCluster, admin: KafkaAdminClient) -> None:
    result = run_rebalance(RebalanceRequest("drain", (4,)), admin, settings=FAST, cpu=lambda: 85.0)

    assert result.status == "refused"
    assert "broker CPU is 85.0%, above the 70% limit" in result.message
    assert reassignments_in_flight(admin) == {}
    assert replica_counts(read_layout(admin).assignment, [4])[4] > 0


def test_drained_broker_holds_no_partition(cluster: LocalKafkaCluster, admin: KafkaAdminClient, ledger: Ledger) -> None:
    result = run_rebalance(RebalanceRequest("drain", (4,)), admin, settings=FAST, cpu=lambda: 20.0)

    assert result.status == "complete", result
    assert result.replicas_per_broker[4] == 0
    assert "brokers [4] hold none" in result.message
    assert_balanced(admin, cluster.racks(), drained=(4,))
    assert read_everything(cluster.bootstrap_servers) == ledger.sent


KILLED_RUN = """
import sys
from kafka.admin import KafkaAdminClient
from kafka_autoscaler.rebalance.executor import ExecutorSettings
from kafka_autoscaler.rebalance.service import RebalanceRequest, run_rebalance

admin = KafkaAdminClient(bootstrap_servers=sys.argv[1])
slow = ExecutorSettings(max_in_flight=2, poll_interval_s=0.2, throttle_bytes_per_s=50_000)
run_rebalance(RebalanceRequest("rebalance"), admin, settings=slow)
"""


def test_rebalancer_killed_mid_move_resumes_to_completion(
    cluster: LocalKafkaCluster, admin: KafkaAdminClient, ledger: Ledger
) -> None:
    # After the drain broker 4 is empty: a rebalance has moves to make, slowly (50 kB/s).
    child = subprocess.Popen([sys.executable, "-c", KILLED_RUN, cluster.bootstrap_servers], stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not reassignments_in_flight(admin):
            assert child.poll() is None, f"the rebalancer exited ({child.returncode}) before its first batch"
            assert time.monotonic() < deadline, "no reassignment started within 120 s"
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    left_moving = set(reassignments_in_flight(admin))
    assert left_moving, "the killed run's moves should still be under way"
    assert throttle_settings(admin, list(cluster.racks())), "the killed run set a throttle and never removed it"

    result = run_rebalance(RebalanceRequest("rebalance"), admin, settings=FAST)

    assert result.status == "complete", result
    assert result.report is not None
    assert set(result.report.resumed) <= left_moving
    assert set(result.report.resumed) & set(result.report.completed)
    assert reassignments_in_flight(admin) == {}
    assert throttle_settings(admin, list(cluster.racks())) == {}
    assert_balanced(admin, cluster.racks())
    assert read_everything(cluster.bootstrap_servers) == ledger.sent
