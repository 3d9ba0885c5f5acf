"""The forecaster: periods found (or not) in synthetic series, trust, error and switch-off."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from kafka_autoscaler.model import RateSeries
from kafka_autoscaler.policy.forecast import RateForecast, find_periods, forecast_rate, moment

DAY_MIN = 1440
RNG_SEED = 7


def noisy(values: np.ndarray, sigma: float, seed: int = RNG_SEED) -> np.ndarray:
    return values + np.random.default_rng(seed).normal(0.0, sigma, len(values))


def batches(minutes: int, period: int = 25, width: int = 5, base: float = 500.0, height: float = 8000.0) -> np.ndarray:
    m = np.arange(minutes)
    return base + (height - base) * ((m % period) < width)


def daily(minutes: int, low: float = 500.0, high: float = 5500.0) -> np.ndarray:
    m = np.arange(minutes)
    return low + (high - low) * (0.5 - 0.5 * np.cos(2 * np.pi * m / DAY_MIN))


def series(values: np.ndarray, min_cycles: int = 3) -> RateSeries:
    """A history starting at 0 s, with its periods looked for as `record` does."""
    plain = RateSeries(0.0, tuple(float(v) for v in values))
    return dataclasses.replace(plain, periods_min=find_periods(plain, min_cycles), periods_t=0.0)


def at_end(s: RateSeries, lead_s: float, max_error: float = 0.5) -> RateForecast:
    """The forecast made during the last recorded minute."""
    return forecast_rate(s, len(s.values) * 60.0 - 30.0, lead_s, 3, max_error)


# fmt: off
PERIODIC = [
    ("batches every 25 minutes", noisy(batches(300), 100.0), (25,)),
    ("batches every 20 minutes, 3 wide", noisy(batches(240, period=20, width=3), 50.0), (20,)),
    ("a daily shape over 4 days", noisy(daily(4 * DAY_MIN), 100.0), (DAY_MIN,)),
]
APERIODIC = [
    ("white noise", noisy(np.full(2000, 5000.0), 500.0)),
    ("a random walk", 5000.0 + np.cumsum(np.random.default_rng(RNG_SEED).normal(0.0, 50.0, 2000))),
    ("a ramp", np.linspace(1000.0, 10000.0, 1000)),
    ("a step", np.r_[np.full(500, 2000.0), np.full(1000, 8000.0)]),
    ("one spike", np.r_[np.full(45, 1000.0), np.full(10, 10000.0), np.full(200, 1000.0)]),
]
# fmt: on


@pytest.mark.parametrize(("name", "values", "periods"), PERIODIC, ids=[p[0] for p in PERIODIC])
def test_periods_of_periodic_series(name: str, values: np.ndarray, periods: tuple[int, ...]) -> None:
    assert find_periods(RateSeries(0.0, tuple(values)), 3) == periods, name


def test_sum_of_two_periods_is_found() -> None:
    """20-minute batches on top of a daily shape: both, the batches first (they are strongest)."""
    values = noisy(daily(4 * DAY_MIN) + batches(4 * DAY_MIN, period=20, width=4, base=0.0, height=4000.0), 100.0)
    assert find_periods(RateSeries(0.0, tuple(values)), 3) == (20, DAY_MIN)


@pytest.mark.parametrize(("name", "values"), APERIODIC, ids=[a[0] for a in APERIODIC])
def test_aperiodic_series_are_not_trusted(name: str, values: np.ndarray) -> None:
    for lead_s in (180.0, 1800.0):
        f = at_end(series(values), lead_s)
        assert not f.trusted, f"{name}: {f.why}"
        assert f.peak is None


def test_batches_forecast_ahead_of_the_next_batch() -> None:
    """Recorded up to 2 minutes before a batch (minute 300 is the 13th start): the lead sees it coming."""
    s = series(noisy(batches(298), 100.0))
    f = at_end(s, lead_s=240.0)
    assert f.trusted, f.why
    assert f.peak is not None and f.peak == pytest.approx(8000.0, rel=0.05)
    assert f.peak_t is not None and 300 * 60.0 <= f.peak_t < 305 * 60.0  # within the batch's minutes
    assert f.error is not None and f.persistence_error is not None and f.error < f.persistence_error
    assert f.reached_in_each is not None and f.reached_in_each > 7000.0


def test_trusted_only_after_enough_cycles() -> None:
    values = batches(25 * 5)
    for cycles, trusted in ((2, False), (3, True), (4, True)):
        s = series(values[: 25 * cycles + 22])  # `cycles` complete, 3 minutes before the next batch
        f = at_end(s, lead_s=240.0)
        assert f.trusted is trusted, f"{cycles} cycles: {f.why}"
    assert "2 of the 3 cycles" in at_end(series(values[:72]), 240.0).why


def test_more_cycles_can_be_required() -> None:
    s = series(batches(25 * 4 - 3), min_cycles=5)
    assert forecast_rate(s, len(s.values) * 60.0, 240.0, 5, 0.5).status == "learning"


def test_a_broken_rhythm_switches_the_forecast_off() -> None:
    """The batches move by half a cycle: the forecast misses every one and says so."""
    values = np.r_[batches(250), batches(60, period=25)[12:] + 0.0]
    f = at_end(series(values), lead_s=240.0)
    assert f.status == "off", f.why
    assert "switched off" in f.why and f.peak is None


def test_a_daily_shape_is_forecast_half_an_hour_ahead() -> None:
    s = series(noisy(daily(4 * DAY_MIN), 100.0))
    f = at_end(s, 1800.0)
    assert f.trusted and f.error is not None and f.persistence_error is not None
    assert f.error < 0.8 * f.persistence_error


def test_missing_minutes_are_not_zero() -> None:
    """A gap of NaN minutes does not read as a drop to zero: the forecast ignores it."""
    values = batches(298).astype(float)
    values[200:215] = np.nan
    f = at_end(series(values), lead_s=240.0)
    assert f.trusted and f.peak is not None and f.peak > 7000.0


def test_no_history() -> None:
    assert forecast_rate(None, 0.0, 120.0, 3, 0.5).status == "no_history"


@pytest.mark.parametrize(
    ("t", "period", "words"),
    [
        (20 * 60.0, 60, "at :20 past the hour"),
        (14 * 3600.0 + 300, DAY_MIN, "at 14:05 UTC"),
        (4 * 86400 + 9 * 3600.0, 7 * DAY_MIN, "on Mondays at 09:00 UTC"),
    ],
)
def test_moment_in_words(t: float, period: int, words: str) -> None:
    assert moment(t, period) == words
