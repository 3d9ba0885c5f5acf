"""The bench and simulate reports rendered in headless Chromium: a person sees the plots, in colour, whole."""

from __future__ import annotations

from pathlib import Path

import pytest
from kafka_autoscaler.sim.bench import find_traces_dir, load_traces, run_bench
from kafka_autoscaler.sim.report_html import COLOURS, write_report
from kafka_autoscaler.sim.settings import SimSettings
from screenshots import inked_rows, screenshot, share_of


def test_the_bench_report_shows_each_policy_in_its_colour_and_ends_on_the_page(tmp_path: Path) -> None:
    spike = next(t for t in load_traces(find_traces_dir(None), quick=True) if t.name == "spike")
    results = run_bench([spike], SimSettings(), policies=("time-lag", "keda", "static"), grid=(3000, 30000))
    page = tmp_path / "bench.html"
    write_report(page, results)
    pixels = screenshot(page)
    for policy in ("time-lag", "keda", "static"):
        assert share_of(pixels, COLOURS[policy]) > 0.0005, f"{policy} is drawn, in its own colour"
    rows = inked_rows(pixels)
    assert rows.size > 0.3 * pixels.shape[0] / 2, "the page holds text and plots, not a blank"
    assert rows[-1] < pixels.shape[0] - 50, "the report ends within the page: nothing is cut off"
    assert rows[0] < 80, "the title is at the top"


def test_a_report_needs_a_run_and_says_so(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one run"):
        write_report(tmp_path / "empty.html", [])
    assert not (tmp_path / "empty.html").exists(), "nothing half-written"
