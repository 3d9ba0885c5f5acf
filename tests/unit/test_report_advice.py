"""The demo report's advice section: what the advisor told, as a list."""

from __future__ import annotations

from kafka_autoscaler.local.report_html import render_report
from kafka_autoscaler.local.timeline import Event, Timeline


def timeline(*events: Event) -> Timeline:
    built = Timeline("default", 60.0, ramp_start_s=10.0, target_time_lag_s=10.0, bytes_in_limit_per_broker=None)
    built.events.extend(events)
    return built


def section(html_text: str) -> str:
    return html_text.split("<h2>Advice</h2>", 1)[1].split("<h2>", 1)[0]


def test_advice_is_listed_apart_from_the_changes() -> None:
    told = Event(3.0, "advice", "hold", 0, 0, "Advice", "advice eager_assignor (warning), group g: <range>", "applied")
    change = Event(9.0, "consumers", "scale_out", 1, 4, "LagAboveTarget", "group g: scale out", "applied")
    listed = section(render_report(timeline(told, change)))
    assert "advice eager_assignor (warning), group g: &lt;range&gt;" in listed  # escaped
    assert "scale out" not in listed


def test_no_advice_says_so() -> None:
    assert "none: nothing in the configuration blocks scaling" in section(render_report(timeline()))
