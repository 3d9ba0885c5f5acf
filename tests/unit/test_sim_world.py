"""The simulated world: conservation of records, time lag and rates against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
from kafka_autoscaler.sim.baselines.keda import KedaHpa
from kafka_autoscaler.sim.model import World
from kafka_autoscaler.sim.runner import run
from kafka_autoscaler.sim.settings import SimSettings
from kafka_autoscaler.sim.trace import Trace

SPIKE = Trace.from_rows([(0, 1000.0), (300, 1000.0), (330, 9000.0), (600, 9000.0), (630, 1000.0), (1800, 1000.0)])


def test_records_are_conserved_every_second_through_scaling_and_rebalances() -> None:
    settings = SimSettings(partitions=16, seed=5)
    world = World(SPIKE, settings)
    keda = KedaHpa(world)
    world.start(keda.initial_tasks())
    for now in range(1, world.duration_s + 1):
        world.step(now)
        keda.on_second(now)
        assert np.array_equal(world.produced, world.consumed + world.backlog), f"second {now}"
        assert world.backlog.min() >= 0
    assert world.group.rebalances > 0 and world.ecs.changes > 0  # the case exercised what it should
    expected_total = SPIKE.cumulative()[-1]
    assert expected_total - settings.partitions <= world.produced.sum() <= expected_total


def one_partition_world(rate: float, tasks: int, capacity: float = 100.0) -> World:
    trace = Trace.from_rows([(0, rate), (300, rate)])
    world = World(trace, SimSettings(partitions=1, task_capacity=capacity, task_noise=0.0, partition_skew=0.0))
    world.start(tasks)
    return world


def test_time_lag_without_consumers_is_the_age_of_the_first_message() -> None:
    world = one_partition_world(rate=100.0, tasks=0)
    for now in range(1, 41):
        world.step(now)
    # The first message was produced in second 1; nothing was consumed since.
    assert world.time_lag[40] == 39
    assert world.backlog.sum() == 4000


def test_a_saturated_task_consumes_its_capacity_and_lag_grows_by_the_difference() -> None:
    world = one_partition_world(rate=300.0, tasks=1, capacity=100.0)
    for now in range(1, 121):
        world.step(now)
    assert world.consumed[0] == 100 * 120
    assert world.backlog[0] == 200 * 120
    # Offset 12000 (the next to consume) was produced in second ceil(12001 / 300) = 41.
    assert world.time_lag[120] == 120 - 41


def test_commits_trail_processing_by_up_to_the_commit_interval() -> None:
    world = one_partition_world(rate=100.0, tasks=1, capacity=1000.0)  # keeps up: processes all each second
    task = world.group.members[0]
    committed_at = []
    for now in range(1, 21):
        world.step(now)
        assert world.consumed[0] == world.produced[0] == 100 * now
        if world.committed[0] == world.consumed[0]:
            committed_at.append(now)
    assert committed_at == [t for t in range(1, 21) if (t + task) % 5 == 0]  # every 5 s, on the task's phase
    offsets = world.offsets_now()
    assert offsets.end[0] - offsets.committed[0] == world.total_lag() > 0  # processed but not committed is lag


def test_a_rebalance_commits_what_was_processed_first() -> None:
    world = one_partition_world(rate=100.0, tasks=1, capacity=1000.0)
    for now in range(1, 4):
        world.step(now)
    world.set_desired(2)  # pending tasks only: nothing leaves yet
    world.set_desired(0)  # the running task stops: it commits on close
    assert world.committed[0] == world.consumed[0] == 300


def test_late_messages_are_counted_one_by_one() -> None:
    # 100 msgs/s, no consumer for the first 90 s, then one that drains 1000 msgs/s.
    trace = Trace.from_rows([(0, 100.0), (200, 100.0)])
    world = World(
        trace,
        SimSettings(partitions=1, task_capacity=1000.0, task_noise=0.0, partition_skew=0.0, target_time_lag_s=60.0),
    )
    world.start(0)
    for now in range(1, 91):
        world.step(now)
    world.ecs.start_running(1)
    world.group.settle(world.ecs.running)
    world.step(91)  # consumes offsets 0..999: produced in seconds 1..10, 81..90 s old
    # Late: processed more than 60 s after production: produced by second 91 - 61 = 30.
    assert world.lateness.late == 1000
    world.step(92)  # offsets 1000..1999: seconds 11..20, 72..81 s old: all late
    world.step(93)  # offsets 2000..2999: seconds 21..30, 63..72 s old: all late
    world.step(94)  # offsets 3000..3999: seconds 31..40, 54..63 s old: seconds 31..33 late
    assert world.lateness.late == 3000 + 300
    assert world.lateness.late_2x == 0  # none waited more than 120 s


def test_a_run_is_deterministic_for_a_seed_and_the_seed_matters() -> None:
    settings = SimSettings(partitions=8)
    first = run(SPIKE, "time-lag", settings)
    again = run(SPIKE, "time-lag", settings)
    other = World(SPIKE, SimSettings(partitions=8, seed=2))
    assert first.metrics == again.metrics
    assert not np.allclose(World(SPIKE, settings).shares, other.shares)


def test_partition_shares_sum_to_one_and_skew_spreads_them() -> None:
    world = World(SPIKE, SimSettings(partitions=64, partition_skew=0.3))
    assert world.shares.sum() == pytest.approx(1.0)
    assert world.shares.max() / world.shares.min() > 1.5
