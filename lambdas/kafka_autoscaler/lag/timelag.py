"""Time lag, rates and stalls of one partition from its offset history.

Pure arithmetic on the (time, offset) samples that `record` keeps in
ScalerState.end_offsets and ScalerState.commits. Every function takes the time
as an argument; nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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


def offset_table(history: Sequence[OffsetSample], end_offset: int, now: float) -> tuple[OffsetSample, ...]:
    """The end-offset history up to now, with the current end offset as its last row.

    Rows newer than now, or above the current end offset (a recreated topic), are dropped.
    """
    kept = sorted((s for s in history if s.t < now and s.offset <= end_offset), key=lambda s: s.t)
    return (*kept, OffsetSample(now, end_offset))


def estimate_time_lag(history: Sequence[OffsetSample], committed: int, end_offset: int, now: float) -> TimeLag | None:
    """now minus the moment the end offset was equal to `committed`, linear between samples.

    None when there is lag but no history before now to place the committed offset on.

    >>> estimate_time_lag([OffsetSample(0.0, 0), OffsetSample(10.0, 100)], 50, 100, 10.0)
    TimeLag(seconds=5.0, lower_bound=False)
    """
    if committed >= end_offset:
        return TimeLag(0.0)
    table = offset_table(history, end_offset, now)
    if len(table) < 2:
        return None
    # The segment whose lower end is the last row still at or below the committed offset:
    # along a flat stretch the message at `committed` was written when the stretch ended.
    above = next(i for i, row in enumerate(table) if row.offset > committed)
    if above == 0:
        return TimeLag(now - table[0].t, lower_bound=True)
    low, high = table[above - 1], table[above]
    fraction = (committed - low.offset) / (high.offset - low.offset)
    return TimeLag(now - (low.t + fraction * (high.t - low.t)))


def rate(samples: Sequence[OffsetSample], now: float, window_s: float = RATE_WINDOW_S) -> float | None:
    """Messages per second between the oldest and newest sample within the window.

    None with fewer than two samples at different times. A decrease (a rewound
    commit, a recreated topic) counts as no progress, never as a negative rate.
    """
    recent = sorted((s for s in samples if now - window_s <= s.t <= now), key=lambda s: s.t)
    if len(recent) < 2 or recent[-1].t <= recent[0].t:
        return None
    return max(0.0, (recent[-1].offset - recent[0].offset) / (recent[-1].t - recent[0].t))


def stalled_for(commits: Sequence[OffsetSample], committed: int, time_lag: TimeLag | None, now: float) -> float:
    """How long the committed offset has stayed at `committed` while the partition had lag.

    Counted from the first sample of the trailing run of samples equal to `committed`,
    and never longer than the lag has existed (the time lag). Without a time lag the
    answer is 0: a partition is not called stalled on a guess, since stuck partitions
    are left out of the demand for tasks.
    """
    if time_lag is None or time_lag.seconds <= 0:
        return 0.0
    since = now
    for sample in sorted((s for s in commits if s.t <= now), key=lambda s: s.t, reverse=True):
        if sample.offset != committed:
            break
        since = sample.t
    return max(0.0, min(now - since, time_lag.seconds))
