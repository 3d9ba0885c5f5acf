"""Produce-rate traces: CSV with header `t_s,msgs_per_s`, the total rate, linear between rows.

>>> trace = Trace.from_rows([(0, 100.0), (60, 200.0)])
>>> trace.rate_at(30)
150.0
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

HEADER = ("t_s", "msgs_per_s")

FloatArray = npt.NDArray[np.float64]


class TraceError(Exception):
    """A trace file is missing, malformed or describes an impossible rate."""


@dataclass(frozen=True)
class Trace:
    """A piecewise-linear total produce rate over [0, duration_s]."""

    name: str
    times: tuple[float, ...]
    rates: tuple[float, ...]

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[float, float]], name: str = "trace") -> Trace:
        """Validate rows of (seconds, msgs/s); the first must be at 0 s and times must increase."""
        points = list(rows)
        if len(points) < 2:
            raise TraceError(f"{name}: a trace needs at least two rows, found {len(points)}")
        times = tuple(float(t) for t, _ in points)
        rates = tuple(float(r) for _, r in points)
        if times[0] != 0:
            raise TraceError(f"{name}: the first row must be at t_s=0, found {times[0]:g}")
        for index, (t, r) in enumerate(zip(times, rates, strict=True)):
            if not (math.isfinite(t) and math.isfinite(r)):
                raise TraceError(f"{name}: row {index + 2} is not a finite number")
            if r < 0:
                raise TraceError(f"{name}: row {index + 2} has a negative rate ({r:g} msgs/s)")
            if index and t <= times[index - 1]:
                raise TraceError(
                    f"{name}: row {index + 2}: t_s={t:g} does not increase (previous {times[index - 1]:g})"
                )
        return cls(name, times, rates)

    @property
    def duration_s(self) -> int:
        return int(self.times[-1])

    @property
    def peak_rate(self) -> float:
        return max(self.rates)

    def rate_at(self, t: float) -> float:
        return float(np.interp(t, self.times, self.rates))

    def truncated(self, duration_s: int) -> Trace:
        """The first `duration_s` seconds of this trace."""
        if duration_s >= self.duration_s:
            return self
        keep = [(t, r) for t, r in zip(self.times, self.rates, strict=True) if t < duration_s]
        return Trace.from_rows([*keep, (duration_s, self.rate_at(duration_s))], self.name)

    def per_second_rates(self) -> FloatArray:
        """The rate at every whole second 0..duration_s."""
        return np.interp(np.arange(self.duration_s + 1, dtype=np.float64), self.times, self.rates)

    def cumulative(self) -> FloatArray:
        """Messages produced in total by the end of each second 0..duration_s (exact for a linear rate)."""
        rates = self.per_second_rates()
        produced = np.empty_like(rates)
        produced[0] = 0.0
        np.cumsum((rates[1:] + rates[:-1]) / 2.0, out=produced[1:])
        return produced


def read_trace(path: str | Path) -> Trace:
    """Read a `t_s,msgs_per_s` CSV file; raises TraceError naming the problem."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as error:
        raise TraceError(f"{source}: cannot read the trace: {error.strerror}") from None
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if header is None or tuple(h.strip() for h in header) != HEADER:
        raise TraceError(f"{source}: the first line must be the header {','.join(HEADER)}")
    rows: list[tuple[float, float]] = []
    for line_number, row in enumerate(reader, start=2):
        if not row or not "".join(row).strip():
            continue
        if len(row) != 2:
            raise TraceError(f"{source}: line {line_number} has {len(row)} fields, expected 2")
        try:
            rows.append((float(row[0]), float(row[1])))
        except ValueError:
            raise TraceError(f"{source}: line {line_number} is not two numbers: {','.join(row)}") from None
    return Trace.from_rows(rows, source.stem)


def write_trace(path: str | Path, rows: Sequence[tuple[float, float]]) -> None:
    """Write rows of (seconds, msgs/s) with the header."""
    with Path(path).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for t, rate in rows:
            writer.writerow((f"{t:g}", f"{rate:.3f}".rstrip("0").rstrip(".")))
