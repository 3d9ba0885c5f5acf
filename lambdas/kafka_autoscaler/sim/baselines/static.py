"""A fixed task count sized for the trace's peak: what many teams run instead of autoscaling.

Sized as a careful person would: the fewest tasks whose busiest one (by the partitions
it is assigned and their share of the rate) keeps up with the peak rate.
"""

from __future__ import annotations

import numpy as np

from kafka_autoscaler.sim.baselines.clairvoyant import tasks_for_rates
from kafka_autoscaler.sim.controller import Controller


class Static(Controller):
    def initial_tasks(self) -> int:
        settings = self.world.settings
        peak = np.array([self.world.trace.peak_rate])
        needed = int(tasks_for_rates(peak, self.world.shares, settings.task_capacity, settings.task_ceiling)[0])
        return max(needed, settings.min_tasks)

    def on_second(self, now: int) -> None:
        """A static count never changes."""

    def next_wakeup(self, now: int) -> int:
        """Never: the run's last second."""
        return max(now + 1, self.world.duration_s)
