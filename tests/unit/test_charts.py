"""The charting module: matplotlib's SVG, inline, with tooltips; gaps where data is missing."""

from __future__ import annotations

import re
from xml.etree import ElementTree

from kafka_autoscaler.charts import Line, Marker, Panel, Point, Series, timeline_svg, tradeoff_svg


def paths_of_lines(svg: str) -> list[str]:
    return re.findall(r'<g id="line2d_\d+">\s*<path d="([^"]+)"', svg)


def test_missing_values_break_the_line_and_markers_carry_their_tooltip_in_every_panel() -> None:
    rate = Panel("Rate", "msg/s", (Line("rate", "#000", ((0, 1.0), (10, None), (20, 2.0), (30, 3.0))),))
    tasks = Panel("Tasks", "tasks", (Line("n", "#111", ((0, 1.0), (30, 4.0)), step=True),))
    svg = timeline_svg([rate, tasks], "seconds", [Marker(15, "#f00", "15s scale_out 1->4 <why>")], x_max=30)
    ElementTree.fromstring(svg)  # one well-formed <svg>, nothing before it
    assert svg.startswith("<svg") and "<script" not in svg
    assert svg.count("<title>15s scale_out 1-&gt;4 &lt;why&gt;</title>") == 2
    assert any(path.count("M") == 2 for path in paths_of_lines(svg)), "a gap starts a new segment"


def test_tradeoff_plot_has_a_tooltip_per_point_and_the_bound() -> None:
    sweep = Series(
        "keda", "#1f77b4", [Point(10.0, 0.2, "#1f77b4", "keda@1000"), Point(20.0, 0.01, "#1f77b4", "keda@5000")]
    )
    ours = Series("time-lag", "#d62728", [Point(12.0, 0.0, "#d62728", "time-lag")], marker="*")
    svg = tradeoff_svg("step", [sweep, ours], bound=8.0, reference=("range packing", 9.5))
    ElementTree.fromstring(svg)
    assert all(f"<title>{tip}</title>" in svg for tip in ("keda@1000", "keda@5000", "time-lag"))
    assert "lower bound" in svg and "range packing" in svg
