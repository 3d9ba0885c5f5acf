"""The demo's HTML report: one self-contained file, timeline plots as inline SVG, no script, no CDN.

The plots (kafka_autoscaler.charts, matplotlib) share the time axis (seconds since the
load started); every decision that changed something is a vertical marker with its
reason as a tooltip. The table below the plots lists what the scaler reported: changes,
failures and notable holds.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from pathlib import Path

from kafka_autoscaler.charts import Line, Marker, Panel, timeline_svg
from kafka_autoscaler.local.timeline import Event, Point, Timeline, describe_milestones, milestones

TARGET_COLOURS = {"consumers": "#1f77b4", "brokers": "#d62728", "rebalance": "#9467bd", "storage": "#8c564b"}


def _values(points: Sequence[Point], pick: Callable[[Point], float | None]) -> tuple[tuple[float, float | None], ...]:
    return tuple((p.t, pick(p)) for p in points)


def panels_for(timeline: Timeline) -> tuple[Panel, ...]:
    """The report's plots, in reading order."""
    p = timeline.points
    limit = timeline.bytes_in_limit_per_broker
    return (
        Panel(
            "Produce rate",
            "msg/s",
            (
                Line("planned by the profile", "#999999", _values(p, lambda q: q.planned_rate)),
                Line("measured from end offsets", "#2ca02c", _values(p, lambda q: q.produce_rate)),
                Line("forecast (once trusted)", "#9467bd", _values(p, lambda q: q.forecast_rate)),
            ),
        ),
        Panel("Consumer lag", "messages", (Line("total lag", "#ff7f0e", _values(p, lambda q: q.total_lag)),)),
        Panel(
            "Time lag",
            "seconds",
            (Line("max time lag", "#d62728", _values(p, lambda q: q.max_time_lag_s)),),
            reference=(f"target {timeline.target_time_lag_s:g}s", timeline.target_time_lag_s),
        ),
        Panel(
            "Consumers",
            "tasks",
            (
                Line("desired", "#1f77b4", _values(p, lambda q: q.consumers_desired), step=True),
                Line("running", "#17becf", _values(p, lambda q: q.consumers_running), step=True),
            ),
        ),
        Panel("Brokers", "brokers", (Line("brokers serving", "#d62728", _values(p, lambda q: q.brokers), step=True),)),
        Panel(
            "Bytes in per broker",
            "KB/s",
            (
                Line(
                    "mean over brokers",
                    "#e377c2",
                    _values(p, lambda q: None if q.bytes_in_per_broker is None else q.bytes_in_per_broker / 1000),
                ),
            ),
            reference=None if limit is None else (f"limit {limit / 1000:.0f} KB/s", limit / 1000),
        ),
        Panel(
            "Broker CPU",
            "% of the machine",
            (Line("mean over brokers", "#8c564b", _values(p, lambda q: q.broker_cpu_pct)),),
        ),
    )


def markers_for(events: Sequence[Event]) -> list[Marker]:
    """A marker per change, its tooltip the decision."""
    return [
        Marker(
            e.t,
            TARGET_COLOURS.get(e.target, "#555"),
            f"{e.t:.0f}s {e.target} {e.action} {e.current}->{e.desired}: {e.reason}",
        )
        for e in events
    ]


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 960px; }
svg { display: block; margin: 1em 0; max-width: 100%; height: auto; }
table { border-collapse: collapse; font-size: 13px; }
td, th { border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
"""


def render_report(timeline: Timeline, title: str = "kafka-autoscaler demo") -> str:
    """The whole report as one HTML document."""
    x_max = max([timeline.duration_s, *(q.t for q in timeline.points)])
    summary = "".join(f"<li>{html.escape(line)}</li>" for line in describe_milestones(milestones(timeline)))
    changes = [e for e in timeline.events if e.action != "hold"]
    charts = timeline_svg(panels_for(timeline), "seconds since the load started", markers_for(changes), x_max)
    rows = "".join(
        "<tr>"
        f"<td>{e.t:.0f}s</td><td>{html.escape(e.target)}</td><td>{html.escape(e.action)} "
        f"{e.current}&rarr;{e.desired}</td><td>{html.escape(e.reason)}</td><td>{html.escape(e.status)}</td>"
        f"<td>{html.escape(e.message)}</td></tr>"
        for e in timeline.events
    )
    legend = ", ".join(f'<span style="color:{c}">{html.escape(t)}</span>' for t, c in TARGET_COLOURS.items())
    advice = "".join(f"<li>{html.escape(e.message)}</li>" for e in timeline.events if e.target == "advice")
    return f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{_STYLE}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p>Profile <b>{html.escape(timeline.profile)}</b> over {timeline.duration_s:.0f}s; target time lag
{timeline.target_time_lag_s:g}s; {len(timeline.points)} ticks. Vertical markers are changes ({legend}); the table
lists every decision the scaler reported.</p>
<ul>{summary}</ul>
{charts}
<h2>Advice</h2>
<ul class="advice">{advice or "<li>none: nothing in the configuration blocks scaling</li>"}</ul>
<h2>Decisions</h2>
<table><tr><th>time</th><th>target</th><th>change</th><th>reason</th><th>status</th><th>why</th></tr>
{rows}</table>
</body>
</html>
"""


def write_report(timeline: Timeline, path: Path, title: str = "kafka-autoscaler demo") -> Path:
    """Write the report; returns the absolute path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(timeline, title), encoding="utf-8")
    return path.resolve()
