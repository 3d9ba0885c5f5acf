"""Time lag, rates and stalls of many partitions at once, from offset samples taken at the same moments.

The one implementation of the arithmetic `timelag.py` states for a single series: a batch is
the series of n partitions sampled at the same k moments (one `SampleTable` pattern), so it is
a time vector `t` (k,) and an offset matrix `values` (k, n), with `kept` (k, n) marking the
samples each series counts. Every function keeps the single-series rules exactly (stable order
by time, the first sample above an offset, the oldest sample within a window), so
`timelag.py`'s functions are this module on a batch of one. Pure numpy: no clock, no Kafka.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Batch:
    """Samples of n series at k moments, oldest first (stable): t (k,), values and kept (k, n)."""

    t: FloatArray
    values: IntArray
    kept: BoolArray

    @classmethod
    def of(cls, t: FloatArray, values: IntArray) -> Batch:
        """Every sample kept, in stable order by time."""
        order = np.argsort(t, kind="stable")
        return cls(t[order], values[order], np.ones(values.shape, dtype=bool))

    @property
    def width(self) -> int:
        return int(self.values.shape[1])

    def with_row(self, t: float, values: IntArray) -> Batch:
        """The batch with one more sample per series at time t, newest (kept in every series)."""
        return Batch(
            np.append(self.t, t),
            np.vstack([self.values, values[None, :]]),
            np.vstack([self.kept, np.ones((1, self.width), dtype=bool)]),
        )


def _columns(batch: Batch) -> IntArray:
    return np.arange(batch.width)


def _last_kept_at_or_before(kept: BoolArray) -> IntArray:
    """Per row and series, the index of the newest kept sample at or before that row, -1 for none."""
    index = np.where(kept, np.arange(kept.shape[0])[:, None], -1)
    accumulated: IntArray = np.maximum.accumulate(index, axis=0) if kept.shape[0] else index
    return accumulated


def end_table(history: Batch, end: IntArray, now: float) -> Batch:
    """Per series the samples before now at or below its current end offset, then (now, end)."""
    kept = history.kept & (history.t < now)[:, None] & (history.values <= end[None, :])
    return Batch(history.t, history.values, kept).with_row(now, end)


def commit_table(history: Batch, committed: IntArray, now: float) -> Batch:
    """Per series the commit samples before now, then (now, committed)."""
    kept = history.kept & (history.t < now)[:, None]
    return Batch(history.t, history.values, kept).with_row(now, committed)


@dataclass(frozen=True)
class TimeLags:
    seconds: FloatArray  # NaN where there is lag but no sample before now to place the position on
    lower_bound: BoolArray  # the position is older than the oldest kept sample


def time_lags(table: Batch, position: IntArray, end: IntArray, now: float) -> TimeLags:
    """now minus the moment each series' end offset was equal to `position`, linear between samples.

    `table` is an `end_table`: its last sample is (now, end) in every series.
    """
    cols = _columns(table)
    caught_up = position >= end
    above = np.argmax(table.kept & (table.values > position[None, :]), axis=0)  # the (now, end) row at the latest
    last_kept = _last_kept_at_or_before(table.kept)
    low = np.where(above > 0, last_kept[np.maximum(above - 1, 0), cols], -1)
    unknown = ~caught_up & (table.kept[:-1].sum(axis=0) == 0)
    lower = ~caught_up & ~unknown & (low < 0)
    safe_low = np.maximum(low, 0)
    low_t, high_t = table.t[safe_low], table.t[above]
    low_v, high_v = table.values[safe_low, cols], table.values[above, cols]
    interpolating = ~caught_up & ~unknown & ~lower
    span = np.where(interpolating, high_v - low_v, 1)
    fraction = (position - low_v) / span
    seconds = now - (low_t + fraction * (high_t - low_t))
    seconds = np.where(lower, now - table.t[np.argmax(table.kept, axis=0)], seconds)
    seconds = np.where(caught_up, 0.0, np.where(unknown, np.nan, seconds))
    return TimeLags(seconds.astype(np.float64), lower)


def window_rates(table: Batch, now: float, window_s: float) -> FloatArray:
    """Per series, messages per second between its oldest and newest kept sample within the window.

    NaN with fewer than two such samples at different times; a decrease counts as no progress.
    """
    if table.values.shape[0] == 0:
        return np.full(table.width, np.nan)
    within = table.kept & ((table.t >= now - window_s) & (table.t <= now))[:, None]
    first = np.argmax(within, axis=0)
    last = within.shape[0] - 1 - np.argmax(within[::-1], axis=0)
    known: BoolArray = np.asarray(within.any(axis=0))
    return _rate_between(table, first, last, known, _columns(table))


def recent_rates(table: Batch, now: float, span_s: float) -> tuple[FloatArray, IntArray]:
    """Per series, messages per second from its newest kept sample at least `span_s` old to its last one.

    Also the index of that starting sample (-1 where none is old enough; the rate is NaN there).
    `table` ends with the sample at now (an `end_table` or `commit_table`).
    """
    old_enough = table.kept & (table.t <= now - span_s)[:, None]
    start = _last_kept_at_or_before(old_enough)[-1]
    last = np.full(table.width, table.values.shape[0] - 1)
    return _rate_between(table, np.maximum(start, 0), last, start >= 0, _columns(table)), start


def _rate_between(table: Batch, first: IntArray, last: IntArray, known: BoolArray, cols: IntArray) -> FloatArray:
    elapsed = table.t[last] - table.t[first]
    moved = (table.values[last, cols] - table.values[first, cols]).astype(np.float64)
    valid = known & (elapsed > 0)
    rates = np.maximum(0.0, moved / np.where(valid, elapsed, 1.0))
    return np.where(valid, rates, np.nan)


def stalls(table: Batch, committed: IntArray, time_lag_s: FloatArray, now: float) -> FloatArray:
    """Per series, how long the committed offset has stayed at `committed` while there was lag.

    From the first sample of the trailing run equal to `committed` (newest first, stable), never
    longer than the time lag; 0 without a positive time lag.
    """
    cols = _columns(table)
    if table.values.shape[0] == 0:
        return np.zeros(table.width)
    order = np.argsort(-table.t, kind="stable")
    t, values = table.t[order], table.values[order]
    kept = table.kept[order] & (t <= now)[:, None]
    differs = kept & (values != committed[None, :])
    first_differing = np.argmax(differs, axis=0)
    last_kept = _last_kept_at_or_before(kept)
    before = np.where(first_differing > 0, last_kept[np.maximum(first_differing - 1, 0), cols], -1)
    previous = np.where(differs.any(axis=0), before, last_kept[-1])
    since = np.where(previous >= 0, t[np.maximum(previous, 0)], now)
    with np.errstate(invalid="ignore"):
        lagging = np.nan_to_num(time_lag_s, nan=0.0) > 0
    stalled = np.maximum(0.0, np.minimum(now - since, np.nan_to_num(time_lag_s, nan=0.0)))
    return np.where(lagging, stalled, 0.0)
