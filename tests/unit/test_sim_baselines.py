"""The baselines against hand-computed cases from their documented formulas."""

from __future__ import annotations

import numpy as np
import pytest
from kafka_autoscaler.sim.baselines.clairvoyant import tasks_for_rates
from kafka_autoscaler.sim.baselines.keda import KedaHpa, hpa_replicas, keda_metric, scale_up_limit, stabilized
from kafka_autoscaler.sim.baselines.static import Static
from kafka_autoscaler.sim.baselines.target_tracking import TargetTracking, lag_per_task, proportional_capacity
from kafka_autoscaler.sim.cloudwatch import AlarmState, Datapoint, DelayedSeries, TreatMissing, evaluate_alarm
from kafka_autoscaler.sim.model import World
from kafka_autoscaler.sim.settings import SimSettings
from kafka_autoscaler.sim.trace import Trace

FLAT = Trace.from_rows([(0, 2000.0), (3600, 2000.0)])


@pytest.mark.parametrize(
    ("total_lag", "partitions", "threshold", "metric", "why"),
    [
        (500, 10, 100, 500, "below the cap"),
        (1100, 10, 100, 1000, "1100 // 100 = 11 > 10: capped at 10 * 100"),
        (1099, 10, 100, 1099, "1099 // 100 = 10 is not > 10: passes uncapped (issue 4483)"),
    ],
)
def test_keda_metric_caps_with_integer_division(
    total_lag: int, partitions: int, threshold: int, metric: int, why: str
) -> None:
    assert keda_metric(total_lag, partitions, threshold) == metric, why


def test_keda_issue_4483_asks_for_one_replica_more_than_partitions() -> None:
    # The issue's case: 5 partitions, lagThreshold 5; a lag of 29 reaches the HPA uncapped.
    usage = keda_metric(29, 5, 5)
    assert hpa_replicas(usage, 5, status_replicas=5) == 6


@pytest.mark.parametrize(
    ("usage", "status", "expected", "why"),
    [
        (1050, 10, 10, "ratio 1.05 is inside the 10% tolerance"),
        (900, 10, 10, "ratio 0.9 is on the tolerance's edge: no change"),
        (1200, 10, 12, "ratio 1.2: ceil(1200 / 100)"),
        (0, 4, 0, "no lag: zero before minReplicas clamps it"),
    ],
)
def test_hpa_replica_calculator(usage: int, status: int, expected: int, why: str) -> None:
    assert hpa_replicas(usage, 100, status) == expected, why


@pytest.mark.parametrize(
    ("current", "recommendations", "expected", "why"),
    [
        (10, [(0, 10), (15, 4)], 10, "a recommendation of 10 is still in the 300 s window"),
        (10, [(0, 6), (15, 4)], 6, "down to the highest of the window"),
        (3, [(0, 2), (15, 5)], 5, "scale-up has no stabilization"),
    ],
)
def test_hpa_stabilization(current: int, recommendations: list[tuple[int, int]], expected: int, why: str) -> None:
    assert stabilized(current, recommendations) == expected, why


def test_hpa_default_scale_up_rate() -> None:
    assert scale_up_limit(1) == 5  # +4 pods beats +100 %
    assert scale_up_limit(10) == 20  # +100 % beats +4 pods


def test_keda_scale_down_waits_for_the_stabilization_window() -> None:
    world = World(FLAT, SimSettings(partitions=8, task_noise=0.0, partition_skew=0.0))
    keda = KedaHpa(world)
    world.start(6)  # 2000 msgs/s needs 2; lag stays 0, so the HPA recommends the minimum
    desired_at: dict[int, int] = {}
    for now in range(1, 400):
        world.step(now)
        keda.on_second(now)
        desired_at[now] = world.ecs.desired
    assert desired_at[299] == 6  # the first recommendation (t=15) is still in the window
    assert desired_at[315] == 1


def test_target_tracking_formulas() -> None:
    assert proportional_capacity(4, 50_000, 30_000) == 7  # ceil(4 * 5 / 3)
    lag = [Datapoint(0, 120.0, 0), Datapoint(60, None, 0), Datapoint(120, 90.0, 0)]
    running = [Datapoint(0, 4.0, 0), Datapoint(60, 4.0, 0), Datapoint(120, 0.0, 0)]
    assert [p.value for p in lag_per_task(lag, running)] == [30.0, None, None]


def points_of(row: str) -> list[Datapoint]:
    """The documentation's notation: 0 not breaching, X breaching, - missing (threshold: above 10)."""
    values = {"0": 5.0, "X": 20.0, "-": None}
    return [Datapoint(60 * i, values[c], 0) for i, c in enumerate(row.split())]


# "Configuring how CloudWatch alarms treat missing data", the two tables of examples
# (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html#alarms-and-missing-data):
# 5 datapoints retrieved, the MISSING and NOT BREACHING columns.
@pytest.mark.parametrize(
    ("row", "m", "n", "missing", "not_breaching"),
    [
        ("0 - X - X", 3, 3, "OK", "OK"),
        ("0 - - - -", 3, 3, "OK", "OK"),
        ("- - - - -", 3, 3, "INSUFFICIENT_DATA", "OK"),
        ("0 X X - X", 3, 3, "ALARM", "ALARM"),
        ("- - - - X", 3, 3, "INSUFFICIENT_DATA", "OK"),
        ("X - - - -", 3, 3, "ALARM", "OK"),
        ("0 - X - X", 2, 3, "ALARM", "ALARM"),
        ("0 0 X 0 X", 2, 3, "ALARM", "ALARM"),
        ("0 - X - -", 2, 3, "OK", "OK"),
        ("- - - - 0", 2, 3, "OK", "OK"),
        ("- - - - X", 2, 3, "INSUFFICIENT_DATA", "OK"),
    ],
)
def test_alarm_states_follow_the_documented_missing_data_table(
    row: str, m: int, n: int, missing: str, not_breaching: str
) -> None:
    points = points_of(row)
    assert evaluate_alarm(points, m, n, above=10.0) is AlarmState(missing)
    assert evaluate_alarm(points, m, n, above=10.0, treat_missing=TreatMissing.NOT_BREACHING) is AlarmState(
        not_breaching
    )


def test_late_datapoints_are_not_seen_before_they_arrive() -> None:
    series = DelayedSeries()
    series.publish(0, 1.0, visible_at=150)
    series.publish(60, 2.0, visible_at=230)
    series.publish(120, 3.0, visible_at=200)  # arrived first, but waits for the minute before it
    assert [p.value for p in series.visible(210, 5)] == [1.0]
    assert [p.value for p in series.visible(230, 5)] == [1.0, 2.0, 3.0]


def publish_lag(world: World, per_task_lags: list[float], tasks: int) -> None:
    for minute, per_task in enumerate(per_task_lags):
        world.sum_offset_lag.publish(60 * minute, per_task * tasks, 0)
        world.running_tasks.publish(60 * minute, float(tasks), 0)


def test_target_tracking_scales_out_after_three_datapoints_and_counts_cooldown_capacity() -> None:
    world = World(FLAT, SimSettings(partitions=16))  # threshold 1000 * 60 / 2 = 30000 per task
    tracking = TargetTracking(world)
    world.start(4)
    publish_lag(world, [40_000, 50_000], tasks=4)
    tracking.on_second(150)
    assert world.ecs.desired == 4  # two datapoints are not three
    publish_lag(world, [40_000, 50_000, 50_000], tasks=4)
    world.sum_offset_lag.points = world.sum_offset_lag.points[2:]
    world.running_tasks.points = world.running_tasks.points[2:]
    tracking.on_second(210)
    assert world.ecs.desired == 7  # ceil(4 * 50000 / 30000)
    publish_lag(world, [50_000, 50_000, 50_000, 60_000], tasks=4)
    world.sum_offset_lag.points = world.sum_offset_lag.points[-4:]
    world.running_tasks.points = world.running_tasks.points[-4:]
    tracking.on_second(270)
    # In the cooldown the 3 tasks already added count: ceil(4 * 60000 / 30000) = 8, not 7 * 2.
    assert world.ecs.desired == 8


def test_target_tracking_keeps_scaling_out_through_a_missing_minute() -> None:
    # MSK publishes no lag while the group rebalances; with TreatMissingData `missing` the
    # high alarm evaluates the 3 most recent datapoints present (X X - X -> ALARM).
    world = World(FLAT, SimSettings(partitions=16))
    tracking = TargetTracking(world)
    world.start(4)
    for minute, per_task in enumerate([40_000, 45_000, None, 60_000]):
        world.sum_offset_lag.publish(60 * minute, None if per_task is None else per_task * 4, 0)
        world.running_tasks.publish(60 * minute, 4.0, 0)
    tracking.on_second(270)
    assert world.ecs.desired == 8  # ceil(4 * 60000 / 30000), from the newest datapoint present


def publish_minutes(world: World, minutes: range, per_task: float, tasks: int) -> None:
    for minute in minutes:
        world.sum_offset_lag.publish(60 * minute, per_task * tasks, 0)
        world.running_tasks.publish(60 * minute, float(tasks), 0)


def test_target_tracking_scales_in_only_after_fifteen_low_minutes_and_then_each_cooldown() -> None:
    world = World(FLAT, SimSettings(partitions=16))
    tracking = TargetTracking(world)
    world.start(8)
    publish_minutes(world, range(14), 10_000, tasks=8)  # 10,000 per task: below 90 % of 30,000
    tracking.on_second(14 * 60 + 30)
    assert world.ecs.desired == 8, "14 low datapoints are not 15"
    publish_minutes(world, range(14, 15), 10_000, tasks=8)
    tracking.on_second(15 * 60 + 30)
    assert world.ecs.desired == 3  # ceil(8 * 10000 / 30000): rounded up, never below the target
    publish_minutes(world, range(15, 19), 10_000, tasks=3)
    tracking.on_second(19 * 60 + 30)
    assert world.ecs.desired == 3, "the scale-in cooldown (300 s) holds the next step"
    publish_minutes(world, range(19, 20), 10_000, tasks=3)
    tracking.on_second(20 * 60 + 30)
    assert world.ecs.desired == 1  # ceil(3 * 10000 / 30000)


def test_clairvoyant_sizing_accounts_for_partition_assignment() -> None:
    shares = np.full(4, 0.25)
    needed = tasks_for_rates(np.array([150.0, 250.0, 500.0]), shares, task_capacity=100.0, ceiling=8)
    # 150: two tasks of two partitions take 75 each. 250: three tasks leave one with two
    # partitions (125 > 100), so four. 500: more than four tasks cannot help; capped at 4.
    assert needed.tolist() == [2, 4, 4]


def test_static_is_sized_for_the_peak() -> None:
    trace = Trace.from_rows([(0, 1000.0), (60, 7500.0), (120, 1000.0)])
    world = World(trace, SimSettings(partitions=64, partition_skew=0.0))
    assert Static(world).initial_tasks() == 8  # ceil(7500 / 1000), 8 partitions each
