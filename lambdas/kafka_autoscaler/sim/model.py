"""The simulated world, one second at a time: produce, consume, start tasks, rebalance, publish metrics.

Per-partition arithmetic is vectorized (numpy): a 24-hour run of 64 partitions is
86,400 steps of a few array operations each.

Consumption: each consuming task takes at most its throughput this second (its
capacity times a noise factor), shared among its partitions in proportion to what
each has waiting. Offsets are whole messages; a partition's committed offset is what
its task consumed (committed every second).

Time lag of a partition: how long ago the oldest unconsumed message was produced.
The produce rate is the trace times a fixed per-partition share, so the produce time
of any offset is found by a binary search on the cumulative produced count.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np

from kafka_autoscaler.sim.cloudwatch import DelayedSeries
from kafka_autoscaler.sim.ecs import EcsService
from kafka_autoscaler.sim.group import ConsumerGroup
from kafka_autoscaler.sim.msk import MskCluster
from kafka_autoscaler.sim.settings import SimSettings
from kafka_autoscaler.sim.trace import FloatArray, Trace

TOPIC = "events"
GROUP_ID = "events-consumer"
RATE_WINDOW_S = 60  # produce and consume rates are measured over the last minute
NOISE_BLOCK_S = 3600


def partition_shares(partitions: int, skew: float, rng: np.random.Generator) -> FloatArray:
    """Each partition's share of the produce rate: log-normal weights, summing to 1."""
    weights = rng.lognormal(mean=0.0, sigma=skew, size=partitions) if skew > 0 else np.ones(partitions)
    shares: FloatArray = weights / weights.sum()
    return shares


@dataclass(frozen=True)
class PartitionView:
    """True per-partition values at one instant, read by the simulated lag source."""

    end_offsets: FloatArray
    committed: FloatArray
    time_lag_s: FloatArray
    produce_rate: FloatArray
    consume_rate: FloatArray
    stalled_for_s: FloatArray


@dataclass(frozen=True)
class MinuteSample:
    """What the timeline keeps for one minute: the plot's points."""

    t: int
    rate: float  # msgs/s produced, mean over the minute
    max_time_lag_s: float  # highest over the minute
    total_lag: int  # at the minute's end
    tasks: int  # billed (running + pending), at the minute's end
    running: int


class World:
    def __init__(self, trace: Trace, settings: SimSettings) -> None:
        self.trace = trace
        self.settings = settings
        self.duration_s = trace.duration_s
        seeds = np.random.SeedSequence(settings.seed).spawn(4)
        self._noise_rng = np.random.default_rng(seeds[0])
        self.shares = partition_shares(settings.partitions, settings.partition_skew, np.random.default_rng(seeds[1]))
        start_rng = random.Random(int(seeds[2].generate_state(1)[0]))
        self._delay_rng = random.Random(int(seeds[3].generate_state(1)[0]))

        self.cumulative = trace.cumulative()
        self.rates = trace.per_second_rates()
        partitions = settings.partitions
        self.produced = np.zeros(partitions)
        self.consumed = np.zeros(partitions)
        self.backlog = np.zeros(partitions)
        self._inverse_shares = 1.0 / self.shares
        self._consumed_ring = np.zeros((RATE_WINDOW_S + 1, partitions))
        self._last_progress = np.zeros(partitions)
        self._noise = self._draw_noise()
        self._capacity = np.zeros(partitions + 1)

        self.ecs = EcsService(settings.start_delay_s, start_rng)
        self.group = ConsumerGroup(partitions, settings.rebalance, settings.rebalance_pause_s)
        self.msk = MskCluster(settings, self._metric_delay)
        self.sum_offset_lag = DelayedSeries()  # MSK SumOffsetLag per group and topic
        self.max_time_lag = DelayedSeries()  # MSK EstimatedMaxTimeLag, modelled as the true max
        self.running_tasks = DelayedSeries()  # ECS RunningTaskCount (Container Insights)

        self.now = 0
        self.time_lag = np.zeros(self.duration_s + 1)  # highest partition time lag, every second
        self.billed_task_seconds = 0
        self.peak_tasks = 0
        self.timeline: list[MinuteSample] = []
        self._minute_lag_max = 0.0

    # ---------------------------------------------------------------- set-up
    def start(self, tasks: int) -> None:
        """Begin with `tasks` tasks already running and the group settled."""
        self.group.settle(self.ecs.start_running(tasks))
        self.peak_tasks = tasks

    def set_desired(self, count: int) -> None:
        """The ECS UpdateService call: stopped tasks leave the group at once."""
        left = self.ecs.set_desired(count, self.now)
        if left:
            self.group.change(self.now, [], left)

    # ---------------------------------------------------------------- one second
    def step(self, t: int) -> None:
        self.now = t
        joined = self.ecs.advance(t)
        if joined:
            self.group.change(t, joined, [])
        self.msk.advance(t)
        self._consume(t)
        billed = self.ecs.billed
        self.billed_task_seconds += billed
        self.peak_tasks = max(self.peak_tasks, billed)
        if t % 60 == 0:
            self._publish_minute(t)

    def _consume(self, t: int) -> None:
        produced = np.floor(self.shares * self.cumulative[t])
        available = self.backlog + (produced - self.produced)
        self.produced = produced
        members = len(self.group.members)
        slots = self.group.slots(t)
        if members + 1 > self._capacity.size:
            self._capacity = np.zeros(members + 1)
        capacity = self._capacity
        capacity.fill(0.0)
        if members:
            row = self._noise[t % NOISE_BLOCK_S]
            if members > row.size:  # more members than partitions: the extra ones idle anyway
                row = np.resize(row, members)
            capacity[:members] = self.settings.task_capacity * np.maximum(row[:members], 0.0)
        waiting = np.bincount(slots, weights=available, minlength=members + 1)
        fraction = np.minimum(
            np.divide(capacity[: members + 1], waiting, out=np.ones(members + 1), where=waiting > 0), 1.0
        )
        # The epsilon keeps a share that is whole in exact arithmetic whole in floating point.
        taken = np.minimum(np.floor(available * fraction[slots] + 1e-6), available)
        self.consumed += taken
        self.backlog = available - taken
        self._consumed_ring[t % (RATE_WINDOW_S + 1)] = self.consumed
        self._last_progress[(taken > 0) | (self.backlog == 0)] = t
        lagging = self.backlog > 0
        lag_s = 0.0
        if lagging.any():
            oldest = float(np.min((self.consumed[lagging] + 1.0) * self._inverse_shares[lagging]))
            lag_s = max(0.0, float(t - np.searchsorted(self.cumulative, oldest)))
        self.time_lag[t] = lag_s
        self._minute_lag_max = max(self._minute_lag_max, lag_s)
        if t % NOISE_BLOCK_S == NOISE_BLOCK_S - 1:
            self._noise = self._draw_noise()

    def _draw_noise(self) -> FloatArray:
        """Per-second throughput factors for every possible member, an hour at a time."""
        noise: FloatArray = 1.0 + self.settings.task_noise * self._noise_rng.standard_normal(
            (NOISE_BLOCK_S, self.settings.partitions)
        )
        return noise

    def _metric_delay(self) -> int:
        """How late a CloudWatch datapoint is seen after its minute ends."""
        return self._delay_rng.randint(*self.settings.metric_delay_s)

    def _publish_minute(self, t: int) -> None:
        start = t - 60
        total_lag = float(self.backlog.sum())
        stable = self.group.state(t) in {"Stable", "Empty"}
        visible_at = t + self._metric_delay()
        # MSK emits consumer-lag metrics only while the group is Stable or Empty.
        self.sum_offset_lag.publish(start, total_lag if stable else None, visible_at)
        self.max_time_lag.publish(start, float(self.time_lag[t]) if stable else None, visible_at)
        self.running_tasks.publish(start, float(len(self.ecs.running)), visible_at)
        rate = (self.cumulative[t] - self.cumulative[max(start, 0)]) / 60.0
        retained_from = max(0, t - self.settings.retention_s)
        retained = (self.cumulative[t] - self.cumulative[retained_from]) * self.settings.message_bytes
        self.msk.publish_minute(start, rate * self.settings.message_bytes, retained)
        self.timeline.append(
            MinuteSample(t, rate, self._minute_lag_max, int(total_lag), self.ecs.billed, len(self.ecs.running))
        )
        self._minute_lag_max = 0.0

    # ---------------------------------------------------------------- reads
    def partitions_now(self) -> PartitionView:
        """True offsets, rates and time lags at this instant (what our Kafka reader samples)."""
        t = self.now
        window = min(RATE_WINDOW_S, t)
        lag_s = np.zeros_like(self.backlog)
        lagging = self.backlog > 0
        if lagging.any():
            oldest = (self.consumed[lagging] + 1.0) * self._inverse_shares[lagging]
            lag_s[lagging] = np.maximum(0.0, t - np.searchsorted(self.cumulative, oldest).astype(np.float64))
        if window > 0:
            produced_before = np.floor(self.shares * self.cumulative[t - window])
            consumed_before = self._consumed_ring[(t - window) % (RATE_WINDOW_S + 1)]
            produce_rate = (self.produced - produced_before) / window
            consume_rate = (self.consumed - consumed_before) / window
        else:
            produce_rate = np.full_like(self.backlog, np.nan)
            consume_rate = np.full_like(self.backlog, np.nan)
        stalled = np.where(lagging, t - self._last_progress, 0.0)
        return PartitionView(self.produced.copy(), self.consumed.copy(), lag_s, produce_rate, consume_rate, stalled)

    def total_lag(self) -> int:
        return int(self.backlog.sum())

    def tasks_needed(self, rate: float) -> int:
        """The fewest tasks that keep up with `rate` if each takes its mean capacity (no skew)."""
        return max(1, math.ceil(rate / self.settings.task_capacity - 1e-9))
