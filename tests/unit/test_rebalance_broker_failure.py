"""The rebalancer when a broker fails: retries with a fresh look, no new moves while one is down, leaders back."""

from __future__ import annotations

from collections import Counter
from typing import Any

from kafka.errors import KafkaConnectionError, NodeNotReadyError
from kafka_autoscaler.rebalance.executor import ExecutorSettings
from kafka_autoscaler.rebalance.layout import preferred_not_leading, read_layout, with_retries
from kafka_autoscaler.rebalance.service import RebalanceRequest, run_rebalance
from rebalance_fakes import FakeKafkaAdmin, Moving

SIX_AZ = {1: "az-1", 2: "az-2", 3: "az-3", 4: "az-1", 5: "az-2", 6: "az-3"}
SETTINGS = ExecutorSettings(max_in_flight=3, poll_interval_s=1.0, throttle_bytes_per_s=1_000_000)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def six_brokers(polls_per_move: int = 2) -> FakeKafkaAdmin:
    assignment = {("orders", p): tuple((p + i) % 3 + 1 for i in range(3)) for p in range(12)}
    return FakeKafkaAdmin(assignment, SIX_AZ, polls_per_move=polls_per_move)


def run(kafka: Any, clock: Clock | None = None) -> Any:
    clock = clock or Clock()
    return run_rebalance(RebalanceRequest("rebalance"), kafka, settings=SETTINGS, clock=clock, sleep=clock.sleep)


class Flaky(FakeKafkaAdmin):
    """The controller a client cached goes away: `failures` controller calls fail until it looks again."""

    def __init__(self, failures: int, **kwargs: Any) -> None:
        base = six_brokers()
        super().__init__(base.assignment, base.racks, **kwargs)
        self.failures = failures
        self._controller_id: int | None = 1
        self.refreshed = 0

    def list_partition_reassignments(self, topic_partitions: Any = None, timeout_ms: int | None = None) -> Any:
        if self._controller_id is None:
            self.refreshed += 1
            self._controller_id = 2
        if self.failures > 0 and self.moving:  # once moves are under way
            self.failures -= 1
            self._controller_id = 1
            raise KafkaConnectionError("connection to node 1 refused")
        return super().list_partition_reassignments(topic_partitions, timeout_ms)


def test_a_lost_controller_is_looked_up_again_with_backoff_and_the_run_completes() -> None:
    kafka, clock = Flaky(failures=3), Clock()
    result = run(kafka, clock)
    assert result.status == "complete", result.message
    assert kafka.refreshed == 3, "each retry forgets the cached controller"
    assert "0.5,1.0,2.0" in ",".join(str(s) for s in clock.sleeps), f"backoff doubles: {clock.sleeps}"
    assert result.report.throttle_cleared


def test_kafka_unreachable_beyond_the_retries_stops_cleanly_and_the_next_run_resumes() -> None:
    kafka = Flaky(failures=10_000)
    kafka.failures = 0
    clock = Clock()
    calls = {"n": 0}
    original = kafka.list_partition_reassignments

    def failing_after_start(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] > 2:
            raise NodeNotReadyError("every broker is unreachable")
        return original(*args, **kwargs)

    kafka.list_partition_reassignments = failing_after_start  # type: ignore[method-assign]
    stopped = run(kafka, clock)
    assert stopped.status == "incomplete", stopped.message
    assert "Kafka unreachable (NodeNotReadyError" in stopped.report.stopped
    assert not stopped.report.throttle_cleared and kafka.set_configs(), "the throttle waits for the next run"
    kafka.list_partition_reassignments = original  # type: ignore[method-assign]
    resumed = run(kafka)
    assert resumed.status == "complete", resumed.message
    assert kafka.set_configs() == {} and kafka.moving == {}


def test_no_new_move_starts_while_a_broker_is_down_and_after_its_return_leaders_are_balanced() -> None:
    kafka = six_brokers(polls_per_move=3)
    clock = Clock()
    original = kafka.list_partition_reassignments

    def crash_broker_2_after_first_batch(*args: Any, **kwargs: Any) -> Any:
        if kafka.moving and 2 not in kafka.fenced:
            kafka.crash(2)
        return original(*args, **kwargs)

    kafka.list_partition_reassignments = crash_broker_2_after_first_batch  # type: ignore[method-assign]
    first = run(kafka, clock)
    started = [entry for kind, entry in kafka.log if kind == "reassign"]
    assert first.status == "incomplete"
    assert first.report.stopped == "brokers [2] are down; no new partition move until they are back"
    assert len(started) == 1, "only the batch submitted before the crash"
    kafka.list_partition_reassignments = original  # type: ignore[method-assign]

    refused = run(kafka)
    assert refused.status == "refused" and "[2]" in refused.message

    kafka.recover(2)
    assert Counter(kafka.leaders.values())[2] == 0, "a restarted broker leads nothing"
    done = run(kafka)
    assert done.status == "complete", done.message
    leaders = Counter(kafka.leaders.values())
    assert max(leaders[b] for b in SIX_AZ) - min(leaders[b] for b in SIX_AZ) <= 1, leaders
    assert preferred_not_leading(kafka, kafka.assignment) == []


def test_a_balanced_cluster_after_a_restart_still_gets_its_leaders_back() -> None:
    assignment = {("orders", p): tuple((p + i) % 3 + 1 for i in range(2)) for p in range(6)}
    kafka = FakeKafkaAdmin(assignment, {1: "az-1", 2: "az-2", 3: "az-3"})
    kafka.crash(1)
    kafka.recover(1)
    assert Counter(kafka.leaders.values()) == {2: 4, 3: 2}
    result = run(kafka)
    assert result.status == "balanced", result.message
    assert result.report.leaders_elected == 2
    assert Counter(kafka.leaders.values()) == {1: 2, 2: 2, 3: 2}


def test_a_warm_client_with_a_dead_controller_reads_the_layout_after_looking_again() -> None:
    kafka = Flaky(failures=2)
    kafka.moving = {("orders", 0): kafka.moving.get(("orders", 0)) or _moving()}
    sleeps: list[float] = []
    layout = read_layout(kafka, sleep=sleeps.append)
    assert sleeps == [0.5, 1.0] and kafka.refreshed == 2
    assert ("orders", 0) in layout.in_flight


def _moving() -> Moving:
    return Moving((4, 2, 3), (4,), (1,), 5)


def test_with_retries_gives_up_after_the_last_delay_with_the_last_error() -> None:
    attempts: list[int] = []

    def refused() -> None:
        attempts.append(1)
        raise KafkaConnectionError("refused")

    try:
        with_retries(object(), refused, "a call", delays=(0.1, 0.2), sleep=lambda s: None)  # type: ignore[arg-type]
    except KafkaConnectionError:
        pass
    else:
        raise AssertionError("the last error is raised")
    assert len(attempts) == 3
