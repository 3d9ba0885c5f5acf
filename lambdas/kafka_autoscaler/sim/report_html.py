"""A self-contained HTML report: the tables and, per trace, a trade-off plot and a timeline.

Pictures come from kafka_autoscaler.charts (matplotlib, inline SVG): no script and nothing
fetched, so the file opens offline and can be mailed around.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from pathlib import Path

from kafka_autoscaler.charts import Line, Panel, Point, Series, timeline_svg, tradeoff_svg
from kafka_autoscaler.sim.bench import COLUMNS, OURS, default_threshold, goal_lines, summarize
from kafka_autoscaler.sim.model import MinuteSample
from kafka_autoscaler.sim.runner import THRESHOLD_POLICIES, RunResult

COLOURS = {
    "time-lag": "#d62728",
    "lag-threshold": "#ff7f0e",
    "keda": "#1f77b4",
    "target-tracking": "#2ca02c",
    "static": "#7f7f7f",
    "clairvoyant": "#9467bd",
}
STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; max-width: 1000px; }
table { border-collapse: collapse; margin: 8px 0 24px; font-size: 13px; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
svg { max-width: 100%; height: auto; }
"""


def _order(name: str) -> tuple[bool, str, int]:
    """Ours first, then by policy and threshold."""
    policy, _, threshold = name.partition("@")
    return (policy != OURS, policy, int(threshold or 0))


def _table(results: Sequence[RunResult], trace: str, seeds: int) -> str:
    summary = summarize([r for r in results if r.trace == trace])
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label, _ in COLUMNS)
    rows = []
    for (_, name), values in sorted(summary.items(), key=lambda item: _order(item[0][1])):
        cells = "".join(f"<td>{fmt.format(values[key].median)}</td>" for key, _, fmt in COLUMNS)
        rows.append(f"<tr><td>{html.escape(name)}</td>{cells}</tr>")
    note = f" (median of {seeds} seeds)" if seeds > 1 else ""
    return f"<table><tr><th>setting{note}</th>{head}</tr>\n" + "\n".join(rows) + "\n</table>"


def tradeoff(results: Sequence[RunResult], trace: str) -> str:
    """Late fraction against task-hours: one point per setting (median over seeds), ours marked."""
    summary = summarize([r for r in results if r.trace == trace])
    series: list[Series] = []
    for policy in (*THRESHOLD_POLICIES, "static", "clairvoyant", OURS):
        rows = sorted(
            ((name, values) for (_, name), values in summary.items() if name.split("@")[0] == policy),
            key=lambda item: int(item[0].split("@")[1]) if "@" in item[0] else 0,
        )
        if not rows:
            continue
        ends = {rows[0][0], rows[-1][0]} if len(rows) > 1 else set()  # the sweep's ends are labelled
        points = [
            Point(
                values["task_hours"].median,
                values["late_fraction"].median,
                COLOURS[policy],
                f"{name}: {values['late_fraction'].median:.2%} late, {values['task_hours'].median:.1f} task-h",
                name.split("@")[1] if name in ends else "",
            )
            for name, values in rows
        ]
        ours = policy == OURS
        series.append(
            Series(
                policy if policy not in THRESHOLD_POLICIES else f"{policy}, lag threshold swept",
                COLOURS[policy],
                points,
                marker="*" if ours else "o",
                size=220 if ours else 26,
            )
        )
    mine = [v for (_, name), v in summary.items() if name == OURS]
    bound = mine[0]["lower_bound_task_hours"].median if mine else None
    packing = ("range packing", mine[0]["range_packing_task_hours"].median) if mine else None
    return tradeoff_svg(f"{trace}: late messages against cost", series, bound, reference=packing)


def timeline(runs: Sequence[RunResult]) -> str:
    """Produce rate, highest time lag and tasks per policy, for the first seed at default settings."""
    target = runs[0].settings.target_time_lag_s

    def lines(pick: Callable[[MinuteSample], float]) -> list[Line]:
        drawn = sorted(runs, key=lambda r: r.policy == OURS)  # ours drawn last, on top
        return [
            Line(
                r.policy,
                COLOURS.get(r.policy, "#000"),
                [(m.t / 3600, pick(m)) for m in r.timeline],
                step=True,
                width=2.2 if r.policy == OURS else 1.2,
            )
            for r in drawn
        ]

    rate = [Line("produce rate", "#444", [(m.t / 3600, m.rate) for m in runs[0].timeline])]
    panels = [
        Panel("produce rate", "msgs/s", rate),
        Panel(
            "highest partition time lag in the minute",
            "s, log scale",
            lines(lambda m: m.max_time_lag_s),
            reference=(f"target {target:g} s", target),
            log_y=True,
        ),
        Panel("tasks (running + starting)", "tasks", lines(lambda m: float(m.tasks))),
    ]
    return timeline_svg(panels, "hours")


def render_report(results: Sequence[RunResult], title: str = "kafka-autoscaler benchmark") -> str:
    """The whole report as one HTML string."""
    if not results:
        raise ValueError("a report needs at least one run")
    settings = results[0].settings
    seeds = sorted({r.settings.seed for r in results})
    described = (
        f"<p>{settings.partitions} partitions, {settings.task_capacity:g} msgs/s per task, target time lag "
        f"{settings.target_time_lag_s:g} s, default lag threshold {default_threshold(results[0])}, "
        f"{settings.rebalance.value} rebalances, commits every {settings.commit_interval_s} s, "
        f"seeds {', '.join(str(s) for s in seeds)}.</p>"
    )
    sections = []
    for trace in dict.fromkeys(r.trace for r in results):
        runs = [r for r in results if r.trace == trace]
        first = [
            r
            for r in runs
            if r.settings.seed == seeds[0]
            and (r.policy not in THRESHOLD_POLICIES or r.settings.threshold == default_threshold(r))
        ]
        sections.append(
            f"<h2>{html.escape(trace)}</h2>\n{_table(results, trace, len(seeds))}\n{tradeoff(results, trace)}\n"
            f"<p>Timeline, seed {seeds[0]}, every policy at its default setting:</p>\n{timeline(first)}"
        )
    goals = "".join(f"<li>{html.escape(line)}</li>" for line in goal_lines(results))
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style></head><body>\n<h1>{html.escape(title)}</h1>\n{described}\n"
        + (f"<h2>time-lag against the goals</h2><ul>{goals}</ul>\n" if goals else "")
        + "\n".join(sections)
        + "\n</body></html>\n"
    )


def write_report(path: str | Path, results: Sequence[RunResult], title: str = "kafka-autoscaler benchmark") -> None:
    Path(path).write_text(render_report(results, title), encoding="utf-8")
