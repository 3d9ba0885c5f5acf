"""Advancing the world a stretch at a time gives exactly what stepping it second by second gives."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from kafka_autoscaler.sim.controller import Controller, next_multiple
from kafka_autoscaler.sim.model import LATENCY_BINS, World, add_latencies
from kafka_autoscaler.sim.runner import POLICIES, run
from kafka_autoscaler.sim.settings import RebalanceProtocol, SimSettings
from kafka_autoscaler.sim.trace import Trace, read_trace

TRACES = Path(__file__).resolve().parents[2] / "bench" / "traces"


def random_trace(seed: int, duration_s: int) -> Trace:
    """Rates that jump, ramp and stop: rows every 30 to 600 s, some at zero."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[float, float]] = [(0.0, float(rng.uniform(0, 6000)))]
    while rows[-1][0] < duration_s:
        t = min(duration_s, rows[-1][0] + float(rng.integers(30, 600)))
        rate = 0.0 if rng.random() < 0.15 else float(rng.uniform(0, 12000))
        rows.append((t, rate))
    return Trace.from_rows(rows, f"random-{seed}")


CASES = [
    (read_trace(TRACES / "spike.csv").truncated(4500), SimSettings(partitions=32, seed=2)),
    (
        read_trace(TRACES / "batches.csv").truncated(3600),
        SimSettings(partitions=24, seed=3, rebalance=RebalanceProtocol.COOPERATIVE, commit_interval_s=3),
    ),
    (random_trace(7, 3600), SimSettings(partitions=12, seed=4, min_tasks=0, task_noise=0.3, target_time_lag_s=20.0)),
]


@pytest.mark.parametrize("policy", list(POLICIES))
@pytest.mark.parametrize(("trace", "settings"), CASES, ids=[trace.name for trace, _ in CASES])
def test_every_policy_gets_the_same_run_advanced_in_stretches(trace: Trace, settings: SimSettings, policy: str) -> None:
    stepped = run(trace, policy, settings, per_second=True)
    advanced = run(trace, policy, settings)
    assert advanced.metrics == stepped.metrics
    assert advanced.timeline == stepped.timeline
    assert stepped.metrics.produced > 0


class RandomOperator(Controller):
    """Sets a random desired count at random seconds: joins, leaves, pauses and idle members."""

    def __init__(self, world: World, seed: int) -> None:
        super().__init__(world)
        self.rng = random.Random(seed)
        self.wakeups: list[int] = []

    def on_second(self, now: int) -> None:
        self.wakeups.append(now)
        if self.rng.random() < 0.5:
            self.world.set_desired(self.rng.randint(0, self.world.settings.partitions + 3))

    def next_wakeup(self, now: int) -> int:
        return now + self.rng.choice((1, 2, 7, 45, 200, 900))


def latency_histogram(world: World) -> np.ndarray:
    """The histogram with the seconds the world still buffers (it adds them a minute at a time)."""
    assert world.lateness.histogram is not None
    histogram = world.lateness.histogram.copy()
    latencies = np.clip(world._latency_buffer.ravel(), 0, LATENCY_BINS - 1)
    add_latencies(histogram, latencies, world._weight_buffer.ravel())
    return histogram


def world_state(world: World) -> dict[str, object]:
    late = world.lateness
    histogram = latency_histogram(world)
    return {
        "arrays": [world.produced, world.consumed, world.committed, world.backlog, world.time_lag],
        "histogram": histogram.nonzero(),
        "histogram_values": histogram[histogram.nonzero()],
        "late": (late.late, late.late_2x),
        "timeline": world.timeline,
        "series": (world.sum_offset_lag.points, world.max_time_lag.points, world.running_tasks.points),
        "msk": [(s.cpu, s.disk, s.visible_at) for s in world.msk.series.values()],
        "tasks": (world.billed_task_seconds, world.peak_tasks, world.ecs.counts, world.ecs.running),
        "group": (world.group.owners, world.group.rebalances, world.group.paused_until.tolist()),
    }


def assert_same(first: dict[str, object], second: dict[str, object]) -> None:
    for key, value in first.items():
        other = second[key]
        if key in {"arrays", "histogram", "histogram_values"}:
            assert isinstance(value, list | tuple | np.ndarray) and isinstance(other, list | tuple | np.ndarray)
            assert all(np.array_equal(a, b) for a, b in zip(value, other, strict=True)), key
        else:
            assert value == other, key


@pytest.mark.parametrize("seed", range(6))
def test_world_state_is_identical_at_every_wakeup_under_random_scaling(seed: int) -> None:
    trace = random_trace(100 + seed, 5400)
    protocol = RebalanceProtocol.COOPERATIVE if seed % 2 else RebalanceProtocol.EAGER
    settings = SimSettings(partitions=6 + 5 * seed, seed=seed, rebalance=protocol, min_tasks=0, task_noise=0.25)
    stepped, advanced = World(trace, settings), World(trace, settings)
    stepping, advancing = RandomOperator(stepped, seed), RandomOperator(advanced, seed)
    stepped.start(2)
    advanced.start(2)
    now = 0
    while now < trace.duration_s:
        wake = min(advancing.next_wakeup(now), trace.duration_s)
        stepping.next_wakeup(now)  # the same draws, so both make the same choices
        for t in range(now + 1, wake + 1):
            stepped.step(t)
        advanced.advance(wake)
        assert_same(world_state(stepped), world_state(advanced))
        stepping.on_second(wake)
        advancing.on_second(wake)
        now = wake
    assert stepped.group.rebalances > 3 and stepped.lateness.late > 0  # the case exercised what it should


@pytest.mark.parametrize(
    ("now", "period", "offset", "expected"),
    [(0, 15, 0, 15), (15, 15, 0, 30), (29, 15, 0, 30), (0, 60, 30, 30), (30, 60, 30, 90), (89, 60, 30, 90)],
)
def test_next_multiple_is_strictly_after_now(now: int, period: int, offset: int, expected: int) -> None:
    assert next_multiple(now, period, offset) == expected
