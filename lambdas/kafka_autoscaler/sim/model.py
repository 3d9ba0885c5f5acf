"""The simulated world, one second at a time: produce, consume, commit, start tasks, rebalance, publish metrics.

Per-partition arithmetic is vectorized (numpy): a 24-hour run of 64 partitions is
86,400 steps of a few array operations each.

Consumption: each consuming task takes at most its throughput this second (its
capacity times a noise factor), shared among its partitions in proportion to what
each has waiting. Offsets are whole messages. A task fetches records in batches
(max.poll.records per poll, several polls a second) and processes them within the
second; it commits what it processed every `commit_interval_s` (auto-commit, each task
on its own phase), when it gives partitions up in a rebalance and when it stops. So
the committed offset, which is all anyone outside the consumer sees, trails what was
processed: observed lag includes fetched-but-uncommitted records.

Time lag of a partition: how long ago the oldest unprocessed message was produced.
The produce rate is the trace times a fixed per-partition share, so the produce time
of any offset is found by a binary search on the cumulative produced count. The world
keeps per-message lateness (how many messages were processed later than the target)
for the metrics; the policies see only offsets (adapters.py) and CloudWatch datapoints.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kafka_autoscaler.sim.cloudwatch import DelayedSeries
from kafka_autoscaler.sim.ecs import EcsService
from kafka_autoscaler.sim.group import ConsumerGroup
from kafka_autoscaler.sim.msk import MskCluster
from kafka_autoscaler.sim.settings import SimSettings
from kafka_autoscaler.sim.stretch import consume, first_reaching, last_commits, time_lags
from kafka_autoscaler.sim.trace import FloatArray, Trace

IntArray = npt.NDArray[np.int64]

TOPIC = "events"
GROUP_ID = "events-consumer"
NOISE_BLOCK_S = 3600
LATENCY_BINS = 7 * 24 * 3600  # message latency histogram, one bin per second (the last one holds the rest)
STRETCH_CELLS = 1 << 18  # advance: at most this many seconds x partitions at once (at least a minute)


def add_latencies(histogram: FloatArray, latencies: IntArray, weights: FloatArray) -> None:
    """Add messages (`weights`) at their latencies (whole seconds, already clipped to the bins)."""
    counts = np.bincount(latencies, weights=weights)
    histogram[: counts.size] += counts


def partition_shares(partitions: int, skew: float, rng: np.random.Generator) -> FloatArray:
    """Each partition's share of the produce rate: log-normal weights, summing to 1."""
    weights = rng.lognormal(mean=0.0, sigma=skew, size=partitions) if skew > 0 else np.ones(partitions)
    shares: FloatArray = weights / weights.sum()
    return shares


@dataclass(frozen=True)
class Offsets:
    """What Kafka would answer at one instant: log-end and committed offset per partition."""

    end: IntArray
    committed: IntArray


@dataclass(frozen=True)
class MinuteSample:
    """What the timeline keeps for one minute: the plot's points."""

    t: int
    rate: float  # msgs/s produced, mean over the minute
    max_time_lag_s: float  # highest over the minute
    total_lag: int  # end minus committed offsets, at the minute's end
    tasks: int  # billed (running + pending), at the minute's end
    running: int


@dataclass
class Lateness:
    """Per-message accounting of how late messages were processed."""

    late: float = 0.0  # processed more than the target after they were produced
    late_2x: float = 0.0  # more than twice the target
    histogram: FloatArray | None = None  # messages by whole seconds of latency


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
        self.produced: FloatArray = np.zeros(partitions)
        self.consumed: FloatArray = np.zeros(partitions)  # processed by the consumers
        self.committed: FloatArray = np.zeros(partitions)  # what the group committed, all anyone else sees
        self.backlog: FloatArray = np.zeros(partitions)
        self._inverse_shares = 1.0 / self.shares
        self._noise = self._draw_noise()
        self._capacity = np.zeros(partitions + 1)
        self._late_after = math.floor(settings.target_time_lag_s) + 1  # produced this long before: late
        self._late_2x_after = math.floor(2 * settings.target_time_lag_s) + 1
        self.lateness = Lateness(histogram=np.zeros(LATENCY_BINS))
        self._latency_buffer = np.zeros((60, partitions), dtype=np.int64)
        self._weight_buffer = np.zeros((60, partitions))

        self.ecs = EcsService(settings.start_delay_s, start_rng)
        self.group = ConsumerGroup(partitions, settings.rebalance, settings.rebalance_pause_s)
        self.msk = MskCluster(settings, self._metric_delay)
        self.sum_offset_lag = DelayedSeries()  # MSK SumOffsetLag per group and topic
        self.max_time_lag = DelayedSeries()  # MSK EstimatedMaxTimeLag, at the committed offsets
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
        """The ECS UpdateService call: stopped tasks commit, close and leave the group at once."""
        left = self.ecs.set_desired(count, self.now)
        if left:
            self._rebalance(self.now, [], left)

    # ---------------------------------------------------------------- one second
    def step(self, t: int) -> None:
        """Second `t`, on its own: the reference that `advance` must match exactly."""
        self._begin_second(t)
        self._consume(t)
        self._commit(t)
        self._bill(1)
        if t % 60 == 0:
            self._publish_minute(t)

    def advance(self, until: int) -> None:
        """Step the world to second `until`: the same state as step(t) for every t, a stretch at a time."""
        while self.now < until:
            t = self.now + 1
            if t == until:
                self.step(t)
                continue
            self._begin_second(t)
            slots = self.group.slots(t)
            end = min(until, self.duration_s, t + max(60, STRETCH_CELLS // self.settings.partitions) - 1)
            ready = self.ecs.next_start()
            if ready is not None:
                end = min(end, ready - 1)
            if math.isfinite(self.group.next_refresh):
                end = min(end, math.ceil(self.group.next_refresh) - 1)
            if self._weight_buffer.any():
                self._flush_latencies(60)
            self._stretch(t, end, slots)

    def _begin_second(self, t: int) -> None:
        """What happens first in a second: tasks that finished starting join the group; MSK operations end."""
        self.now = t
        joined = self.ecs.advance(t)
        if joined:
            self._rebalance(t, joined, [])
        self.msk.advance(t)

    def _bill(self, seconds: int) -> None:
        billed = self.ecs.billed
        self.billed_task_seconds += billed * seconds
        self.peak_tasks = max(self.peak_tasks, billed)

    def _stretch(self, first: int, last: int, slots: IntArray) -> None:
        """Seconds first..last at once, with no join, pause end or outside call among them.

        The second `first` has begun (_begin_second). Every step is _consume, _count_lateness,
        _commit and _publish_minute over rows of seconds; see stretch.py.
        """
        times = np.arange(first, last + 1, dtype=np.int64)
        produced = np.floor(self.shares * self.cumulative[first : last + 1, None])
        deltas = np.empty_like(produced)
        np.subtract(produced[0], self.produced, out=deltas[0])
        np.subtract(produced[1:], produced[:-1], out=deltas[1:])
        taken = consume(deltas, self.backlog, slots, self._stretch_capacity(first, last))
        consumed = np.cumsum(taken, axis=0)
        consumed += self.consumed
        before = np.concatenate((self.consumed[None, :], consumed[:-1]))
        backlog = produced - consumed
        lags = time_lags(times, backlog, consumed, self._inverse_shares, self.cumulative)
        self.time_lag[first : last + 1] = lags
        ages = np.concatenate(([self.time_lag[first - 1]], lags[:-1])) + 1.0
        if ages.max() >= self._late_after:
            self._count_stretch_lateness(times, ages, before, consumed)
        histogram = self.lateness.histogram
        assert histogram is not None
        middle = (before + (taken + 1.0) * 0.5) * self._inverse_shares
        latencies = times[:, None] - first_reaching(self.cumulative, middle)
        np.maximum(latencies, 0, out=latencies)
        np.minimum(latencies, LATENCY_BINS - 1, out=latencies)
        add_latencies(histogram, latencies.ravel(), taken.ravel())
        self._bill(times.size)

        committed_before = self.committed
        owners = self.group.owner_ids
        owned = owners >= 0

        def committed_at(t: int) -> FloatArray:
            at = last_commits(t, owners, self.settings.commit_interval_s)
            due = np.flatnonzero(owned & (at >= first))
            committed = committed_before.copy()
            committed[due] = consumed[at[due] - first, due]
            return committed

        minute_max = self._minute_lag_max
        since = 0  # the row after the last minute published
        for t in range(first + (-first) % 60, last + 1, 60):
            row = t - first
            self._advance_msk(t)
            self._minute_lag_max = max(minute_max, float(lags[since : row + 1].max()))
            self.produced, self.committed = produced[row], committed_at(t)
            self._publish_minute(t)
            minute_max, since = 0.0, row + 1
        if since < times.size:
            minute_max = max(minute_max, float(lags[since:].max()))
        self._minute_lag_max = minute_max
        self._advance_msk(last)
        self.now = last
        self.produced, self.consumed, self.backlog = produced[-1], consumed[-1], backlog[-1]
        self.committed = committed_at(last)

    def _stretch_capacity(self, first: int, last: int) -> FloatArray:
        """Each member's throughput in every second first..last; the extra slot has none (see _consume).

        Draws the next hour's noise where the stretch passes an hour's end, as _consume does.
        """
        partitions = self.settings.partitions
        rows = np.empty((last - first + 1, partitions))
        t = first
        while t <= last:
            offset = t % NOISE_BLOCK_S
            until = min(last, t - offset + NOISE_BLOCK_S - 1)
            rows[t - first : until - first + 1] = self._noise[offset : offset + until - t + 1]
            if until % NOISE_BLOCK_S == NOISE_BLOCK_S - 1:
                self._noise = self._draw_noise()
            t = until + 1
        members = len(self.group.members)
        capacity = np.zeros((rows.shape[0], members + 1))
        if members:  # more members than partitions: the noise row repeats, as np.resize does
            columns = np.arange(members) % partitions
            capacity[:, :members] = self.settings.task_capacity * np.maximum(rows[:, columns], 0.0)
        return capacity

    def _count_stretch_lateness(self, times: IntArray, ages: FloatArray, before: FloatArray, after: FloatArray) -> None:
        """_count_lateness for rows of seconds: `ages[i]` is time_lag[t - 1] + 1 for t = times[i]."""
        self.lateness.late += self._late_in_stretch(times, ages, before, after, self._late_after)
        self.lateness.late_2x += self._late_in_stretch(times, ages, before, after, self._late_2x_after)

    def _late_in_stretch(
        self, times: IntArray, ages: FloatArray, before: FloatArray, after: FloatArray, late_after: int
    ) -> float:
        """Messages processed in the rows' seconds that were produced `late_after` seconds or more before."""
        rows = np.flatnonzero(ages >= late_after)
        if not rows.size:
            return 0.0
        since = times[rows] - late_after
        cut = np.floor(self.shares * self.cumulative[np.maximum(since, 0), None])
        cut[since < 0] = 0.0  # produced_by: nothing before second 0
        return float(np.maximum(np.minimum(after[rows], cut) - before[rows], 0.0).sum())

    def _advance_msk(self, until: int) -> None:
        for t in range(self.msk.now + 1, until + 1):
            self.msk.advance(t)

    def _rebalance(self, t: int, joined: list[int], left: list[int]) -> None:
        """Members commit what they processed before a rebalance takes their partitions (onJoinPrepare)."""
        owned = self.group.owner_ids >= 0
        self.committed[owned] = self.consumed[owned]
        self.group.change(t, joined, left)

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
        before = self.consumed
        self.consumed = before + taken
        self.backlog = available - taken
        self._count_lateness(t, before, taken)
        lag_s = 0.0
        if self.backlog.any():
            oldest = float(np.where(self.backlog > 0, (self.consumed + 1.0) * self._inverse_shares, np.inf).min())
            lag_s = max(0.0, float(t - self.cumulative.searchsorted(oldest)))
        self.time_lag[t] = lag_s
        self._minute_lag_max = max(self._minute_lag_max, lag_s)
        if t % NOISE_BLOCK_S == NOISE_BLOCK_S - 1:
            self._noise = self._draw_noise()

    def produced_by(self, t: int) -> FloatArray:
        """Per partition, the messages produced by the end of second `t` (none before second 0)."""
        if t < 0:
            return np.zeros_like(self.shares)
        produced: FloatArray = np.floor(self.shares * self.cumulative[t])
        return produced

    def _count_lateness(self, t: int, before: FloatArray, taken: FloatArray) -> None:
        """Messages processed this second more than the target (and twice it) after they were produced.

        Offset o was produced by second s when o < produced_by(s); processed at t it is late when
        t - s > target, that is when o < produced_by(t - floor(target) - 1). Nothing processed now
        can be late while the oldest unprocessed message of the last second was young enough.
        """
        late = self.lateness
        age_now = self.time_lag[t - 1] + 1.0 if t > 0 else 0.0
        if age_now >= self._late_after:
            after = before + taken
            cut = self.produced_by(t - self._late_after)
            late.late += float(np.maximum(np.minimum(after, cut) - before, 0.0).sum())
            if age_now >= self._late_2x_after:
                cut = self.produced_by(t - self._late_2x_after)
                late.late_2x += float(np.maximum(np.minimum(after, cut) - before, 0.0).sum())
        # Latency histogram: each partition's messages of this second at the latency of their middle one.
        middle = (before + (taken + 1.0) * 0.5) * self._inverse_shares
        row = t % 60
        np.subtract(t, self.cumulative.searchsorted(middle), out=self._latency_buffer[row])
        self._weight_buffer[row] = taken
        if row == 59 or t == self.duration_s:
            self._flush_latencies(60 if row == 59 else row + 1)

    def _flush_latencies(self, rows: int) -> None:
        """Add the buffered seconds to the latency histogram.

        Weights are whole message counts, so the histogram's sums are exact whatever the
        order or grouping of the additions.
        """
        histogram = self.lateness.histogram
        assert histogram is not None
        # A partition that took nothing this second points past it: weight 0, clipped to 0.
        latencies = np.clip(self._latency_buffer[:rows].ravel(), 0, LATENCY_BINS - 1)
        add_latencies(histogram, latencies, self._weight_buffer[:rows].ravel())
        self._weight_buffer.fill(0.0)

    def _commit(self, t: int) -> None:
        """Auto-commit: each member commits its partitions every commit interval, on its own phase."""
        due = self.group.owner_ids % self.settings.commit_interval_s == (-t) % self.settings.commit_interval_s
        due &= self.group.owner_ids >= 0
        if due.any():
            self.committed[due] = self.consumed[due]

    def _draw_noise(self) -> FloatArray:
        """Per-second throughput factors for every possible member, an hour at a time."""
        noise: FloatArray = 1.0 + self.settings.task_noise * self._noise_rng.standard_normal(
            (NOISE_BLOCK_S, self.settings.partitions)
        )
        return noise

    def _metric_delay(self) -> int:
        """How late a CloudWatch datapoint is seen after its minute ends."""
        return self._delay_rng.randint(*self.settings.metric_delay_s)

    def committed_time_lag(self, t: int) -> float:
        """The highest partition time lag at the committed offsets (what MSK's EstimatedMaxTimeLag estimates)."""
        lagging = self.produced > self.committed
        if not lagging.any():
            return 0.0
        oldest = float(np.min((self.committed[lagging] + 1.0) * self._inverse_shares[lagging]))
        return max(0.0, float(t - np.searchsorted(self.cumulative, oldest)))

    def _publish_minute(self, t: int) -> None:
        start = t - 60
        total_lag = float(self.total_lag())
        stable = self.group.state(t) in {"Stable", "Empty"}
        visible_at = t + self._metric_delay()
        # MSK emits consumer-lag metrics only while the group is Stable or Empty.
        self.sum_offset_lag.publish(start, total_lag if stable else None, visible_at)
        self.max_time_lag.publish(start, self.committed_time_lag(t) if stable else None, visible_at)
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
    def offsets_now(self) -> Offsets:
        """Log-end and committed offsets at this instant, as Kafka would answer them."""
        return Offsets(self.produced.astype(np.int64), self.committed.astype(np.int64))

    def total_lag(self) -> int:
        """The group's lag as Kafka reports it: log-end minus committed offsets, summed."""
        return int((self.produced - self.committed).sum())

    def waiting_late(self, t: int) -> tuple[float, float]:
        """Messages still unprocessed at `t` that are already older than the target (and twice it)."""
        late = np.maximum(self.produced_by(t - self._late_after) - self.consumed, 0.0).sum()
        late_2x = np.maximum(self.produced_by(t - self._late_2x_after) - self.consumed, 0.0).sum()
        return float(late), float(late_2x)

    def tasks_needed(self, rate: float) -> int:
        """The fewest tasks that keep up with `rate` if each takes its mean capacity (no skew)."""
        return max(1, math.ceil(rate / self.settings.task_capacity - 1e-9))
