"""The batched lag arithmetic against the single-series rules, written out here one sample at a time.

`lag/batch.py` computes whole batches of partitions with numpy; the reference below is the
plain per-series statement of each rule (as `lag/timelag.py` documents it). Random histories,
through `build_observation` (so through the tables' patterns, and with series of several
patterns in one group), must give the same lag, time lag, rates and stalls.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka_autoscaler.lag.observation import RECENT_SPAN_S, GroupOffsets, OffsetsRead, build_observation
from kafka_autoscaler.lag.timelag import RATE_WINDOW_S
from kafka_autoscaler.model import OffsetSample as S
from kafka_autoscaler.model import ScalerState

NOW = 10_000.0


# ------------------------------------------------------------ the rules, one series at a time
def ref_table(history: tuple[S, ...], end: int) -> list[S]:
    kept = sorted((s for s in history if s.t < NOW and s.offset <= end), key=lambda s: s.t)
    return [*kept, S(NOW, end)]


def ref_time_lag(history: tuple[S, ...], position: int, end: int) -> float | None:
    if position >= end:
        return 0.0
    table = ref_table(history, end)
    if len(table) < 2:
        return None
    above = next(i for i, row in enumerate(table) if row.offset > position)
    if above == 0:
        return NOW - table[0].t
    low, high = table[above - 1], table[above]
    return NOW - (low.t + (position - low.offset) / (high.offset - low.offset) * (high.t - low.t))


def ref_window_rate(samples: list[S], window: float) -> float | None:
    recent = sorted((s for s in samples if NOW - window <= s.t <= NOW), key=lambda s: s.t)
    if len(recent) < 2 or recent[-1].t <= recent[0].t:
        return None
    return max(0.0, (recent[-1].offset - recent[0].offset) / (recent[-1].t - recent[0].t))


def ref_recent(samples: list[S]) -> tuple[float | None, S | None]:
    """From the newest sample at least RECENT_SPAN_S old (the last of equal times) to the sample at now."""
    old = [s for s in sorted(samples[:-1], key=lambda s: s.t) if s.t <= NOW - RECENT_SPAN_S]
    if not old:
        return None, None
    start, last = old[-1], samples[-1]
    return max(0.0, (last.offset - start.offset) / (last.t - start.t)), start


def ref_stall(commits: list[S], committed: int, time_lag: float | None) -> float:
    if time_lag is None or time_lag <= 0:
        return 0.0
    since = NOW
    for sample in sorted((s for s in commits if s.t <= NOW), key=lambda s: s.t, reverse=True):
        if sample.offset != committed:
            break
        since = sample.t
    return max(0.0, min(NOW - since, time_lag))


# ------------------------------------------------------------ random histories
times = st.sampled_from([NOW - 7200, NOW - 900, NOW - 300, NOW - 240, NOW - 120, NOW - 60, NOW - 30, NOW - 5, NOW])
series = st.lists(st.builds(S, times, st.integers(0, 5000)), max_size=7).map(
    lambda samples: tuple(sorted({s.t: s for s in samples}.values(), key=lambda s: s.t))
)
partition = st.tuples(st.integers(0, 5000), st.none() | st.integers(0, 5000), series, series)


@settings(max_examples=300, deadline=None)
@given(st.lists(partition, min_size=1, max_size=12))
def test_a_batch_computes_what_the_single_series_rules_compute(
    rows: list[tuple[int, int | None, tuple[S, ...], tuple[S, ...]]],
) -> None:
    tps = [("t", p) for p in range(len(rows))]
    committed = {tp: c for tp, (_, c, _, _) in zip(tps, rows, strict=True) if c is not None}
    group = GroupOffsets("g", "Stable", 1, frozenset(tps), committed)
    read = OffsetsRead(
        {"g": group},
        {"g": ("t",)},
        {"t": tuple(range(len(rows)))},
        {tp: r[0] for tp, r in zip(tps, rows, strict=True)},
        {},
    )
    state = ScalerState(
        end_offsets={f"t:{p}": ends for p, (_, _, ends, _) in enumerate(rows)},
        commits={f"g|t:{p}": commits for p, (_, _, _, commits) in enumerate(rows)},
    )
    found = build_observation(read, state, NOW).groups["g"].partitions
    for got, (end, commit, ends, commits) in zip(found, rows, strict=True):
        position = commit if commit is not None else end
        time_lag = ref_time_lag(ends, position, end)
        assert got.lag == max(0, end - position)
        assert got.time_lag_s == pytest.approx(time_lag)
        table = ref_table(ends, end)
        recent_produce, _ = ref_recent(table)
        assert got.produce_rate == pytest.approx(
            recent_produce if recent_produce is not None else ref_window_rate(table, RATE_WINDOW_S)
        )
        if commit is None:
            assert (got.consume_rate, got.recent_consume_rate, got.stalled_for_s) == (None, None, 0.0)
            continue
        commit_table = [*(s for s in commits if s.t < NOW), S(NOW, commit)]
        assert got.consume_rate == pytest.approx(ref_window_rate(commit_table, RATE_WINDOW_S))
        assert got.stalled_for_s == pytest.approx(ref_stall(commit_table, commit, time_lag))
        recent_consume, start = ref_recent(commit_table)
        assert got.recent_consume_rate == pytest.approx(recent_consume)
        end_then = [s for s in table[:-1] if start is not None and s.t == start.t]
        expected_lag = end_then[-1].offset - start.offset if start is not None and end_then else None
        assert got.recent_start_lag == expected_lag


def test_the_lag_at_the_start_of_the_interval_uses_the_kept_end_sample_of_that_moment() -> None:
    """Of two end samples at the commit's moment (a hand-built history), the one above the end offset
    (a recreated topic) is not kept: the lag then is read from the other."""
    group = GroupOffsets("g", "Stable", 1, frozenset(), {("t", 0): 30})
    read = OffsetsRead({"g": group}, {"g": ("t",)}, {"t": (0,)}, {("t", 0): 40}, {})
    state = ScalerState(end_offsets={"t:0": (S(NOW - 60, 25), S(NOW - 60, 90))}, commits={"g|t:0": (S(NOW - 60, 22),)})
    row = build_observation(read, state, NOW).groups["g"].partitions[0]
    assert row.recent_start_lag == 25 - 22
