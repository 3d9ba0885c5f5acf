"""Time lag, rates and stalls from offset samples (lag/timelag.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kafka_autoscaler.lag.timelag import TimeLag, estimate_time_lag, offset_table, rate, stalled_for
from kafka_autoscaler.model import OffsetSample as S

# End offsets of a partition written at 10 msgs/s from t=1000 to t=1060, then paused
# until t=1090, then 20 msgs/s until now (t=1100).
HISTORY = (S(1000.0, 0), S(1030.0, 300), S(1060.0, 600), S(1090.0, 600))
NOW = 1100.0
END = 800


@pytest.mark.parametrize(
    ("committed", "expected", "why"),
    [
        (800, TimeLag(0.0), "caught up: no lag, no time lag"),
        (900, TimeLag(0.0), "committed past the end (truncated log): still no time lag"),
        (700, TimeLag(5.0), "half way through the last 10 s, between t=1090 (600) and now (800)"),
        (600, TimeLag(10.0), "flat stretch: the message at 600 was written when the pause ended"),
        (450, TimeLag(55.0), "between t=1030 (300) and t=1060 (600): written at t=1045"),
        (300, TimeLag(70.0), "exactly on a sample: written at t=1030"),
        (0, TimeLag(100.0), "the oldest sample's offset: written at t=1000"),
    ],
)
def test_time_lag_interpolates_on_the_end_offset_table(committed: int, expected: TimeLag, why: str) -> None:
    assert estimate_time_lag(HISTORY, committed, END, NOW) == pytest.approx(expected), why


def test_committed_older_than_the_oldest_sample_is_a_lower_bound() -> None:
    history = (S(1000.0, 500), S(1050.0, 600))
    assert estimate_time_lag(history, 100, 700, NOW) == TimeLag(100.0, lower_bound=True)


def test_no_history_before_now_gives_no_time_lag_for_a_lagging_partition() -> None:
    assert estimate_time_lag((), 10, 20, NOW) is None
    assert estimate_time_lag((S(NOW, 15),), 10, 20, NOW) is None, "a sample at now adds nothing"


def test_samples_above_the_current_end_are_ignored_as_from_a_recreated_topic() -> None:
    history = (S(1000.0, 5_000), S(1050.0, 0))
    assert offset_table(history, 100, NOW) == (S(1050.0, 0), S(NOW, 100))
    assert estimate_time_lag(history, 50, 100, NOW) == pytest.approx(TimeLag(25.0))


@given(
    steps=st.lists(st.tuples(st.floats(0.5, 600.0), st.integers(0, 10_000)), min_size=1, max_size=12),
    base=st.integers(0, 1_000),
    older=st.integers(0, 200_000),
    newer=st.integers(0, 200_000),
)
def test_time_lag_is_monotone_in_how_old_the_committed_offset_is(
    steps: list[tuple[float, int]], base: int, older: int, newer: int
) -> None:
    t, offset, history = 0.0, base, []
    for dt, produced in steps:
        history.append(S(t, offset))
        t, offset = t + dt, offset + produced
    now, end = t, offset
    older, newer = min(older, newer, end), min(max(older, newer), end)
    lag_older = estimate_time_lag(history, older, end, now)
    lag_newer = estimate_time_lag(history, newer, end, now)
    assert lag_older is not None and lag_newer is not None
    assert lag_older.seconds >= lag_newer.seconds - 1e-9
    assert 0.0 <= lag_newer.seconds <= now - history[0].t + 1e-9
    assert not lag_older.lower_bound or lag_older.seconds == pytest.approx(now - history[0].t)


@pytest.mark.parametrize(
    ("samples", "expected", "why"),
    [
        ((S(1000.0, 0), S(1100.0, 500)), 5.0, "500 messages in 100 s"),
        ((S(700.0, 0), S(1000.0, 100), S(1100.0, 600)), 5.0, "the sample before the window is left out"),
        ((S(1000.0, 100), S(1100.0, 40)), 0.0, "a rewind is no progress, not a negative rate"),
        ((S(1100.0, 40),), None, "one sample has no rate"),
        ((S(1100.0, 40), S(1100.0, 50)), None, "two samples at the same time have no rate"),
        ((), None, "nothing known"),
    ],
)
def test_rate_over_the_recent_window(samples: tuple[S, ...], expected: float | None, why: str) -> None:
    assert rate(samples, NOW, window_s=300.0) == expected, why


@pytest.mark.parametrize(
    ("commits", "committed", "time_lag", "expected", "why"),
    [
        ((S(1000.0, 40), S(1050.0, 40), S(1100.0, 40)), 40, TimeLag(500.0), 100.0, "unchanged for 100 s"),
        ((S(1000.0, 10), S(1050.0, 40), S(1100.0, 40)), 40, TimeLag(500.0), 50.0, "moved at t=1050"),
        ((S(1000.0, 40), S(1100.0, 40)), 40, TimeLag(30.0), 30.0, "the lag only began 30 s ago"),
        ((S(1000.0, 40), S(1100.0, 40)), 40, TimeLag(0.0), 0.0, "no lag: never stalled"),
        ((S(1000.0, 40), S(1100.0, 40)), 40, None, 0.0, "lag of unknown age: not called stalled"),
        ((S(1000.0, 40), S(1050.0, 40)), 55, TimeLag(500.0), 0.0, "the offset moved since the last sample"),
    ],
)
def test_stalled_for(
    commits: tuple[S, ...], committed: int, time_lag: TimeLag | None, expected: float, why: str
) -> None:
    assert stalled_for(commits, committed, time_lag, NOW) == expected, why
