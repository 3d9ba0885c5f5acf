"""The demo's HTML report: one self-contained file, timeline plots as inline SVG, no script, no CDN.

Each plot shares the time axis (seconds since the load started); every decision that
changed something is a vertical marker with its reason as a tooltip. The table below the
plots lists what the scaler reported: changes, failures and notable holds.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from kafka_autoscaler.local.timeline import Event, Point, Timeline, describe_milestones, milestones

WIDTH, HEIGHT = 900, 200
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 28, 30
TARGET_COLOURS = {"consumers": "#1f77b4", "brokers": "#d62728", "rebalance": "#9467bd", "storage": "#8c564b"}


@dataclass(frozen=True)
class Series:
    label: str
    colour: str
    values: tuple[tuple[float, float | None], ...]  # (t, value); None leaves a gap
    step: bool = False  # a count: drawn as steps, not slopes


@dataclass(frozen=True)
class Chart:
    title: str
    unit: str
    series: tuple[Series, ...]
    reference: tuple[str, float] | None = None  # a dashed horizontal line, e.g. the target


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above `value` (1 for nothing)."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return next(m * power for m in (1.0, 2.0, 5.0, 10.0) if m * power >= value)


def _path(series: Series, x: Callable[[float], float], y: Callable[[float], float]) -> str:
    """An SVG path, broken where values are missing."""
    parts: list[str] = []
    previous: tuple[float, float] | None = None
    for t, value in series.values:
        if value is None:
            previous = None
            continue
        if previous is None:
            parts.append(f"M{x(t):.1f},{y(value):.1f}")
        elif series.step:
            parts.append(f"H{x(t):.1f}V{y(value):.1f}")
        else:
            parts.append(f"L{x(t):.1f},{y(value):.1f}")
        previous = (t, value)
    return "".join(parts)


def render_chart(chart: Chart, x_max: float, events: Sequence[Event]) -> str:
    """One chart as an <svg> element."""
    values = [v for s in chart.series for _, v in s.values if v is not None]
    if chart.reference is not None:
        values.append(chart.reference[1])
    y_max = nice_ceiling(max(values, default=0.0) * 1.05)
    x_max = max(x_max, 1.0)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + plot_w * min(max(t, 0.0), x_max) / x_max

    def y(v: float) -> float:
        return TOP + plot_h * (1 - min(max(v, 0.0), y_max) / y_max)

    out = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label="{html.escape(chart.title)}">',
        f'<text x="{LEFT}" y="16" class="title">{html.escape(chart.title)} ({html.escape(chart.unit)})</text>',
    ]
    for i in range(5):
        value = y_max * i / 4
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}" class="grid"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" class="tick" text-anchor="end">{value:g}</text>')
    for i in range(7):
        t = x_max * i / 6
        out.append(f'<text x="{x(t):.1f}" y="{HEIGHT - 10}" class="tick" text-anchor="middle">{t:.0f}s</text>')
    for event in events:
        colour = TARGET_COLOURS.get(event.target, "#555")
        tip = html.escape(
            f"{event.t:.0f}s {event.target} {event.action} {event.current}->{event.desired}: {event.reason}"
        )
        out.append(
            f'<line x1="{x(event.t):.1f}" x2="{x(event.t):.1f}" y1="{TOP}" y2="{HEIGHT - BOTTOM}" '
            f'stroke="{colour}" class="marker"><title>{tip}</title></line>'
        )
    if chart.reference is not None:
        label, level = chart.reference
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(level):.1f}" y2="{y(level):.1f}" class="ref"/>')
        out.append(
            f'<text x="{WIDTH - RIGHT - 4}" y="{y(level) - 4:.1f}" class="tick" text-anchor="end">'
            f"{html.escape(label)}</text>"
        )
    for index, series in enumerate(chart.series):
        path = _path(series, x, y)
        if path:
            out.append(f'<path d="{path}" fill="none" stroke="{series.colour}" stroke-width="2"/>')
        out.append(
            f'<text x="{LEFT + 10 + 190 * index}" y="{TOP + 14}" fill="{series.colour}" class="legend">'
            f"{html.escape(series.label)}</text>"
        )
    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" class="frame"/>')
    out.append("</svg>")
    return "\n".join(out)


def _values(points: Sequence[Point], pick: Callable[[Point], float | None]) -> tuple[tuple[float, float | None], ...]:
    return tuple((p.t, pick(p)) for p in points)


def charts_for(timeline: Timeline) -> tuple[Chart, ...]:
    """The report's plots, in reading order."""
    p = timeline.points
    limit = timeline.bytes_in_limit_per_broker
    return (
        Chart(
            "Produce rate",
            "msg/s",
            (
                Series("planned by the profile", "#999999", _values(p, lambda q: q.planned_rate)),
                Series("measured from end offsets", "#2ca02c", _values(p, lambda q: q.produce_rate)),
                Series("forecast (once trusted)", "#9467bd", _values(p, lambda q: q.forecast_rate)),
            ),
        ),
        Chart("Consumer lag", "messages", (Series("total lag", "#ff7f0e", _values(p, lambda q: q.total_lag)),)),
        Chart(
            "Time lag",
            "seconds",
            (Series("max time lag", "#d62728", _values(p, lambda q: q.max_time_lag_s)),),
            reference=(f"target {timeline.target_time_lag_s:g}s", timeline.target_time_lag_s),
        ),
        Chart(
            "Consumers",
            "tasks",
            (
                Series("desired", "#1f77b4", _values(p, lambda q: q.consumers_desired), step=True),
                Series("running", "#17becf", _values(p, lambda q: q.consumers_running), step=True),
            ),
        ),
        Chart(
            "Brokers", "brokers", (Series("brokers serving", "#d62728", _values(p, lambda q: q.brokers), step=True),)
        ),
        Chart(
            "Bytes in per broker",
            "KB/s",
            (
                Series(
                    "mean over brokers",
                    "#e377c2",
                    _values(p, lambda q: None if q.bytes_in_per_broker is None else q.bytes_in_per_broker / 1000),
                ),
            ),
            reference=None if limit is None else (f"limit {limit / 1000:.0f} KB/s", limit / 1000),
        ),
        Chart(
            "Broker CPU",
            "% of the machine",
            (Series("mean over brokers", "#8c564b", _values(p, lambda q: q.broker_cpu_pct)),),
        ),
    )


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 960px; }
svg.chart { display: block; margin: 1em 0; }
.title { font-weight: 600; font-size: 14px; }
.tick { font-size: 11px; fill: #555; }
.legend { font-size: 12px; }
.grid { stroke: #e5e5e5; }
.frame { fill: none; stroke: #999; }
.ref { stroke: #222; stroke-dasharray: 6 4; }
.marker { stroke-width: 2; stroke-opacity: 0.45; }
table { border-collapse: collapse; font-size: 13px; }
td, th { border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
"""


def render_report(timeline: Timeline, title: str = "kafka-autoscaler demo") -> str:
    """The whole report as one HTML document."""
    x_max = max([timeline.duration_s, *(q.t for q in timeline.points)])
    summary = "".join(f"<li>{html.escape(line)}</li>" for line in describe_milestones(milestones(timeline)))
    changes = [e for e in timeline.events if e.action != "hold"]
    charts = "\n".join(render_chart(chart, x_max, changes) for chart in charts_for(timeline))
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
