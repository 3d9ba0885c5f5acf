"""The lower bound: hand-computed cases, and no policy below it on random traces."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kafka_autoscaler.sim.bound import lower_bound_task_seconds, range_packing_task_hours
from kafka_autoscaler.sim.runner import POLICIES, run
from kafka_autoscaler.sim.settings import SimSettings
from kafka_autoscaler.sim.trace import Trace


def test_a_steady_load_needs_its_mean_throughput() -> None:
    # 2500 msgs/s for 100 s, target 10 s: what was produced by second 89 must be consumed by
    # second 100 (the deadline is taken a second late): 222,500 messages at 1000 msgs/s per task.
    cumulative = np.arange(101) * 2500.0
    assert lower_bound_task_seconds(cumulative, 10.0, 1000.0, min_tasks=1) == pytest.approx(222.5)


def test_the_floor_of_min_tasks_is_paid_even_when_idle() -> None:
    cumulative = np.zeros(61)
    assert lower_bound_task_seconds(cumulative, 30.0, 1000.0, min_tasks=2) == 120.0


def test_a_burst_is_spread_over_the_target_using_the_floor_first() -> None:
    # 12,000 messages in second 1, then nothing; target 9 s: due by second 11 (a second late).
    # Two tasks (the floor) take 2000 a second: 22,000 by then, enough: the floor alone.
    cumulative = np.concatenate([[0.0], np.full(30, 12_000.0)])
    assert lower_bound_task_seconds(cumulative, 9.0, 1000.0, min_tasks=2) == 60.0
    # One task takes 1000 a second: 11,000 by the deadline; 1000 more cost one task-second.
    assert lower_bound_task_seconds(cumulative, 9.0, 1000.0, min_tasks=1) == pytest.approx(31.0)


rates = st.lists(st.floats(min_value=0.0, max_value=6000.0), min_size=2, max_size=5)
ROUNDING_H = 1e-3  # metrics are rounded to a thousandth of an hour


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rates=rates, seed=st.integers(min_value=1, max_value=1000))
def test_no_run_without_late_messages_spends_less_than_the_bound(rates: list[float], seed: int) -> None:
    trace = Trace.from_rows([(300.0 * i, r) for i, r in enumerate(rates)], "random")
    world = SimSettings(partitions=8, seed=seed, task_noise=0.0)
    for policy in POLICIES:
        metrics = run(trace, policy, world).metrics
        if metrics.late_fraction == 0:
            assert metrics.task_hours >= metrics.lower_bound_task_hours - ROUNDING_H, policy
        # With late messages a run may cost less, but never less than the work it did.
        floor = max(world.min_tasks * trace.duration_s, metrics.consumed / world.task_capacity) / 3600
        assert metrics.task_hours >= floor - ROUNDING_H, policy


def test_range_packing_gives_each_second_the_fewest_tasks_whose_busiest_member_keeps_up() -> None:
    # 4 partitions with shares 0.4, 0.3, 0.2, 0.1 under RangeAssignor: 1 task carries 1.0, 2 tasks
    # {0.4, 0.3} and {0.2, 0.1} (busiest 0.7), 3 tasks {0.4, 0.3}, {0.2}, {0.1} (0.7 again), 4 tasks 0.4.
    shares = np.array([0.4, 0.3, 0.2, 0.1])
    # 1,000 msgs/s for 10 s at 1,000 per task: 1 task; 1,400: two (0.7 x 1,400 = 980); 2,000: four (0.4 x 2,000 = 800).
    for rate, tasks in ((1000.0, 1), (1400.0, 2), (2000.0, 4)):
        cumulative = np.arange(11) * rate
        assert range_packing_task_hours(cumulative, shares, 1000.0, 1, 4) * 3600 == pytest.approx(10 * tasks), rate
    # More than even 4 tasks keep up with (0.4 x 3,000 = 1,200): the ceiling, 4, even when max_tasks is higher
    # (a fifth task would have no partition).
    assert range_packing_task_hours(np.arange(11) * 3000.0, shares, 1000.0, 1, 4) * 3600 == pytest.approx(40)
    assert range_packing_task_hours(np.arange(11) * 3000.0, shares, 1000.0, 1, 9) * 3600 == pytest.approx(40)


def test_range_packing_pays_the_floor_when_nothing_is_produced_and_never_undercuts_the_bound() -> None:
    shares = np.full(8, 1 / 8)
    assert range_packing_task_hours(np.zeros(61), shares, 1000.0, 2, 8) * 3600 == 120.0
    assert range_packing_task_hours(np.zeros(61), shares, 1000.0, 0, 8) == 0.0
    cumulative = np.concatenate([[0.0], np.cumsum(np.random.default_rng(3).uniform(0, 6000, 600))])
    packing = range_packing_task_hours(cumulative, shares, 1000.0, 1, 8)
    assert packing >= lower_bound_task_seconds(cumulative, 60.0, 1000.0, 1, 8) / 3600
