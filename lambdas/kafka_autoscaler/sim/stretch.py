"""Many seconds of consumption at once, with the same arithmetic as one second at a time.

Within a stretch nothing outside the world acts and no task joins, no pause ends: the
members, their partitions and the produce counts are fixed in advance. A second that
starts with nothing waiting, and in which every member's capacity covers what its
partitions are produced, consumes exactly what was produced, so only the other seconds
are worked out one by one, in the order they happen. Every count is a whole number of
messages held in a float, so sums of them are exact in any order.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kafka_autoscaler.sim.trace import FloatArray

IntArray = npt.NDArray[np.int64]


def waiting_by_slot(counts: FloatArray, slots: IntArray, slot_count: int) -> FloatArray:
    """Per second (row), the sum of `counts` over the partitions of each slot."""
    seconds = counts.shape[0]
    flat = (np.arange(seconds, dtype=np.int64)[:, None] * slot_count + slots[None, :]).ravel()
    sums = np.bincount(flat, weights=counts.ravel(), minlength=seconds * slot_count)
    waiting: FloatArray = sums.reshape(seconds, slot_count).astype(np.float64, copy=False)
    return waiting


def consume(deltas: FloatArray, backlog: FloatArray, slots: IntArray, capacity: FloatArray) -> FloatArray:
    """Messages taken per second and partition.

    `deltas[i]`: produced in second i per partition; `backlog`: waiting before the first;
    `slots`: each partition's consuming slot; `capacity[i]`: each slot's throughput in
    second i (the last slot, of paused and unowned partitions, has none). A second with
    something carried over, or with a slot short of capacity, is the one-second rule of
    World._consume.
    """
    seconds, slot_count = capacity.shape
    taken = deltas.copy()
    short = np.flatnonzero((waiting_by_slot(deltas, slots, slot_count) > capacity).any(axis=1))
    left = backlog
    carrying = np.count_nonzero(left) > 0
    second = 0
    with np.errstate(divide="ignore", invalid="ignore"):
        while second < seconds:
            if not carrying:
                index = int(np.searchsorted(short, second))
                if index == short.size:
                    break
                second = int(short[index])
            available = left + deltas[second]
            waiting = np.bincount(slots, weights=available, minlength=slot_count)
            # A slot with nothing waiting divides to inf or nan; fmin makes it 1, as _consume does.
            fraction = np.fmin(capacity[second] / waiting, 1.0)
            # The epsilon keeps a share that is whole in exact arithmetic whole in floating point.
            took = taken[second]
            np.multiply(available, fraction[slots], out=took)
            took += 1e-6
            np.floor(took, out=took)
            np.minimum(took, available, out=took)
            left = available - took
            carrying = np.count_nonzero(left) > 0
            second += 1
    return taken


def time_lags(
    times: IntArray, backlog: FloatArray, consumed: FloatArray, inverse_shares: FloatArray, cumulative: FloatArray
) -> FloatArray:
    """Per second, the highest partition time lag: the age of the oldest unprocessed message."""
    lags = np.zeros(times.size)
    waiting = backlog > 0
    rows = np.flatnonzero(waiting.any(axis=1))
    if rows.size:
        oldest = np.where(waiting[rows], (consumed[rows] + 1.0) * inverse_shares, np.inf).min(axis=1)
        lags[rows] = np.maximum(0.0, times[rows] - first_reaching(cumulative, oldest))
    return lags


def first_reaching(cumulative: FloatArray, values: FloatArray) -> IntArray:
    """cumulative.searchsorted(values), searching only the span the values fall in."""
    low = int(cumulative.searchsorted(values.min()))
    high = int(cumulative.searchsorted(values.max()))
    found: IntArray = cumulative[low : high + 1].searchsorted(values) + low
    return found


def last_commits(t: int, owners: IntArray, interval_s: int) -> IntArray:
    """Per partition, the latest second at or before `t` its owner committed on its auto-commit phase."""
    last: IntArray = t - (t + owners) % interval_s
    return last
