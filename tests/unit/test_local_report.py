"""The demo's HTML report and the milestones it states."""

from __future__ import annotations

import re
from pathlib import Path
from xml.etree import ElementTree

import pytest
from kafka_autoscaler.local.report_html import render_report, write_report
from kafka_autoscaler.local.timeline import Event, Point, Timeline, milestones


def point(t: float, **overrides: object) -> Point:
    values: dict[str, object] = {
        "t": t,
        "phase": "quiet",
        "planned_rate": 20.0,
        "produce_rate": 20.0,
        "total_lag": 0,
        "max_time_lag_s": 1.0,
        "consumers_desired": 1,
        "consumers_running": 1,
        "brokers": 3,
        "cluster_state": "ACTIVE",
        "broker_cpu_pct": 5.0,
        "bytes_in_per_broker": 7000.0,
    }
    values.update(overrides)
    return Point(**values)  # type: ignore[arg-type]


def event(t: float, target: str, action: str, current: int, desired: int, reason: str = "LagAboveTarget") -> Event:
    return Event(t, target, action, current, desired, reason, f"{target}: {action} <{current}->{desired}>", "applied")


def run_timeline() -> Timeline:
    timeline = Timeline("default", 240.0, ramp_start_s=36.0, target_time_lag_s=10.0, bytes_in_limit_per_broker=56_000)
    timeline.points.extend(
        [
            point(0),
            point(40, max_time_lag_s=4.0, produce_rate=None),
            point(50, max_time_lag_s=14.0, total_lag=900),
            point(55, max_time_lag_s=18.0, total_lag=1500, consumers_desired=4),
            point(70, max_time_lag_s=9.0, total_lag=300, consumers_desired=4, consumers_running=4),
            point(140, brokers=3, cluster_state="UPDATING"),
            point(160, brokers=4),
        ]
    )
    timeline.events.extend(
        [
            event(20, "rebalance", "rebalance", 0, 0, "PartitionsUnbalanced"),
            event(50, "consumers", "scale_out", 1, 4),
            event(130, "brokers", "scale_out", 3, 4, "BytesInAboveLimit"),
            event(165, "rebalance", "rebalance", 0, 0, "PartitionsUnbalanced"),
        ]
    )
    return timeline


def test_milestones_are_measured_from_the_ramp() -> None:
    m = milestones(run_timeline())
    assert m.first_scale_out_s == pytest.approx(14.0)
    assert m.lag_over_target_s == pytest.approx(14.0)
    assert m.lag_back_under_target_s == pytest.approx(34.0)
    assert m.broker_scale_out_s == pytest.approx(94.0)
    assert m.broker_added_s == pytest.approx(124.0)
    assert m.rebalance_s == pytest.approx(129.0), "the rebalance before the ramp does not count"
    assert (m.peak_consumers, m.peak_brokers) == (4, 4)


def test_milestones_of_a_run_that_never_scaled() -> None:
    timeline = Timeline("steady", 60.0, ramp_start_s=None, target_time_lag_s=10.0)
    timeline.points.append(point(5))
    m = milestones(timeline)
    assert (m.first_scale_out_s, m.lag_over_target_s, m.lag_back_under_target_s, m.rebalance_s) == (
        None,
        None,
        None,
        None,
    )


def test_report_is_self_contained_html_with_every_plot(tmp_path: Path) -> None:
    path = write_report(run_timeline(), tmp_path / "out" / "report.html")
    text = path.read_text(encoding="utf-8")
    assert path.is_absolute() and text.startswith("<!DOCTYPE html>")
    assert "<script" not in text and not re.search(r'(src|href)="(https?:)?//', text), "nothing is fetched"
    titles = [
        "Produce rate (msg/s)",
        "Consumer lag (messages)",
        "Time lag (seconds)",
        "Consumers (tasks)",
        "Brokers (brokers)",
        "Bytes in per broker (KB/s)",
        "Broker CPU (% of the machine)",
    ]
    places = [text.find(f">{title}<") for title in titles]
    assert -1 not in places and places == sorted(places), "every plot, in reading order"
    for svg in re.findall(r"<svg .*?</svg>", text, flags=re.S):
        ElementTree.fromstring(svg)  # every plot is well-formed XML
    assert "target 10s" in text and "limit 56 KB/s" in text
    assert "&lt;1-&gt;4&gt;" in text, "decision messages are escaped"
    assert "First consumer scale-out: +14s." in text


def test_changes_are_markers_on_every_plot_and_holds_only_rows() -> None:
    timeline = run_timeline()
    timeline.events.append(event(170, "consumers", "hold", 4, 4, "AtMaximum"))
    text = render_report(timeline)
    assert text.count("<title>50s consumers scale_out 1-&gt;4: LagAboveTarget</title>") == 7
    assert text.count("BytesInAboveLimit</title>") == 7
    assert "AtMaximum</title>" not in text and "<td>AtMaximum</td>" in text
