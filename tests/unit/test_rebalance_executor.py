"""Executing a placement against an in-memory Kafka: window, throttle, resume, deadline, CPU, requests."""

from __future__ import annotations

from typing import Any

import pytest
from kafka_autoscaler.model import Action, Decision, Reason, Target
from kafka_autoscaler.rebalance.executor import ExecutorSettings, ReassignmentExecutor
from kafka_autoscaler.rebalance.placement import Move, PlacementError, leader_counts, replica_counts
from kafka_autoscaler.rebalance.service import (
    LocalRebalancer,
    RebalanceRequest,
    RebalanceRequestError,
    run_rebalance,
)
from kafka_autoscaler.rebalance.throttle import (
    FOLLOWER_RATE,
    FOLLOWER_REPLICAS,
    LEADER_RATE,
    LEADER_REPLICAS,
    throttled_replicas,
)
from rebalance_fakes import FakeKafkaAdmin

SIX_AZ = {1: "az-1", 2: "az-2", 3: "az-3", 4: "az-1", 5: "az-2", 6: "az-3"}
WINDOW = ExecutorSettings(max_in_flight=3, poll_interval_s=1.0, throttle_bytes_per_s=1_000_000)


class FakeClock:
    """Monotonic time that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def three_brokers_then_six(polls_per_move: int = 2) -> FakeKafkaAdmin:
    """12 partitions of RF 3 on brokers 1-3 (one per AZ); brokers 4-6 just joined, empty."""
    assignment = {("orders", p): tuple((p + i) % 3 + 1 for i in range(3)) for p in range(12)}
    return FakeKafkaAdmin(assignment, SIX_AZ, polls_per_move=polls_per_move)


def run(kafka: FakeKafkaAdmin, request: RebalanceRequest | None = None, **kwargs: Any) -> Any:
    clock = FakeClock()
    return run_rebalance(
        request or RebalanceRequest("rebalance"),
        kafka,
        settings=kwargs.pop("settings", WINDOW),
        clock=clock,
        sleep=clock.sleep,
        **kwargs,
    )


def test_scale_out_moves_in_a_bounded_window_and_ends_balanced() -> None:
    kafka = three_brokers_then_six()

    result = run(kafka)

    assert result.status == "complete", result.message
    assert kafka.most_moving <= WINDOW.max_in_flight
    assert replica_counts(kafka.assignment, SIX_AZ) == dict.fromkeys(SIX_AZ, 6)
    assert set(leader_counts(kafka.assignment, SIX_AZ).values()) == {2}
    assert result.replicas_per_broker == dict.fromkeys(SIX_AZ, 6)
    assert kafka.moving == {}
    assert "replicas per broker now 6-6" in result.message
    assert 0 < result.report.leaders_elected <= len(result.report.completed)
    assert all(kafka.leaders[pid] == replicas[0] for pid, replicas in kafka.assignment.items())


def test_throttle_is_set_before_the_first_copy_and_removed_after_the_last() -> None:
    kafka = three_brokers_then_six()

    run(kafka)

    kinds = [kind for kind, _ in kafka.log]
    first_move, last_move = kinds.index("reassign"), len(kinds) - 1 - kinds[::-1].index("reassign")
    set_before = [entry for kind, entry in kafka.log[:first_move] if kind == "config"]
    cleared_after = [entry for kind, entry in kafka.log[last_move:] if kind == "config"]
    assert {(k, n) for k, n, _ in set_before} == {("broker", str(b)) for b in SIX_AZ} | {("topic", "orders")}
    assert all(v == "1000000" for k, _, c in set_before if k == "broker" for v in c.values())
    assert all(v is None for _, _, changes in cleared_after for v in changes.values())
    assert {(k, n) for k, n, _ in cleared_after} == {(k, n) for k, n, _ in set_before}
    assert kafka.set_configs() == {}
    assert kinds[-1] == "elect"


def test_throttled_replicas_name_sources_as_leaders_and_new_replicas_as_followers() -> None:
    moves = [
        Move("orders", 0, (1, 2), (4, 2)),
        Move("orders", 3, (2, 3), (3, 2)),  # a reorder copies nothing: not throttled
        Move("pay", 1, (1, 3), (1, 5)),
        Move("pay", 1, (1, 5), (6, 5)),  # the same partition again, after a resumed move
    ]

    assert throttled_replicas(moves) == {"orders": ("0:1,0:2", "0:4"), "pay": ("1:1,1:3,1:5", "1:5,1:6")}


def test_a_run_stopped_by_its_deadline_leaves_moves_to_kafka_and_the_next_run_resumes() -> None:
    kafka = three_brokers_then_six(polls_per_move=5)
    clock = FakeClock()

    first = run_rebalance(
        RebalanceRequest("rebalance"), kafka, settings=WINDOW, deadline=2.5, clock=clock, sleep=clock.sleep
    )

    assert first.status == "incomplete"
    assert first.report.stopped == "time is up"
    assert first.report.in_flight and first.report.not_started
    assert "the next run resumes" in first.message
    still_moving = set(kafka.moving)
    assert kafka.set_configs(), "the throttle stays while Kafka still copies"

    second = run(kafka)

    assert second.status == "complete", second.message
    assert set(second.report.resumed) == still_moving
    assert still_moving <= set(second.report.completed)
    assert replica_counts(kafka.assignment, SIX_AZ) == dict.fromkeys(SIX_AZ, 6)
    assert kafka.set_configs() == {}


def test_moves_left_by_a_crashed_run_are_waited_for_and_built_upon() -> None:
    kafka = three_brokers_then_six()
    kafka.start_move(("orders", 0), (4, 2, 3), polls=4)  # an earlier run moved broker 1's replica to 4

    result = run(kafka)

    assert result.status == "complete", result.message
    assert result.report.resumed == (("orders", 0),)
    assert kafka.overlapping == []
    assert 1 not in kafka.assignment["orders", 0], "the earlier run's move is built upon, not undone"
    assert ": 17 replica copies" in result.plan  # 18 were needed; the earlier run made one
    assert replica_counts(kafka.assignment, SIX_AZ) == dict.fromkeys(SIX_AZ, 6)


def test_high_cpu_refuses_before_anything_changes() -> None:
    kafka = three_brokers_then_six()

    result = run(kafka, cpu=lambda: 85.0)

    assert result.status == "refused"
    assert "broker CPU is 85.0%, above the 70% limit for moving partitions" in result.message
    assert kafka.log == []


def test_cpu_rising_mid_run_stops_new_moves_and_lets_started_ones_finish() -> None:
    kafka = three_brokers_then_six()
    readings = iter([20.0, 20.0, 20.0])

    result = run(kafka, cpu=lambda: next(readings, 75.0), max_cpu_pct=70.0)

    assert result.status == "incomplete"
    assert result.report.stopped is not None and "broker CPU is 75.0%" in result.report.stopped
    assert result.report.not_started and not result.report.in_flight
    assert kafka.moving == {}
    assert kafka.set_configs() == {}


def test_a_broker_that_is_down_stops_the_rebalance() -> None:
    kafka = three_brokers_then_six()
    kafka.fenced = (5,)

    result = run(kafka)

    assert result.status == "refused"
    assert result.message == "brokers [5] are registered but not running; no partition moves until they are"
    assert kafka.log == []


def test_drain_empties_the_brokers_and_balances_the_rest() -> None:
    assignment = {("orders", p): tuple((p + i) % 6 + 1 for i in range(3)) for p in range(12)}
    kafka = FakeKafkaAdmin(assignment, SIX_AZ)

    result = run(kafka, RebalanceRequest("drain", (4, 5, 6)))

    assert result.status == "complete", result.message
    assert replica_counts(kafka.assignment, SIX_AZ) == {1: 12, 2: 12, 3: 12, 4: 0, 5: 0, 6: 0}
    assert result.message.endswith("replicas per broker now 12-12; brokers [4, 5, 6] hold none")


def test_moves_kafka_refuses_are_reported() -> None:
    kafka = FakeKafkaAdmin(
        {("gone", 0): (1, 2), ("orders", 0): (1, 2), ("orders", 1): (2, 1)}, {1: None, 2: None, 3: None}
    )
    kafka.refused_topics.add("gone")

    result = run(kafka)

    assert result.status == "incomplete"
    assert "Kafka refused" in result.message
    assert set(result.report.failed.values()) == {"UnknownTopicOrPartitionError"}
    assert all(t == "gone" for t, _ in result.report.failed)


def test_a_drain_below_the_replication_factor_is_refused_by_placement() -> None:
    kafka = FakeKafkaAdmin({("orders", 0): (1, 2, 3)}, {1: None, 2: None, 3: None})

    with pytest.raises(PlacementError, match="orders-0 has 3 replicas but only 2 brokers"):
        run(kafka, RebalanceRequest("drain", (3,)))
    assert kafka.log == []


def test_a_balanced_cluster_changes_nothing_but_clears_a_forgotten_throttle() -> None:
    kafka = FakeKafkaAdmin({("orders", p): ((p % 3) + 1, (p + 1) % 3 + 1) for p in range(6)}, dict.fromkeys((1, 2, 3)))
    kafka.configs["topic", "orders"] = {LEADER_REPLICAS: "0:1", FOLLOWER_REPLICAS: "0:3"}
    kafka.configs["broker", "2"] = {LEADER_RATE: "10", FOLLOWER_RATE: "10"}

    result = run(kafka)

    assert result.status == "balanced"
    assert [kind for kind, _ in kafka.log] == ["config"] * 4
    assert kafka.set_configs() == {}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"max_in_flight": 0}, "max_in_flight must be at least 1"),
        ({"throttle_bytes_per_s": 0}, "throttle_bytes_per_s must be at least 1"),
        ({"poll_interval_s": 0}, "poll_interval_s must be above 0"),
    ],
)
def test_settings_name_the_bad_value(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ExecutorSettings(**settings)


def test_executor_without_moves_only_sweeps() -> None:
    kafka = FakeKafkaAdmin({("orders", 0): (1, 2)}, dict.fromkeys((1, 2)))

    report = ReassignmentExecutor(kafka, WINDOW).execute([], brokers=[1, 2], topics=["orders"])

    assert report.finished and report.completed == () and not report.throttled and report.throttle_cleared


# ---------------------------------------------------------------------- requests
def decision(target: Target, action: Action, details: dict[str, Any]) -> dict[str, Any]:
    return Decision(target, "k", action, 0, 0, Reason.PARTITIONS_UNBALANCED, "m", details).as_dict()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (decision(Target.REBALANCE, Action.REBALANCE, {"exclude_brokers": []}), RebalanceRequest("rebalance")),
        (decision(Target.REBALANCE, Action.REBALANCE, {}), RebalanceRequest("rebalance")),
        (
            decision(Target.REBALANCE, Action.REBALANCE, {"exclude_brokers": [6, 4]}),
            RebalanceRequest("rebalance", (4, 6)),
        ),
        (decision(Target.BROKERS, Action.DRAIN, {"broker_ids": [5, 4, 6]}), RebalanceRequest("drain", (4, 5, 6))),
    ],
)
def test_request_from_each_decision_shape(data: dict[str, Any], expected: RebalanceRequest) -> None:
    assert RebalanceRequest.from_dict(data) == expected


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (decision(Target.BROKERS, Action.SCALE_OUT, {}), "not brokers/scale_out"),
        (decision(Target.BROKERS, Action.DRAIN, {}), r"details.broker_ids must be a list of broker ids"),
        (decision(Target.BROKERS, Action.DRAIN, {"broker_ids": []}), "a drain decision needs details.broker_ids"),
        (decision(Target.REBALANCE, Action.REBALANCE, {"exclude_brokers": ["4"]}), r"not \['4'\]"),
        ({"target": "rebalance", "action": "rebalance", "details": [1]}, "details must be a mapping"),
    ],
)
def test_bad_request_names_the_problem(data: dict[str, Any], message: str) -> None:
    with pytest.raises(RebalanceRequestError, match=message):
        RebalanceRequest.from_dict(data)


# ---------------------------------------------------------------------- local mode
def test_local_rebalancer_starts_in_the_background_and_runs_one_at_a_time() -> None:
    kafka = three_brokers_then_six()
    kafka.proceed.clear()  # hold every copy until the test lets them go
    rebalancer = LocalRebalancer(kafka, settings=ExecutorSettings(max_in_flight=4, poll_interval_s=0.01))
    rebalance = Decision(Target.REBALANCE, "rebalance", Action.REBALANCE, 0, 0, Reason.PARTITIONS_UNBALANCED, "m")

    first = rebalancer.start(rebalance)
    while not kafka.moving:
        rebalancer.wait(timeout_s=0.01)
    second = rebalancer.start(rebalance)
    moving = rebalancer.in_progress()
    kafka.proceed.set()
    result = rebalancer.wait(timeout_s=30)

    assert first == "rebalance started in the background"
    assert second == "a rebalance is already running in the background; it goes on"
    assert moving == 4
    assert result is not None and result.status == "complete"
    assert rebalancer.last_error is None
    assert rebalancer.in_progress() == 0


def test_local_rebalancer_reports_a_failed_run() -> None:
    kafka = FakeKafkaAdmin({("orders", 0): (1, 2, 3)}, dict.fromkeys((1, 2, 3)))
    rebalancer = LocalRebalancer(kafka)
    drain = Decision(Target.BROKERS, "brokers", Action.DRAIN, 3, 2, Reason.LOAD_LOW, "m", {"broker_ids": [3]})

    rebalancer.start(drain)

    assert rebalancer.wait(timeout_s=30) is None
    assert rebalancer.last_error is not None and rebalancer.last_error.startswith("PlacementError: orders-0 has 3")
