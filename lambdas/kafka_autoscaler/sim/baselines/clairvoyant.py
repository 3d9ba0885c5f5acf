"""Clairvoyant: knows the whole trace, the partition skew and the start-up delay in advance.

Not a policy anyone can run, and not a lower bound either (that is bound.py): a
feasible, cautious schedule that knows the future. It plans the fewest tasks that keep
every message's time lag within the target with margins:
- a message may wait up to half the target (the other half is kept for rebalance
  pauses), and a task is asked for the longest start-up delay plus a rebalance pause
  before it is needed; so the count at second t keeps up with the highest rate from
  t - target/2 to t + that lead, and is released as soon as that window allows;
- "keeps up": the busiest task (range assignment over the known per-partition shares)
  receives at most its throughput less one standard deviation of the per-second noise.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kafka_autoscaler.sim.controller import Controller
from kafka_autoscaler.sim.group import range_assignment
from kafka_autoscaler.sim.model import World
from kafka_autoscaler.sim.trace import FloatArray

IntArray = npt.NDArray[np.int64]


def busiest_task_share(shares: FloatArray, members: int) -> float:
    """The largest fraction of the topic's rate any one of `members` tasks receives."""
    owners = np.array(range_assignment(len(shares), list(range(members))))
    return float(np.bincount(owners, weights=shares, minlength=members).max())


def tasks_for_rates(rates: FloatArray, shares: FloatArray, task_capacity: float, ceiling: int) -> IntArray:
    """The fewest tasks (1..ceiling, at most one per partition) whose busiest task keeps up with each rate."""
    most = min(ceiling, len(shares))
    keeps_up_to = np.array([task_capacity / busiest_task_share(shares, n) for n in range(1, most + 1)])
    best_so_far = np.maximum.accumulate(keeps_up_to)
    needed: IntArray = np.minimum(np.searchsorted(best_so_far, rates, side="left") + 1, most).astype(np.int64)
    return needed


def plan(world: World) -> IntArray:
    """Desired count for every second of the run.

    At second t the tasks must keep up with the highest rate between t - target/2 (the
    oldest message still allowed to wait) and t + lead (tasks asked for now start by then).
    """
    settings = world.settings
    wait = int(settings.target_time_lag_s // 2)
    lead = settings.start_delay_s[1] + settings.rebalance_pause_s
    rates = world.rates
    padded = np.concatenate([np.full(wait, rates[0]), rates, np.full(lead, rates[-1])])
    highest = np.lib.stride_tricks.sliding_window_view(padded, wait + lead + 1).max(axis=1)
    sure_throughput = settings.task_capacity * (1.0 - settings.task_noise)
    needed = tasks_for_rates(highest, world.shares, sure_throughput, settings.task_ceiling)
    return np.maximum(needed, settings.min_tasks)


class Clairvoyant(Controller):
    def __init__(self, world: World) -> None:
        super().__init__(world)
        self.plan = plan(world)
        self._changes = np.flatnonzero(self.plan[1:] != self.plan[:-1]) + 1  # seconds the plan changes

    def initial_tasks(self) -> int:
        return int(self.plan[0])

    def next_wakeup(self, now: int) -> int:
        """The next second the plan differs from the desired count it set."""
        if now + 1 < self.plan.size and self.plan[now + 1] != self.world.ecs.desired:
            return now + 1
        index = int(np.searchsorted(self._changes, now, side="right"))
        return int(self._changes[index]) if index < self._changes.size else max(now + 1, self.world.duration_s)

    def on_second(self, now: int) -> None:
        wanted = int(self.plan[now])
        if wanted != self.world.ecs.desired:
            self.world.set_desired(wanted)
