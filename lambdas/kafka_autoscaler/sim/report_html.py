"""A self-contained HTML report: the metrics table and, per trace, a timeline drawn in inline SVG.

No script and nothing fetched: the file opens offline and can be mailed around.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from pathlib import Path

from kafka_autoscaler.sim.bench import COLUMNS, goal_lines
from kafka_autoscaler.sim.model import MinuteSample
from kafka_autoscaler.sim.runner import RunResult

COLORS = {
    "time-lag": "#d62728",
    "lag-threshold": "#ff7f0e",
    "keda": "#1f77b4",
    "target-tracking": "#2ca02c",
    "static": "#7f7f7f",
    "oracle": "#9467bd",
}
OURS = ("lag-threshold", "time-lag")  # drawn last, in this order, over the baselines
WIDTH = 960
LEFT = 70
RIGHT = 20
PANEL_HEIGHT = 150
GAP = 34
STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; }
table { border-collapse: collapse; margin: 8px 0 24px; font-size: 14px; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: right; }
th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) { text-align: left; }
.legend span { display: inline-block; margin-right: 16px; font-size: 14px; }
.legend i { display: inline-block; width: 18px; height: 4px; margin-right: 6px; vertical-align: middle; }
svg text { font-size: 12px; fill: #444; }
"""


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if step * magnitude >= value:
            return float(step * magnitude)
    return float(10 * magnitude)


def _panel(
    title: str,
    top: float,
    duration_s: float,
    series: Sequence[tuple[str, Sequence[tuple[float, float]]]],
    reference: float | None = None,
) -> str:
    """One panel: axes, gridlines, a polyline per series, an optional dashed reference line."""
    plot_width = WIDTH - LEFT - RIGHT
    highest = max([v for _, points in series for _, v in points] + [reference or 0.0])
    y_max = _nice_max(highest)

    def x(t: float) -> float:
        return LEFT + plot_width * t / duration_s

    def y(v: float) -> float:
        return top + PANEL_HEIGHT * (1 - v / y_max)

    parts = [f'<text x="{LEFT}" y="{top - 8}" font-weight="bold">{html.escape(title)}</text>']
    for fraction in (0.0, 0.5, 1.0):
        value = y_max * fraction
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}" stroke="#e5e5e5"/>'
            f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end">{value:g}</text>'
        )
    if reference is not None:
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(reference):.1f}" y2="{y(reference):.1f}" '
            'stroke="#000" stroke-dasharray="5,4"/>'
            f'<text x="{WIDTH - RIGHT}" y="{y(reference) - 4:.1f}" text-anchor="end">target</text>'
        )
    for name, points in sorted(series, key=lambda line: OURS.index(line[0]) + 1 if line[0] in OURS else 0):
        path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)
        color = COLORS.get(name, "#000")
        width = 2.2 if name in OURS else 1.4
        parts.append(
            f'<polyline fill="none" stroke="{color}" stroke-width="{width}" points="{path}">'
            f"<title>{name}</title></polyline>"
        )
    return "\n".join(parts)


def _hour_axis(top: float, duration_s: float) -> str:
    plot_width = WIDTH - LEFT - RIGHT
    hours = duration_s / 3600
    step = 1 if hours <= 8 else 2 if hours <= 16 else 4
    ticks: list[str] = []
    hour = 0.0
    while hour <= hours + 1e-9:
        x = LEFT + plot_width * hour * 3600 / duration_s
        ticks.append(f'<text x="{x:.1f}" y="{top}" text-anchor="middle">{hour:g}h</text>')
        hour += step
    return "\n".join(ticks)


def timeline_svg(runs: Sequence[RunResult], target_time_lag_s: float) -> str:
    """Three stacked panels for one trace: produce rate, highest time lag, tasks per policy."""
    duration = max((r.timeline[-1].t for r in runs if r.timeline), default=60)

    def pick(value: Callable[[MinuteSample], float]) -> list[tuple[str, list[tuple[float, float]]]]:
        return [(r.policy, [(m.t, value(m)) for m in r.timeline]) for r in runs]

    rate = [("rate", [(m.t, m.rate) for m in runs[0].timeline])] if runs else []
    tops = [GAP, GAP * 2 + PANEL_HEIGHT, GAP * 3 + PANEL_HEIGHT * 2]
    height = tops[2] + PANEL_HEIGHT + 28
    body = [
        _panel("produce rate (msgs/s)", tops[0], duration, rate),
        _panel(
            "highest partition time lag in the minute (s)",
            tops[1],
            duration,
            pick(lambda m: m.max_time_lag_s),
            target_time_lag_s,
        ),
        _panel("tasks (running + starting)", tops[2], duration, pick(lambda m: float(m.tasks))),
        _hour_axis(height - 8, duration),
    ]
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}">\n' + "\n".join(body) + "\n</svg>"
    )


def _table(results: Sequence[RunResult]) -> str:
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label, _ in COLUMNS)
    rows = []
    for result in results:
        values = result.metrics.as_dict()
        cells = "".join(f"<td>{fmt.format(values[key])}</td>" for key, _, fmt in COLUMNS)
        rows.append(f"<tr><td>{html.escape(result.trace)}</td><td>{html.escape(result.policy)}</td>{cells}</tr>")
    return f"<table><tr><th>trace</th><th>policy</th>{head}</tr>\n" + "\n".join(rows) + "\n</table>"


def render_report(results: Sequence[RunResult], title: str = "kafka-autoscaler benchmark") -> str:
    """The whole report as one HTML string."""
    settings = results[0].settings if results else None
    legend = "".join(
        f'<span><i style="background:{color}"></i>{html.escape(name)}</span>'
        for name, color in COLORS.items()
        if any(r.policy == name for r in results)
    )
    described = (
        f"<p>{settings.partitions} partitions, {settings.task_capacity:g} msgs/s per task, target time lag "
        f"{settings.target_time_lag_s:g} s, lag threshold {settings.threshold}, {settings.rebalance.value} "
        f"rebalances, seed {settings.seed}.</p>"
        if settings
        else ""
    )
    sections = []
    for trace in dict.fromkeys(r.trace for r in results):
        runs = [r for r in results if r.trace == trace]
        svg = timeline_svg(runs, runs[0].settings.target_time_lag_s)
        sections.append(f'<h2>{html.escape(trace)}</h2>\n<div class="legend">{legend}</div>\n{svg}')
    goals = "".join(f"<li>{html.escape(line)}</li>" for line in goal_lines(results))
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style></head><body>\n<h1>{html.escape(title)}</h1>\n{described}\n{_table(results)}\n"
        + (f"<ul>{goals}</ul>\n" if goals else "")
        + "\n".join(sections)
        + "\n</body></html>\n"
    )


def write_report(path: str | Path, results: Sequence[RunResult], title: str = "kafka-autoscaler benchmark") -> None:
    Path(path).write_text(render_report(results, title), encoding="utf-8")
