"""What a run is judged by: lag users suffer and what the consumers cost."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from kafka_autoscaler.sim.model import World


@dataclass(frozen=True)
class RunMetrics:
    slo_violation_s: int  # seconds with the highest partition time lag above the target
    p99_time_lag_s: float
    max_time_lag_s: float
    task_hours: float  # tasks billed (pending or running), integrated over the run
    scaling_actions: int  # changes of the desired count
    rebalances: int
    peak_tasks: int
    produced: int
    consumed: int
    backlog: int  # left at the end

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure(world: World) -> RunMetrics:
    """Metrics over seconds 1..end of a finished run (second 0 is the starting state)."""
    lags = world.time_lag[1:]
    target = world.settings.target_time_lag_s
    return RunMetrics(
        slo_violation_s=int(np.count_nonzero(lags > target)),
        p99_time_lag_s=round(float(np.percentile(lags, 99)), 1),
        max_time_lag_s=round(float(lags.max()), 1),
        task_hours=round(world.billed_task_seconds / 3600.0, 3),
        scaling_actions=world.ecs.changes,
        rebalances=world.group.rebalances,
        peak_tasks=world.peak_tasks,
        produced=int(world.produced.sum()),
        consumed=int(world.consumed.sum()),
        backlog=int(world.backlog.sum()),
    )
