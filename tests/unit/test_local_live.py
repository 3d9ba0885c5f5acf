"""The demo's terminal views: the rich panel and the plain lines show what the timeline holds."""

from __future__ import annotations

import io

from kafka_autoscaler.local.live import render
from kafka_autoscaler.local.plain import PlainView, event_line, status_line
from kafka_autoscaler.local.timeline import Event, Point, Timeline
from rich.console import Console

POINT = Point(
    t=66.0,
    phase="ramp",
    planned_rate=158.0,
    produce_rate=154.4,
    total_lag=1119,
    max_time_lag_s=12.2,
    consumers_desired=6,
    consumers_running=2,
    brokers=3,
    cluster_state="ACTIVE",
    broker_cpu_pct=4.2,
    bytes_in_per_broker=249_000.0,
)
SCALE_OUT = Event(66.0, "consumers", "scale_out", 2, 6, "ScaleOutStepLimit", "group g: scale out 2 -> 6", "applied")


def rendered(timeline: Timeline) -> str:
    console = Console(record=True, width=160, file=io.StringIO())
    console.print(render(timeline, "next tick in 3s"))
    return console.export_text()


def test_the_panel_shows_the_latest_tick_and_the_decisions() -> None:
    timeline = Timeline("default", 240.0, 36.0, 10.0)
    timeline.points.append(POINT)
    timeline.events.append(SCALE_OUT)
    text = rendered(timeline)
    for expected in (
        "154 msg/s (planned 158)",
        "1,119 msgs",
        "12.2s (target 10s)",
        "2 running / 6 desired",
        "3 (ACTIVE)",
        "249 KB/s",
        "consumers scale_out 2->6",
        "ScaleOutStepLimit",
        "next tick in 3s",
    ):
        assert expected in text, expected


def test_the_panel_before_the_first_tick() -> None:
    text = rendered(Timeline("spike", 60.0, 9.0, 10.0))
    assert "waiting for the first tick" in text and "no change yet" in text


def test_plain_lines_carry_the_same_facts() -> None:
    assert status_line(POINT) == (
        "t=   66s ramp     rate   154 msg/s  lag   1,119  time lag   12.2s  consumers 2/6  brokers 3 ACTIVE"
    )
    assert event_line(SCALE_OUT) == (
        "t=   66s consumers scale_out 2->6 [ScaleOutStepLimit, applied] group g: scale out 2 -> 6"
    )
    stream = io.StringIO()
    PlainView(stream).tick(POINT)
    assert stream.getvalue() == status_line(POINT) + "\n"
