"""Consumer policy: one row per case, with the expected action, count and reason, and why."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from builders import binding, group, service
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka_autoscaler.config import ConsumerBinding, ConsumerMode
from kafka_autoscaler.model import Action, GroupLag, RateHistory, RateSeries, Reason, ScalerState, ServiceState
from kafka_autoscaler.policy.consumers import decide_consumers
from kafka_autoscaler.policy.forecast import find_periods

NOW = 1_700_000_000.0


@dataclass(frozen=True)
class Case:
    name: str
    why: str
    group: GroupLag | None
    service: ServiceState | None
    expected: tuple[Action, int, Reason]
    binding: dict[str, Any] = field(default_factory=dict)
    state: ScalerState = field(default_factory=ScalerState)


# fmt: off
CASES = [
    Case("steady", "12 x 40 msg/s: 4.8 tasks of 100, but a task takes 2 partitions at most, so 6",
         group(produce=40.0), service(6), (Action.HOLD, 6, Reason.WITHIN_TOLERANCE)),
    Case("partitions pack by count", "5 tasks would leave the busiest 3 x 40 = 120 msg/s of 100",
         group(produce=40.0), service(5), (Action.SCALE_OUT, 6, Reason.LAG_ABOVE_TARGET)),
    Case("ramp", "240 msg/s + 7,200 backlog/60 s = 3.6 tasks; 30 msg/s per partition packs 3 per task -> 4",
         group(produce=20.0, lag=600), service(1), (Action.SCALE_OUT, 4, Reason.LAG_ABOVE_TARGET)),
    Case("ramp, lots of backlog", "60 msg/s per partition: one partition per task -> 12",
         group(produce=40.0, lag=1200), service(4), (Action.SCALE_OUT, 12, Reason.LAG_ABOVE_TARGET)),
    Case("step limit", "12 asked, at most +3 at once",
         group(produce=40.0, lag=1200), service(1), (Action.SCALE_OUT, 4, Reason.SCALE_OUT_LIMITED),
         binding={"max_scale_out_step": 3}),
    Case("no step limit by default", "12 asked, none of them starting: all at once",
         group(produce=40.0, lag=1200), service(1), (Action.SCALE_OUT, 12, Reason.LAG_ABOVE_TARGET),
         binding={"max_scale_out_step": None}),
    Case("drain capacity goes once drained", "12 bought for a backlog; the rate alone needed 6 all window",
         group(produce=40.0), service(12), (Action.SCALE_IN, 6, Reason.LAG_BELOW_TARGET),
         state=ScalerState(recommendations={"consumer:orders-processor": ((NOW - 400, 6), (NOW - 60, 6))})),
    Case("no scale in below what the backlog still needs", "16 run, 600 msgs left per partition: 50 msg/s "
         "each, 2 per task would fill a task with no headroom, so 12, not the window's 6",
         group(produce=40.0, lag=600), service(16), (Action.SCALE_IN, 12, Reason.LAG_BELOW_TARGET),
         binding={"max_tasks": 16},
         state=ScalerState(recommendations={"consumer:orders-processor": ((NOW - 400, 6), (NOW - 60, 6))})),
    Case("at max", "12 asked, max_tasks is 6",
         group(produce=40.0, lag=1200), service(4), (Action.SCALE_OUT, 6, Reason.AT_MAX), binding={"max_tasks": 6}),
    Case("threshold capped at partitions", "100,000 / 1000 = 100 tasks, but 12 partitions",
         group(lag=8334), service(4), (Action.SCALE_OUT, 12, Reason.CAPPED_AT_PARTITIONS),
         binding={"mode": "lag_threshold", "lag_threshold": 1000}),
    Case("KEDA 4483 edge", "3 partitions, lag 3001 at 1000: ceil gives 4, a 4th task would idle",
         group(partitions=3, lag=1000, overrides={0: {"lag": 1001}}), service(1),
         (Action.SCALE_OUT, 3, Reason.CAPPED_AT_PARTITIONS), binding={"mode": "lag_threshold", "lag_threshold": 1000}),
    Case("threshold exact", "3000 / 1000 = 3 exactly, no extra task",
         group(partitions=6, lag=500), service(1), (Action.SCALE_OUT, 3, Reason.LAG_ABOVE_TARGET),
         binding={"mode": "lag_threshold", "lag_threshold": 1000}),
    Case("scale in waits for the window", "2 would do but nothing is recorded yet",
         group(produce=15.0), service(6), (Action.HOLD, 6, Reason.SCALE_IN_STABILIZING)),
    Case("scale in to the window's highest", "recommendations 3, 2, 2 over 300 s: go to 3",
         group(produce=15.0), service(6), (Action.SCALE_IN, 3, Reason.LAG_BELOW_TARGET),
         state=ScalerState(recommendations={"consumer:orders-processor": ((NOW - 400, 3), (NOW - 200, 2), (NOW - 60, 2))})),
    Case("no scale in while rebalancing", "the group is moving partitions; rates are unreliable",
         group(produce=15.0, state="PreparingRebalance"), service(6), (Action.HOLD, 6, Reason.GROUP_REBALANCING),
         state=ScalerState(recommendations={"consumer:orders-processor": ((NOW - 400, 2),)})),
    Case("no scale in during a deployment", "ECS is replacing tasks",
         group(produce=15.0), service(6, deployment=True), (Action.HOLD, 6, Reason.DEPLOYMENT_IN_PROGRESS),
         state=ScalerState(recommendations={"consumer:orders-processor": ((NOW - 400, 2),)})),
    Case("missing lag", "no data never scales", None, service(6), (Action.HOLD, 6, Reason.MISSING_DATA)),
    Case("missing service", "nothing to scale", group(), None, (Action.HOLD, 0, Reason.MISSING_DATA)),
    Case("unknown rate never scales in", "first sample: rates unknown, demand may be too low",
         group(produce=None, consume=0.0), service(6), (Action.HOLD, 6, Reason.MISSING_DATA),
         state=ScalerState(recommendations={"consumer:orders-processor": ((NOW - 400, 1),)})),
    Case("every lagging partition stuck", "offsets frozen while lag grows: more tasks cannot help",
         group(produce=40.0, lag=0, overrides={3: {"lag": 50_000, "stalled_for_s": 900, "consume_rate": 0.0}}),
         service(6), (Action.HOLD, 6, Reason.STUCK_PARTITION)),
    Case("a hot partition is bounded", "one partition at 900 msg/s counts as one task, not nine",
         group(partitions=4, produce=10.0, overrides={0: {"produce_rate": 900.0}}), service(1),
         (Action.SCALE_OUT, 2, Reason.LAG_ABOVE_TARGET)),
    Case("cooldown", "scaled 30 s ago",
         group(produce=40.0, lag=1200), service(4), (Action.HOLD, 4, Reason.COOLDOWN),
         state=ScalerState(last_action_t={"consumer:orders-processor": NOW - 30})),
    Case("within tolerance", "64 x 15 msg/s packs 6 per task -> 11 tasks; 10 run: inside 10%",
         group(partitions=64, produce=15.0), service(10), (Action.HOLD, 10, Reason.WITHIN_TOLERANCE),
         binding={"max_tasks": 64}),
    Case("late data overrides the dead band", "as above, but time lag is 75 s against a 60 s target",
         group(partitions=64, produce=15.0, time_lag_s=75.0), service(10),
         (Action.SCALE_OUT, 11, Reason.LAG_ABOVE_TARGET), binding={"max_tasks": 64}),
    Case("tasks still starting", "8 asked for 100 s ago, 4 run: wait before asking for more",
         group(produce=40.0, lag=1200), service(8, running=4), (Action.HOLD, 8, Reason.TASKS_STARTING),
         state=ScalerState(last_action_t={"consumer:orders-processor": NOW - 100})),
    Case("tasks that never start stop blocking", "asked 10 min ago and still not running: scale anyway",
         group(produce=40.0, lag=1200), service(8, running=4), (Action.SCALE_OUT, 12, Reason.LAG_ABOVE_TARGET),
         state=ScalerState(last_action_t={"consumer:orders-processor": NOW - 600})),
    Case("from zero", "min 0, any lag starts one task",
         group(partitions=2, produce=0.5, lag=5), service(0), (Action.SCALE_OUT, 1, Reason.LAG_ABOVE_TARGET),
         binding={"min_tasks": 0}),
    Case("measured throughput wins", "480 msg/s at a measured 200 per task packs 5 per task -> 3",
         group(produce=40.0), service(5), (Action.HOLD, 5, Reason.SCALE_IN_STABILIZING),
         state=ScalerState(task_throughput={"orders-processor": 200.0})),
    Case("even spread", "12 partitions: 5 tasks leave 3 on the busiest, so do 4",
         group(produce=40.0, lag=500), service(1), (Action.SCALE_OUT, 4, Reason.LAG_ABOVE_TARGET),
         binding={"mode": "lag_threshold", "lag_threshold": 1300, "even_partition_spread": True}),
]
# fmt: on


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_consumer_decision(case: Case) -> None:
    result = decide_consumers(binding(**case.binding), case.group, case.service, case.state, NOW)
    d = result.decision
    assert (d.action, d.desired, d.reason) == case.expected, f"{case.why}: {d.message}"
    assert d.message.startswith("group orders-processor: ")


def test_the_window_remembers_the_rate_not_the_backlog() -> None:
    """12 tasks drain the backlog within the target; the produce rate alone needs 6."""
    result = decide_consumers(binding(), group(produce=40.0, lag=1200), service(4), ScalerState(), NOW)
    assert (result.decision.action, result.decision.desired) == (Action.SCALE_OUT, 12)
    assert result.recommendation == 6
    assert result.decision.details["sustained_tasks"] == 6.0


def test_lag_threshold_remembers_its_recommendation() -> None:
    b = binding(mode="lag_threshold", lag_threshold=1000)
    result = decide_consumers(b, group(lag=1000), service(4), ScalerState(), NOW)
    assert (result.decision.desired, result.recommendation) == (12, 12)
    assert "sustained_tasks" not in result.decision.details


def aggregates(total_lag: int, max_offset_lag: int | None) -> GroupLag:
    """What MSK's CloudWatch metrics give: totals, no partitions."""
    return GroupLag("orders-processor", "cloudwatch", total_lag, None, 100.0, None, 0, max_offset_lag=max_offset_lag)


@pytest.mark.parametrize(
    ("max_offset_lag", "tasks", "why"),
    [
        (None, 11, "100 msg/s + 60,000 drained in 60 s = 1,100 msg/s: 11 tasks of 100"),
        (6_000, 11, "the largest partition is drained by one task within 60 s: no cap"),
        (54_000, 3, "one partition holds 54,000: one task drains 6,000 of it within 60 s, the rest would idle"),
    ],
)
def test_max_offset_lag_caps_what_one_partition_can_use(max_offset_lag: int | None, tasks: int, why: str) -> None:
    b = binding(max_tasks=20)
    d = decide_consumers(b, aggregates(60_000, max_offset_lag), service(1), ScalerState(), NOW).decision
    assert (d.action, d.desired) == (Action.SCALE_OUT, tasks), why
    assert d.details["largest_partition_lag"] == max_offset_lag
    assert ("more tasks cannot share it" in d.message) == (max_offset_lag == 54_000)


def test_hot_partition_is_named_in_the_message() -> None:
    g = group(partitions=4, produce=10.0, overrides={0: {"produce_rate": 900.0}})
    d = decide_consumers(binding(), g, service(1), ScalerState(), NOW).decision
    assert "orders[0]" in d.message and "cannot help" in d.message
    assert d.details["hot_partitions"] == ["orders[0]"]


def test_one_stuck_partition_is_left_out_of_sizing() -> None:
    g = group(produce=40.0, overrides={3: {"lag": 500_000, "stalled_for_s": 900, "consume_rate": 0.0}})
    d = decide_consumers(binding(), g, service(5), ScalerState(), NOW).decision
    assert d.action is Action.HOLD and d.details["stuck_partitions"] == ["orders[3]"]
    assert "stuck" in d.message


@settings(max_examples=300, deadline=None)
@given(
    partitions=st.integers(1, 64),
    produce=st.one_of(st.none(), st.floats(0, 2000)),
    lag=st.integers(0, 10**7),
    current=st.integers(0, 60),
    min_tasks=st.integers(0, 5),
    span=st.integers(0, 40),
    mode=st.sampled_from(list(ConsumerMode)),
    history=st.lists(st.tuples(st.floats(0, 1000), st.integers(0, 60)), max_size=6),
)
def test_changes_stay_in_bounds(
    partitions: int,
    produce: float | None,
    lag: int,
    current: int,
    min_tasks: int,
    span: int,
    mode: ConsumerMode,
    history: list[tuple[float, int]],
) -> None:
    b = binding(min_tasks=min_tasks, max_tasks=min_tasks + span + 1, mode=mode.value)
    recs = tuple(sorted((NOW - age, count) for age, count in history))
    state = ScalerState(recommendations={b.key: recs})
    d = decide_consumers(b, group(partitions, produce, lag), service(current), state, NOW).decision
    if d.action is Action.SCALE_OUT:
        assert current < d.desired <= b.max_tasks
        assert d.desired <= max(partitions, b.min_tasks)
        assert b.max_scale_out_step is None or d.desired - current <= b.max_scale_out_step
    if d.action is Action.SCALE_IN:
        assert b.min_tasks <= d.desired < current
        # never below anything recommended during the window
        assert all(d.desired >= count for t, count in recs if t >= NOW - b.scale_in_stabilization_s)


@settings(max_examples=200, deadline=None)
@given(current=st.integers(0, 40), partitions=st.integers(1, 32), lag=st.integers(0, 10**6))
def test_missing_data_never_scales_in(current: int, partitions: int, lag: int) -> None:
    b = binding(min_tasks=0, max_tasks=40)
    long_history = ScalerState(recommendations={b.key: ((NOW - 1000, 0),)})
    for g in (None, group(partitions, produce=None, lag=lag, consume=0.0)):
        d = decide_consumers(b, g, service(current), long_history, NOW).decision
        assert d.action is not Action.SCALE_IN


# ---------------------------------------------------------------- the forecast floor
def rhythm(minutes: int, period: int = 25, width: int = 5, base: float = 480.0, height: float = 1200.0) -> ScalerState:
    """A produce-rate history ending now: `base` msg/s with `height` for `width` minutes every `period`."""
    m = np.arange(minutes)
    values = base + (height - base) * ((m % period) < width)
    start = math.floor(NOW / 60) * 60 - 60 * (minutes - 1)
    plain = RateSeries(start, tuple(float(v) for v in values))
    s = dataclasses.replace(plain, periods_min=find_periods(plain, 3), periods_t=NOW)
    return ScalerState(rate_history=RateHistory(series={"consumer:orders-processor": s}))


BEFORE_BATCH = rhythm(25 * 8 + 23)  # 8 cycles recorded; the next batch starts in 2 minutes
AFTER_BATCH = rhythm(25 * 8 + 6)  # the batch just ended


def without_forecast(**overrides: Any) -> ConsumerBinding:
    return binding(forecast={"enabled": False}, **overrides)


def test_floor_asks_for_the_batch_ahead_of_time() -> None:
    """480 msg/s needs 6 tasks; the batch coming in 2 minutes (1,200 msg/s) needs 12: asked for now."""
    d = decide_consumers(binding(), group(produce=40.0), service(6), BEFORE_BATCH, NOW).decision
    assert (d.action, d.desired, d.reason) == (Action.SCALE_OUT, 12, Reason.FORECAST_FLOOR), d.message
    assert "ForecastFloor: in each of the last 4 cycles the rate reached 1,200 msg/s" in d.message
    assert d.details["forecast"]["status"] == "trusted" and d.details["forecast"]["floor_tasks"] == 12
    plain = decide_consumers(without_forecast(), group(produce=40.0), service(6), BEFORE_BATCH, NOW).decision
    assert (plain.action, plain.desired) == (Action.HOLD, 6)


def test_floor_is_not_remembered_for_the_scale_in_window() -> None:
    result = decide_consumers(binding(), group(produce=40.0), service(6), BEFORE_BATCH, NOW)
    assert result.recommendation == 6


def test_floor_does_not_hold_a_scale_in_after_the_peak() -> None:
    """The batch is over; the window agrees on 6: the scale-in goes ahead as without a forecast."""
    state = dataclasses.replace(
        AFTER_BATCH, recommendations={"consumer:orders-processor": ((NOW - 400, 6), (NOW - 60, 6))}
    )
    with_it = decide_consumers(binding(), group(produce=40.0), service(12), state, NOW).decision
    plain = decide_consumers(without_forecast(), group(produce=40.0), service(12), state, NOW).decision
    assert (with_it.action, with_it.desired) == (plain.action, plain.desired) == (Action.SCALE_IN, 6)


def test_a_missing_forecast_switches_off_and_says_so() -> None:
    """The batches moved half a cycle: the forecast missed them and no floor is set."""
    broken = rhythm(25 * 8 + 12).rate_history.series["consumer:orders-processor"]
    values = np.r_[np.asarray(broken.values[:-25]), np.roll(np.asarray(broken.values[-25:]), 12)]
    s = dataclasses.replace(broken, values=tuple(float(v) for v in values))
    state = ScalerState(rate_history=RateHistory(series={"consumer:orders-processor": s}))
    d = decide_consumers(binding(), group(produce=40.0), service(6), state, NOW).decision
    assert d.reason is not Reason.FORECAST_FLOOR
    assert d.details["forecast"]["status"] == "off"
    assert "forecast switched off" in d.message


def test_no_scale_in_within_a_start_up_delay_of_a_scale_out() -> None:
    """The scale-in case above, 30 s after a scale-out: each change costs a rebalance; wait."""
    state = ScalerState(
        recommendations={"consumer:orders-processor": ((NOW - 400, 6), (NOW - 60, 6))},
        rate_history=RateHistory(scaled_out_at={"consumer:orders-processor": NOW - 30}),
    )
    d = decide_consumers(binding(), group(produce=40.0), service(12), state, NOW).decision
    assert (d.action, d.reason) == (Action.HOLD, Reason.SETTLING_AFTER_SCALE_OUT), d.message
    later = dataclasses.replace(state, rate_history=RateHistory(scaled_out_at={"consumer:orders-processor": NOW - 95}))
    assert decide_consumers(binding(), group(produce=40.0), service(12), later, NOW).decision.action is Action.SCALE_IN


@settings(max_examples=150, deadline=None)
@given(
    produce=st.floats(0, 200),
    lag=st.integers(0, 20_000),
    current=st.integers(0, 20),
    minutes=st.integers(60, 25 * 9),
    height=st.floats(0, 3000),
    history=st.lists(st.tuples(st.floats(0, 1000), st.integers(0, 20)), max_size=6),
)
def test_the_floor_never_causes_a_scale_in(
    produce: float, lag: int, current: int, minutes: int, height: float, history: list[tuple[float, int]]
) -> None:
    """With the forecast a scale-in happens only where it happens without, and never goes lower."""
    state = dataclasses.replace(
        rhythm(minutes, height=height),
        recommendations={"consumer:orders-processor": tuple(sorted((NOW - age, n) for age, n in history))},
    )
    g = group(produce=produce, lag=lag)
    with_it = decide_consumers(binding(), g, service(current), state, NOW).decision
    plain = decide_consumers(without_forecast(), g, service(current), state, NOW).decision
    if with_it.action is Action.SCALE_IN:
        assert plain.action is Action.SCALE_IN and with_it.desired >= plain.desired
    if plain.action is not Action.SCALE_IN:
        assert with_it.action is not Action.SCALE_IN
