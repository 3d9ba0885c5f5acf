"""Traces: the CSV format, its errors, and the exact cumulative count the world produces from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from kafka_autoscaler.sim.trace import Trace, TraceError, read_trace, write_trace


def test_round_trip_and_linear_interpolation(tmp_path: Path) -> None:
    path = tmp_path / "ramp.csv"
    write_trace(path, [(0, 100.0), (60, 400.0), (120, 400.0)])
    trace = read_trace(path)
    assert trace.name == "ramp"
    assert trace.duration_s == 120
    assert trace.rate_at(30) == pytest.approx(250.0)
    assert trace.peak_rate == 400.0


def test_cumulative_is_the_exact_integral_of_the_linear_rate() -> None:
    trace = Trace.from_rows([(0, 100.0), (60, 400.0), (120, 400.0)])
    produced = trace.cumulative()
    # Trapezoid 0..60 s: (100 + 400) / 2 * 60 = 15000; then 400 msgs/s for 60 s.
    assert produced[60] == pytest.approx(15000.0)
    assert produced[120] == pytest.approx(15000.0 + 24000.0)
    assert np.all(np.diff(produced) >= 0)


def test_truncated_keeps_the_rate_at_the_cut() -> None:
    trace = Trace.from_rows([(0, 0.0), (100, 1000.0)]).truncated(40)
    assert trace.duration_s == 40
    assert trace.times[-1] == 40
    assert trace.rates[-1] == pytest.approx(400.0)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("time,rate\n0,1\n10,1\n", "header"),
        ("t_s,msgs_per_s\n5,1\n10,1\n", "first row must be at t_s=0"),
        ("t_s,msgs_per_s\n0,1\n10,1\n10,2\n", "does not increase"),
        ("t_s,msgs_per_s\n0,1\n10,-3\n", "negative rate"),
        ("t_s,msgs_per_s\n0,1\n10,abc\n", "line 3 is not two numbers"),
        ("t_s,msgs_per_s\n0,1,2\n10,1\n", "3 fields"),
        ("t_s,msgs_per_s\n0,1\n", "at least two rows"),
    ],
)
def test_bad_files_name_the_problem(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TraceError, match=problem):
        read_trace(path)


def test_missing_file_is_a_trace_error(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="cannot read"):
        read_trace(tmp_path / "absent.csv")
