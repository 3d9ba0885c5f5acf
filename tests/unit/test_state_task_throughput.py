"""Task throughput is learned only over an interval in which every partition was saturated throughout."""

from __future__ import annotations

import dataclasses

import pytest
from kafka_autoscaler.lag.observation import GroupOffsets, OffsetsRead, build_observation
from kafka_autoscaler.model import GroupLag, OffsetSample, ScalerState, ServiceState
from kafka_autoscaler.state.evolve import measured_task_throughput

TICKS = [0.0, 60.0, 120.0, 180.0, 240.0, 300.0]
PARTITIONS = 4
SERVICE = ServiceState("c", "s", desired=2, running=2, pending=0)


def observed(ends: list[int], commits: list[int]) -> GroupLag:
    """A group of 4 equal partitions whose end and committed offsets were sampled at every tick (the last is now)."""
    tps = [("t", p) for p in range(PARTITIONS)]
    now = TICKS[-1]
    history = ScalerState(
        end_offsets={f"t:{p}": tuple(map(OffsetSample, TICKS[:-1], ends[:-1])) for p in range(PARTITIONS)},
        commits={f"g|t:{p}": tuple(map(OffsetSample, TICKS[:-1], commits[:-1])) for p in range(PARTITIONS)},
    )
    group = GroupOffsets("g", "Stable", 2, frozenset(tps), dict.fromkeys(tps, commits[-1]))
    read = OffsetsRead({"g": group}, {"g": ("t",)}, {"t": tuple(range(PARTITIONS))}, dict.fromkeys(tps, ends[-1]), {})
    return build_observation(read, history, now).groups["g"]


def test_a_backlog_built_within_the_window_teaches_nothing_until_a_whole_interval_is_saturated() -> None:
    # 100 msgs/s per partition until 180 s, kept up with; then 1,000 msgs/s, and the two tasks
    # take 500 msgs/s per partition (1,000 msgs/s each) from 180 s on.
    ends = [0, 6_000, 12_000, 18_000, 78_000, 138_000]
    commits = [0, 6_000, 12_000, 18_000, 48_000, 78_000]
    group = observed(ends, commits)
    # The 300 s window averages the saturated minutes with the idle ones: 260 msgs/s per partition.
    assert group.partitions[0].consume_rate == pytest.approx(78_000 / 300)
    assert measured_task_throughput(group, SERVICE) == pytest.approx(4 * 500 / 2)


def test_an_interval_that_began_without_a_backlog_is_not_a_measure_of_capacity() -> None:
    ends = [0, 6_000, 12_000, 18_000, 24_000, 84_000]  # the burst starts after 240 s
    commits = [0, 6_000, 12_000, 18_000, 24_000, 54_000]
    group = observed(ends, commits)
    assert group.partitions[0].recent_start_lag == 0
    assert measured_task_throughput(group, SERVICE) is None


@pytest.mark.parametrize(
    ("service", "why"),
    [
        (ServiceState("c", "s", desired=3, running=2, pending=1), "a task is still starting"),
        (ServiceState("c", "s", desired=2, running=0, pending=0), "nothing runs"),
    ],
)
def test_no_measure_while_the_service_is_changing(service: ServiceState, why: str) -> None:
    group = observed([0, 6_000, 12_000, 18_000, 78_000, 138_000], [0, 6_000, 12_000, 18_000, 48_000, 78_000])
    assert measured_task_throughput(group, service) is None, why


def test_one_partition_without_a_backlog_means_its_task_was_not_saturated() -> None:
    group = observed([0, 6_000, 12_000, 18_000, 78_000, 138_000], [0, 6_000, 12_000, 18_000, 48_000, 78_000])
    idle = dataclasses.replace(group.partitions[0], lag=0)
    assert (
        measured_task_throughput(dataclasses.replace(group, partitions=(idle, *group.partitions[1:])), SERVICE) is None
    )
