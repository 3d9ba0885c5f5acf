"""Time lag, rates and stalls of one partition from its offset history.

Pure arithmetic on the (time, offset) samples that `record` keeps in
ScalerState.end_offsets and ScalerState.commits, one series at a time: each function is
`batch.py`'s on a batch of one (the lag path computes whole batches). Every function takes
the time as an argument; nothing here reads a clock.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kafka_autoscaler.lag import batch
from kafka_autoscaler.lag.batch import Batch
from kafka_autoscaler.model import OffsetSample

# Rates are measured over this much recent history: long enough to smooth a
# consumer's commit interval, short enough to follow a change in load.
RATE_WINDOW_S = 300.0


@dataclass(frozen=True)
class TimeLag:
    """How old the oldest unconsumed message is, in seconds.

    `lower_bound` is True when the committed offset is older than the oldest
    end-offset sample: the message is at least `seconds` old, maybe older.
    `exact` is True when read from the message's own timestamp, not estimated from offsets.
    """

    seconds: float
    lower_bound: bool = False
    exact: bool = False


def _batch(samples: Sequence[OffsetSample]) -> Batch:
    """One series as a batch of one."""
    return Batch.of(
        np.array([float(s.t) for s in samples], dtype=np.float64),
        np.array([int(s.offset) for s in samples], dtype=np.int64).reshape(len(samples), 1),
    )


def _known(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def offset_table(history: Sequence[OffsetSample], end_offset: int, now: float) -> tuple[OffsetSample, ...]:
    """The end-offset history up to now, with the current end offset as its last row.

    Rows newer than now, or above the current end offset (a recreated topic), are dropped.
    """
    table = batch.end_table(_batch(history), np.array([end_offset], dtype=np.int64), now)
    rows = zip(table.t.tolist(), table.values[:, 0].tolist(), table.kept[:, 0].tolist(), strict=True)
    return tuple(OffsetSample(t, offset) for t, offset, kept in rows if kept)


def estimate_time_lag(history: Sequence[OffsetSample], committed: int, end_offset: int, now: float) -> TimeLag | None:
    """now minus the moment the end offset was equal to `committed`, linear between samples.

    None when there is lag but no history before now to place the committed offset on.
    Along a flat stretch the message at `committed` was written when the stretch ended.

    >>> estimate_time_lag([OffsetSample(0.0, 0), OffsetSample(10.0, 100)], 50, 100, 10.0)
    TimeLag(seconds=5.0, lower_bound=False, exact=False)
    """
    end = np.array([end_offset], dtype=np.int64)
    found = batch.time_lags(batch.end_table(_batch(history), end, now), np.array([committed], dtype=np.int64), end, now)
    seconds = _known(float(found.seconds[0]))
    return None if seconds is None else TimeLag(seconds, lower_bound=bool(found.lower_bound[0]))


def rate(samples: Sequence[OffsetSample], now: float, window_s: float = RATE_WINDOW_S) -> float | None:
    """Messages per second between the oldest and newest sample within the window.

    None with fewer than two samples at different times. A decrease (a rewound
    commit, a recreated topic) counts as no progress, never as a negative rate.
    """
    return _known(float(batch.window_rates(_batch(samples), now, window_s)[0]))


def stalled_for(commits: Sequence[OffsetSample], committed: int, time_lag: TimeLag | None, now: float) -> float:
    """How long the committed offset has stayed at `committed` while the partition had lag.

    Counted from the first sample of the trailing run of samples equal to `committed`,
    and never longer than the lag has existed (the time lag). Without a time lag the
    answer is 0: a partition is not called stalled on a guess, since stuck partitions
    are left out of the demand for tasks.
    """
    seconds = np.array([np.nan if time_lag is None else time_lag.seconds])
    return float(batch.stalls(_batch(commits), np.array([committed], dtype=np.int64), seconds, now)[0])
