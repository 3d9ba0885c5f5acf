"""A pure forecaster of periodic load: the rhythm of a rate history, and the rate it says comes next.

It looks for periods from a few minutes to a week in the per-minute history (the
autocorrelation of the detrended series, computed by FFT), takes up to two of them
(a batch every 20 minutes on top of a daily shape is their sum), and forecasts each
minute ahead as the median of the same moment over the last cycles. A period is
trusted only once `min_cycles` complete cycles are recorded, and the forecast only
while it measurably beats the plain "the rate stays as it is" at the lead it is used
for; one that keeps missing switches itself off.

>>> series = RateSeries(0.0, tuple(100.0 + 900.0 * (m % 20 < 5) for m in range(200)))
>>> find_periods(series, min_cycles=3)
(20,)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import numpy.typing as npt

from kafka_autoscaler.model import RateSeries

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MINUTE_S = 60.0
# The series `record` keeps for the brokers (consumer groups' are keyed by their binding's key).
BYTES_IN_KEY = "brokers:bytes_in"  # bytes/s into the cluster
CPU_KEY = "brokers:cpu"  # CPU % (user + system) summed over brokers: the count times the mean
OPERATION_KEY = "brokers"  # the lead time of a broker-count operation
MIN_PERIOD_MIN = 5
MAX_PERIOD_MIN = 7 * 1440
MAX_COMPONENTS = 2  # periods summed: e.g. batches on top of a daily shape
# Why these: a period is a peak of the autocorrelation that is both high and stands out
# from the dip before it; a trend or a random walk has high autocorrelation at every lag
# but no dip, white noise has neither.
MIN_AUTOCORRELATION = 0.3
MIN_PROMINENCE = 0.3
CYCLES_USED = 4  # the forecast is the median over at most this many past cycles
DETECTION_POINTS = 4096  # longer histories are averaged into coarser steps for detection
# Why: a forecast that is not clearly better than assuming the present rate lasts adds
# cost without adding foresight; it must cut that error by at least a fifth.
MIN_SKILL = 0.2
RECENT_WINDOW_MIN = 60  # "keeps missing" is judged over at most the last hour
MAX_ERROR_WINDOW_MIN = 1440

Status = Literal["trusted", "learning", "aperiodic", "off", "no_history"]


@dataclass(frozen=True)
class RateForecast:
    """What the history says about the next `lead_s` seconds."""

    status: Status
    why: str
    periods_min: tuple[int, ...] = ()
    cycles: int = 0  # complete cycles of the longest period recorded
    error: float | None = None  # mean absolute error / mean rate over the last cycle, at the lead
    persistence_error: float | None = None  # the same for "the rate stays as it is"
    recent_error: float | None = None  # over the last hour at most
    start_t: float = 0.0  # the minute of values[0]
    values: tuple[float, ...] = ()  # the forecast rate per minute over the lead
    peak: float | None = None  # highest forecast over the lead
    peak_t: float | None = None
    spread: float | None = None  # half the range of the cycles' values at the peak
    reached_in_each: float | None = None  # the lowest of the cycles' values at the peak

    @property
    def trusted(self) -> bool:
        return self.status == "trusted"

    def as_dict(self) -> dict[str, object]:
        return {
            "status": self.status,
            "why": self.why,
            "periods_min": list(self.periods_min),
            "cycles": self.cycles,
            "error": _rounded(self.error),
            "persistence_error": _rounded(self.persistence_error),
            "recent_error": _rounded(self.recent_error),
            "peak": _rounded(self.peak),
            "peak_t": self.peak_t,
            "spread": _rounded(self.spread),
            "start_t": self.start_t,
            "values": [round(v, 3) for v in self.values],
        }


def _rounded(value: float | None) -> float | None:
    """For JSON: None for what is unknown or unbounded."""
    return None if value is None or not math.isfinite(value) else round(value, 3)


def _filled(x: FloatArray) -> FloatArray:
    """Missing minutes interpolated from their neighbours (for detection only)."""
    known = np.isfinite(x)
    if known.all() or not known.any():
        return np.where(known, x, 0.0)
    index = np.arange(len(x))
    filled: FloatArray = np.interp(index, index[known], x[known]).astype(np.float64)
    return filled


def autocorrelation(y: FloatArray, max_lag: int) -> FloatArray:
    """Autocorrelation of the linearly detrended series for lags 0..max_lag (unbiased, by FFT)."""
    n = len(y)
    t = np.arange(n, dtype=np.float64)
    slope, intercept = np.polyfit(t, y, 1) if n > 1 else (0.0, float(y.mean()))
    z = y - (slope * t + intercept)
    size = 1 << (2 * n - 1).bit_length()
    spectrum = np.fft.rfft(z, size)
    acf = np.fft.irfft(spectrum * np.conj(spectrum), size)[: max_lag + 1]
    acf = acf / (n - np.arange(max_lag + 1))
    return acf / acf[0] if acf[0] > 0 else np.zeros(max_lag + 1)


def detect_period(x: FloatArray, min_cycles: int = 2) -> int | None:
    """The strongest period in minutes with at least `min_cycles` cycles in `x`, or None."""
    step = max(1, math.ceil(len(x) / DETECTION_POINTS))
    filled = _filled(x)
    usable = len(x) - len(x) % step
    y = filled[len(x) - usable :].reshape(-1, step).mean(axis=1)
    low = max(1, math.ceil(MIN_PERIOD_MIN / step))
    high = min(len(y) // min_cycles, MAX_PERIOD_MIN // step)
    if high <= low + 1:
        return None
    acf = autocorrelation(y, high + 1)
    dips = np.minimum.accumulate(acf)
    lags = np.arange(low, high + 1)
    peaks = lags[
        (acf[lags] >= acf[lags - 1])
        & (acf[lags] >= acf[lags + 1])
        & (acf[lags] >= MIN_AUTOCORRELATION)
        & (acf[lags] - dips[lags] >= MIN_PROMINENCE)
    ]
    if not len(peaks):
        return None
    best = float(acf[peaks].max())
    # Why the smallest near the best: a period's multiples correlate as well as it does.
    return refine_period(filled, int(peaks[acf[peaks] >= 0.9 * best][0]) * step, step)


def refine_period(x: FloatArray, rough: int, step: int) -> int:
    """The period near `rough` (found at `step` minutes) whose cycles differ least, in whole minutes.

    Of periods that fit within 5% as well, the roundest is taken (whole days, hours, five
    minutes): workloads follow clocks, and a broad peak says nothing finer.
    """
    reach = max(step, math.ceil(0.01 * rough))
    candidates = [p for p in range(rough - reach, rough + reach + 1) if MIN_PERIOD_MIN <= p < len(x)]
    if not candidates:
        return rough
    scores = [float(np.abs(x[p:] - x[:-p]).mean()) for p in candidates]
    good = min(scores) * 1.05 + 1e-12
    fitting = [p for p, score in zip(candidates, scores, strict=True) if score <= good]

    def roundness(period: int) -> tuple[int, int]:
        unit = next(i for i, u in enumerate((1440, 60, 5, 1)) if period % u == 0)
        return unit, abs(period - candidates[int(np.argmin(scores))])

    return min(fitting, key=roundness)


def _row_medians(values: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Median and half-range of each row, ignoring NaN (NaN where a row holds none)."""
    ordered = np.sort(values, axis=1)  # NaN sorts last
    known = np.isfinite(ordered).sum(axis=1)
    rows = np.arange(len(values))
    low = ordered[rows, np.maximum(known - 1, 0) // 2]
    high = ordered[rows, np.maximum(known, 1) // 2 - (known == 0)]
    median = np.where(known > 0, (low + high) / 2, np.nan)
    half_range = np.where(known > 0, (ordered[rows, np.maximum(known - 1, 0)] - ordered[:, 0]) / 2, np.nan)
    return median, half_range


def seasonal(x: FloatArray, period: int, at: IntArray, known_before: IntArray) -> tuple[FloatArray, FloatArray]:
    """Median and half-range, per index in `at`, of the same moment over the last cycles.

    Only values at indexes below `known_before` (per row) are used: what was known when
    the forecast was made.
    """
    back = at[:, None] - period * np.arange(1, CYCLES_USED + 1)[None, :]
    valid = (back >= 0) & (back < known_before[:, None])
    return _row_medians(np.where(valid, x[np.clip(back, 0, len(x) - 1)], np.nan))


def trailing_mean(x: FloatArray, window: int) -> FloatArray:
    """The mean of the last `window` known values at each index (fewer at the start)."""
    known = np.isfinite(x)
    sums = np.concatenate(([0.0], np.cumsum(np.where(known, x, 0.0))))
    counts = np.concatenate(([0], np.cumsum(known)))
    ends = np.arange(1, len(x) + 1)
    starts = np.maximum(ends - window, 0)
    seen = counts[ends] - counts[starts]
    return np.where(seen > 0, (sums[ends] - sums[starts]) / np.maximum(seen, 1), np.nan)


def _model(x: FloatArray, periods: tuple[int, ...], at: IntArray, known_before: IntArray) -> FloatArray:
    """The sum of the periods' seasonal medians.

    Every period but the last contributes only its shape (the series less its mean over one
    cycle); the level and what the shape leaves are the next period's to explain.
    """
    every = np.arange(len(x))
    left: FloatArray = x
    total: FloatArray = np.zeros(len(at))
    for index, period in enumerate(periods):
        if index == len(periods) - 1:
            return total + seasonal(left, period, at, known_before)[0]
        shape = left - trailing_mean(left, period)
        total = total + seasonal(shape, period, at, known_before)[0]
        left = left - seasonal(shape, period, every, every)[0]
    return total


def _highest(rows: FloatArray) -> FloatArray:
    """Each row's highest known value; NaN where a row knows none."""
    known = np.isfinite(rows)
    return np.where(known.any(axis=1), np.where(known, rows, -np.inf).max(axis=1), np.nan)


def _relative_error(predicted: FloatArray, actual: FloatArray) -> float | None:
    both = np.isfinite(predicted) & np.isfinite(actual)
    if both.sum() < max(3, len(actual) // 2):
        return None
    scale = float(np.abs(actual[both]).mean())
    if scale <= 0:
        return 0.0 if float(np.abs(predicted[both]).max()) == 0 else math.inf
    return float(np.abs(predicted[both] - actual[both]).mean()) / scale


def _fit_error(x: FloatArray, periods: tuple[int, ...]) -> float:
    """In-sample error of the model one cycle of the first period ahead: how much the periods explain."""
    every = np.arange(len(x))
    return _relative_error(_model(x, periods, every, every - periods[0] + 1), x) or math.inf


def find_periods(series: RateSeries, min_cycles: int) -> tuple[int, ...]:
    """The periods in minutes a series' per-minute history shows, strongest first."""
    return _periods(np.asarray(series.values, dtype=np.float64), min_cycles)


def _periods(x: FloatArray, min_cycles: int) -> tuple[int, ...]:
    """Up to MAX_COMPONENTS periods, each found in what the ones before leave unexplained.

    The first may still lack cycles (it is then reported as forming); each further one
    needs `min_cycles` and must cut the error by MIN_SKILL, or it is noise.
    """
    first = detect_period(x)
    if first is None:
        return ()
    found = [first]
    every = np.arange(len(x))
    left = x
    while len(found) < MAX_COMPONENTS:
        shape = left - trailing_mean(left, found[-1])
        left = left - seasonal(shape, found[-1], every, every)[0]  # NaN over the first cycle
        rest = left[np.isfinite(left).cumsum() > 0]
        more = detect_period(rest, min_cycles) if len(rest) else None
        if more is None or more in found:
            break
        if _fit_error(x, (*found, more)) > (1 - MIN_SKILL) * _fit_error(x, tuple(found)):
            break
        found.append(more)
    return tuple(found)


def forecast_rate(
    series: RateSeries | None, now: float, lead_s: float, min_cycles: int, max_error: float
) -> RateForecast:
    """The forecast over [now, now + lead_s] from a per-minute history, with why it is (not) trusted."""
    if series is None or not series.values:
        return RateForecast("no_history", "no rate history is recorded yet")
    x = np.asarray(series.values, dtype=np.float64)
    n = len(x)
    periods = series.periods_min
    if series.periods_t is None:
        return RateForecast("learning", f"{_duration(n)} of history is not yet looked at for a rhythm")
    if not periods:
        return RateForecast("aperiodic", f"no periodic pattern in {_duration(n)} of history")
    longest = max(periods)
    cycles = n // longest
    if cycles < min_cycles:
        return RateForecast(
            "learning",
            f"a {_span(longest)} rhythm is forming: {cycles} of the {min_cycles} cycles needed are recorded",
            periods,
            cycles,
        )
    lead_min = max(1, math.ceil(lead_s / MINUTE_S))
    # Measured as it is used: at each minute of the last cycle, the highest rate forecast for
    # the next `lead` minutes from what was known then, against the highest that came (the
    # newest minute is still filling, so it is left out). A batch a minute early or late
    # within the lead is not a miss; one the forecast did not see coming is.
    window = min(longest, MAX_ERROR_WINDOW_MIN, n - 1 - lead_min)
    decided = np.arange(n - 1 - lead_min - window, n - 1 - lead_min)
    minutes = decided[:, None] + np.arange(lead_min + 1)[None, :]
    known = np.repeat(decided, lead_min + 1)
    forecast_minutes = _model(x, periods, minutes.ravel(), known).reshape(minutes.shape)
    predicted = _highest(forecast_minutes)
    actual = _highest(x[minutes])
    persistence = x[np.clip(decided - 1, 0, n - 1)]
    error = _relative_error(predicted, actual)
    persistence_error = _relative_error(persistence, actual)
    recent = min(window, RECENT_WINDOW_MIN)
    recent_error = _relative_error(predicted[-recent:], actual[-recent:])
    measured = RateForecast(
        "learning",
        "too few recorded minutes to measure the forecast's error",
        periods,
        cycles,
        error,
        persistence_error,
        recent_error,
    )
    if error is None or recent_error is None or persistence_error is None:
        return measured
    if recent_error > max_error or error > max_error:
        worst = max(error, recent_error)
        why = f"switched off: it missed by {worst:.0%} of the rate recently (more than {max_error:.0%})"
        return replace(measured, status="off", why=why)
    if error > (1 - MIN_SKILL) * persistence_error:
        why = (
            f"a {_span(longest)} rhythm is no better than the present rate {_duration(lead_min)} ahead "
            f"(error {error:.0%} against {persistence_error:.0%})"
        )
        return replace(measured, status="aperiodic", why=why)
    start = math.floor(now / MINUTE_S)
    first = start - math.floor(series.start_t / MINUTE_S)
    ahead = np.arange(first, first + lead_min + 1)
    values = _model(x, periods, ahead, np.full(len(ahead), n))
    if not np.isfinite(values).any():
        return replace(measured, why="the cycles hold no data for the coming minutes")
    values = np.maximum(np.where(np.isfinite(values), values, 0.0), 0.0)  # a minute no cycle covers adds no peak
    top = int(np.argmax(values))
    _, spread = seasonal(x, longest, ahead[top : top + 1], np.array([n]))
    back = ahead[top] - longest * np.arange(1, min(cycles, CYCLES_USED) + 1)
    reached = x[back[(back >= 0) & (back < n)]]
    return replace(
        measured,
        status="trusted",
        why=f"{_span(longest)} rhythm over {cycles} cycles, error {error:.0%} "
        f"(the present rate: {persistence_error:.0%})",
        start_t=start * MINUTE_S,
        values=tuple(float(v) for v in values),
        peak=float(values.max()),
        peak_t=(start + top) * MINUTE_S,
        spread=float(spread[0]) if np.isfinite(spread[0]) else None,
        reached_in_each=float(np.nanmin(reached)) if np.isfinite(reached).any() else None,
    )


def _span(minutes: int) -> str:
    if minutes % 1440 == 0:
        return f"{minutes // 1440}-day"
    if minutes % 60 == 0:
        return f"{minutes // 60}-hour"
    return f"{minutes}-minute"


def _duration(minutes: int) -> str:
    if minutes >= 2 * 1440:
        return f"{minutes / 1440:.1f} days"
    if minutes >= 120:
        return f"{minutes / 60:.1f} hours"
    return f"{minutes} minutes"


WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def moment(t: float, period_min: int) -> str:
    """When in its cycle `t` falls, in the words the period suggests (UTC)."""
    minute = int(t // MINUTE_S)
    clock = f"{minute // 60 % 24:02d}:{minute % 60:02d} UTC"
    if period_min == 60:
        return f"at :{minute % 60:02d} past the hour"
    if period_min == 1440:
        return f"at {clock}"
    if period_min == 7 * 1440:
        return f"on {WEEKDAYS[(minute // 1440 + 3) % 7]}s at {clock}"  # 1 January 1970 was a Thursday
    return f"at this point of each {_span(period_min)} cycle (next at {clock})"
