"""What a run is judged by: how late messages were, and what the consumers cost."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from kafka_autoscaler.sim.bound import lower_bound_task_hours, range_packing_task_hours
from kafka_autoscaler.sim.model import World


@dataclass(frozen=True)
class RunMetrics:
    late_fraction: float  # share of produced messages processed later than the target (or still waiting, older)
    late_2x_fraction: float  # later than twice the target
    p99_time_lag_s: float  # message-weighted: 99 % of the processed messages waited at most this long
    slo_violation_s: int  # seconds with the highest partition time lag above the target
    task_hours: float  # tasks billed (pending or running), integrated over the run
    scaling_actions: int  # changes of the desired count
    rebalances: int
    peak_tasks: int
    lower_bound_task_hours: float  # bound.py: no policy can spend less without late messages
    range_packing_task_hours: float  # bound.py: keeping up second by second under RangeAssignor (a reference)
    max_time_lag_s: float
    produced: int
    consumed: int
    backlog: int  # left unprocessed at the end

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def weighted_percentile(histogram: np.ndarray[Any, np.dtype[np.float64]], fraction: float) -> float:
    """The smallest bin (a whole second of latency) at or below which `fraction` of the weight lies."""
    total = float(histogram.sum())
    if total <= 0:
        return 0.0
    return float(np.searchsorted(np.cumsum(histogram), fraction * total - 1e-9))


def measure(world: World) -> RunMetrics:
    """Metrics over seconds 1..end of a finished run (second 0 is the starting state)."""
    settings = world.settings
    lags = world.time_lag[1:]
    target = settings.target_time_lag_s
    produced = float(world.produced.sum())
    waiting_late, waiting_late_2x = world.waiting_late(world.duration_s)
    late = world.lateness
    assert late.histogram is not None
    return RunMetrics(
        late_fraction=round((late.late + waiting_late) / produced, 6) if produced else 0.0,
        late_2x_fraction=round((late.late_2x + waiting_late_2x) / produced, 6) if produced else 0.0,
        p99_time_lag_s=weighted_percentile(late.histogram, 0.99),
        slo_violation_s=int(np.count_nonzero(lags > target)),
        task_hours=round(world.billed_task_seconds / 3600.0, 3),
        scaling_actions=world.ecs.changes,
        rebalances=world.group.rebalances,
        peak_tasks=world.peak_tasks,
        lower_bound_task_hours=round(
            lower_bound_task_hours(
                world.cumulative, target, settings.task_capacity, settings.min_tasks, settings.partitions
            ),
            3,
        ),
        range_packing_task_hours=round(
            range_packing_task_hours(
                world.cumulative, world.shares, settings.task_capacity, settings.min_tasks, settings.task_ceiling
            ),
            3,
        ),
        max_time_lag_s=round(float(lags.max()), 1),
        produced=int(produced),
        consumed=int(world.consumed.sum()),
        backlog=int(world.backlog.sum()),
    )
