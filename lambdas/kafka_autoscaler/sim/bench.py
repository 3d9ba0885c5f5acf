"""Every policy on every trace and seed, the threshold baselines swept, and how `time-lag` fares.

The headline is late messages against task-hours. A threshold baseline is judged at
every setting of its grid, as a user tuning it would: `verdicts` says per trace and seed
whether any setting dominates ours (fewer late messages and fewer task-hours) and which
setting is the cheapest that is no later than ours.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kafka_autoscaler.sim.runner import POLICIES, THRESHOLD_POLICIES, RunResult, run
from kafka_autoscaler.sim.settings import SimSettings
from kafka_autoscaler.sim.trace import Trace, TraceError, read_trace

QUICK_DURATION_S = 90 * 60  # --quick: the first 90 minutes of each trace
TRACES_DIR = Path("bench") / "traces"
OURS = "time-lag"
# Lag thresholds the baselines are swept over: from a few seconds of one task's work to a
# minute of it (the default world: 1,000 msgs/s per task, a 60 s target).
THRESHOLD_GRID = (1000, 2000, 3000, 5000, 7500, 10000, 15000, 20000, 30000, 45000, 60000)
QUICK_GRID = (3000, 10000, 30000)
DEFAULT_SEEDS = 3
COLUMNS = (
    ("late_fraction", "late %", "{:.2%}"),
    ("late_2x_fraction", "late 2x %", "{:.2%}"),
    ("p99_time_lag_s", "p99 s", "{:.0f}"),
    ("slo_violation_s", "viol. s", "{:.0f}"),
    ("task_hours", "task-h", "{:.1f}"),
    ("scaling_actions", "actions", "{:.0f}"),
    ("rebalances", "rebal.", "{:.0f}"),
    ("peak_tasks", "peak", "{:.0f}"),
)


@dataclass(frozen=True)
class RunSpec:
    """One simulation to run: picklable, so that it can go to another process."""

    trace: Trace
    policy: str
    settings: SimSettings


def find_traces_dir(explicit: str | None) -> Path:
    """The shipped traces: the given directory, ./bench/traces, or the source tree's."""
    candidates = [Path(explicit)] if explicit else [TRACES_DIR, Path(__file__).resolve().parents[3] / TRACES_DIR]
    for candidate in candidates:
        if candidate.is_dir() and any(candidate.glob("*.csv")):
            return candidate
    raise TraceError(f"no trace files (*.csv) in {' or '.join(str(c) for c in candidates)}; pass --traces DIR")


def load_traces(directory: Path, quick: bool) -> list[Trace]:
    traces = [read_trace(path) for path in sorted(directory.glob("*.csv"))]
    return [t.truncated(QUICK_DURATION_S) for t in traces] if quick else traces


def plan_runs(
    traces: Sequence[Trace],
    settings: SimSettings,
    policies: Sequence[str] = tuple(POLICIES),
    seeds: Sequence[int] = (),
    grid: Sequence[int] = (),
) -> list[RunSpec]:
    """Every trace x seed x policy; a threshold policy once per grid point (or at the settings' threshold)."""
    specs: list[RunSpec] = []
    for trace in traces:
        for seed in seeds or (settings.seed,):
            seeded = replace(settings, seed=seed)
            for policy in policies:
                thresholds: Iterable[int | None] = grid if grid and policy in THRESHOLD_POLICIES else (None,)
                for threshold in thresholds:
                    chosen = seeded if threshold is None else replace(seeded, lag_threshold=threshold)
                    specs.append(RunSpec(trace, policy, chosen))
    return specs


def run_spec(spec: RunSpec) -> RunResult:
    return run(spec.trace, spec.policy, spec.settings)


def run_all(
    specs: Sequence[RunSpec], jobs: int = 1, on_done: Callable[[RunResult], None] | None = None
) -> list[RunResult]:
    """Run the specs, one process per run across `jobs` processes; results in the order of `specs`."""
    if jobs <= 1:
        results = []
        for spec in specs:
            results.append(run_spec(spec))
            if on_done:
                on_done(results[-1])
        return results
    ordered: list[RunResult | None] = [None] * len(specs)
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(run_spec, spec): index for index, spec in enumerate(specs)}
        for future in as_completed(futures):
            result = future.result()
            ordered[futures[future]] = result
            if on_done:
                on_done(result)
    return [r for r in ordered if r is not None]


def default_jobs() -> int:
    return max(1, os.cpu_count() or 1)


def run_bench(
    traces: Sequence[Trace],
    settings: SimSettings,
    policies: Sequence[str] = tuple(POLICIES),
    seeds: Sequence[int] = (),
    grid: Sequence[int] = (),
    jobs: int = 1,
    on_done: Callable[[RunResult], None] | None = None,
) -> list[RunResult]:
    return run_all(plan_runs(traces, settings, policies, seeds, grid), jobs, on_done)


# ------------------------------------------------------------------ judging


def setting_name(result: RunResult) -> str:
    """A policy and, for a threshold policy, its lag threshold: 'keda@5000'."""
    if result.policy in THRESHOLD_POLICIES:
        return f"{result.policy}@{result.settings.threshold}"
    return result.policy


@dataclass(frozen=True)
class Verdict:
    """time-lag against every baseline setting on one trace and seed."""

    trace: str
    seed: int
    dominated_by: tuple[str, ...]  # settings with fewer late messages and fewer task-hours
    cheapest_no_later: str | None  # the cheapest baseline setting no later than ours
    task_hours_ratio: float | None  # ours over that setting's task-hours
    bound_ratio: float | None  # ours over the lower bound
    packing_ratio: float | None  # ours over the range-packing reference

    def as_dict(self) -> dict[str, Any]:
        return {
            "trace": self.trace,
            "seed": self.seed,
            "dominated": bool(self.dominated_by),
            "dominated_by": list(self.dominated_by),
            "cheapest_no_later": self.cheapest_no_later,
            "task_hours_ratio": self.task_hours_ratio,
            "bound_ratio": self.bound_ratio,
            "packing_ratio": self.packing_ratio,
        }


def verdicts(results: Sequence[RunResult]) -> list[Verdict]:
    """One verdict per trace and seed that has a time-lag run."""
    found: list[Verdict] = []
    for ours in (r for r in results if r.policy == OURS):
        rivals = [
            r for r in results if r.trace == ours.trace and r.settings.seed == ours.settings.seed and r.policy != OURS
        ]
        rivals = [r for r in rivals if r.policy in THRESHOLD_POLICIES or r.policy == "static"]
        mine = ours.metrics
        dominating = tuple(
            setting_name(r)
            for r in rivals
            if r.metrics.late_fraction < mine.late_fraction and r.metrics.task_hours < mine.task_hours
        )
        no_later = [r for r in rivals if r.metrics.late_fraction <= mine.late_fraction]
        cheapest = min(no_later, key=lambda r: r.metrics.task_hours, default=None)
        bound, packing = mine.lower_bound_task_hours, mine.range_packing_task_hours
        found.append(
            Verdict(
                trace=ours.trace,
                seed=ours.settings.seed,
                dominated_by=dominating,
                cheapest_no_later=setting_name(cheapest) if cheapest else None,
                task_hours_ratio=round(mine.task_hours / cheapest.metrics.task_hours, 3)
                if cheapest and cheapest.metrics.task_hours > 0
                else None,
                bound_ratio=round(mine.task_hours / bound, 3) if bound > 0 else None,
                packing_ratio=round(mine.task_hours / packing, 3) if packing > 0 else None,
            )
        )
    return found


@dataclass(frozen=True)
class Spread:
    """Median and range of one metric over seeds."""

    median: float
    low: float
    high: float


def spread(values: Sequence[float]) -> Spread:
    return Spread(statistics.median(values), min(values), max(values))


def summarize(results: Sequence[RunResult]) -> dict[tuple[str, str], dict[str, Spread]]:
    """Per (trace, setting): every metric's median and range over the seeds."""
    grouped: dict[tuple[str, str], list[RunResult]] = {}
    for result in results:
        grouped.setdefault((result.trace, setting_name(result)), []).append(result)
    return {
        key: {name: spread([float(r.metrics.as_dict()[name]) for r in runs]) for name, _, _ in COLUMNS}
        | {"lower_bound_task_hours": spread([r.metrics.lower_bound_task_hours for r in runs])}
        | {"range_packing_task_hours": spread([r.metrics.range_packing_task_hours for r in runs])}
        for key, runs in grouped.items()
    }


def _cell(value: Spread, fmt: str, seeds: int) -> str:
    text = fmt.format(value.median)
    if seeds > 1 and value.high > value.low:
        text += f" ({fmt.format(value.low)}-{fmt.format(value.high)})"
    return text


def default_threshold(result: RunResult) -> int:
    """The lag threshold the run's world gets when none is set."""
    return replace(result.settings, lag_threshold=None).threshold


def shown_settings(results: Sequence[RunResult], trace: str) -> list[str]:
    """The table's rows for a trace: every policy at its default, and the swept settings that
    matter: the cheapest no later than ours and the first that dominates ours, in any seed."""
    runs = [r for r in results if r.trace == trace]
    names = list(dict.fromkeys(setting_name(r) for r in runs))
    keep = {setting_name(r) for r in runs if r.settings.threshold == default_threshold(r)}
    keep |= {setting_name(r) for r in runs if r.policy not in THRESHOLD_POLICIES}
    for verdict in verdicts(runs):
        keep |= {n for n in (verdict.cheapest_no_later, *verdict.dominated_by[:1]) if n}
    return [n for n in names if n in keep]


def format_table(results: Sequence[RunResult]) -> str:
    """A fixed-width table per trace: median over seeds (range in brackets)."""
    seeds = len({r.settings.seed for r in results})
    summary = summarize(results)
    header = f"{'trace':<9} {'setting':<22}" + "".join(f"{label:>22}" for _, label, _ in COLUMNS[:5])
    header += "".join(f"{label:>9}" for _, label, _ in COLUMNS[5:]) + f"{'bound h':>9}{'pack h':>9}"
    lines = [header, "-" * len(header)]
    for trace in dict.fromkeys(r.trace for r in results):
        if len(lines) > 2:
            lines.append("")
        for name in shown_settings(results, trace):
            values = summary[(trace, name)]
            cells = "".join(f"{_cell(values[key], fmt, seeds):>22}" for key, _, fmt in COLUMNS[:5])
            cells += "".join(f"{fmt.format(values[key].median):>9}" for key, _, fmt in COLUMNS[5:])
            bound, packing = values["lower_bound_task_hours"].median, values["range_packing_task_hours"].median
            lines.append(f"{trace:<9} {name:<22}{cells}{bound:>9.1f}{packing:>9.1f}")
    return "\n".join(lines)


def goal_rows(results: Sequence[RunResult]) -> list[dict[str, Any]]:
    """Per trace, over the seeds: how often a baseline setting dominates ours, and the ratios' median and range."""
    rows: list[dict[str, Any]] = []
    found = verdicts(results)
    for trace in dict.fromkeys(v.trace for v in found):
        mine = [v for v in found if v.trace == trace]
        ratios = [v.task_hours_ratio for v in mine if v.task_hours_ratio is not None]
        bounds = [v.bound_ratio for v in mine if v.bound_ratio is not None]
        packings = [v.packing_ratio for v in mine if v.packing_ratio is not None]
        dominators = sorted({name for v in mine for name in v.dominated_by})
        rows.append(
            {
                "trace": trace,
                "seeds": len(mine),
                "dominated_in_seeds": sum(1 for v in mine if v.dominated_by),
                "dominated_by": dominators,
                "cheapest_no_later": [v.cheapest_no_later for v in mine],
                "task_hours_ratio": spread(ratios).__dict__ if ratios else None,
                "bound_ratio": spread(bounds).__dict__ if bounds else None,
                "packing_ratio": spread(packings).__dict__ if packings else None,
            }
        )
    return rows


def goal_lines(results: Sequence[RunResult]) -> list[str]:
    """The goals, one line per trace, in words."""
    lines: list[str] = []
    for row in goal_rows(results):
        parts = [f"{row['trace']}:"]
        if row["dominated_in_seeds"]:
            shown = ", ".join(row["dominated_by"][:3]) + (" ..." if len(row["dominated_by"]) > 3 else "")
            parts.append(f"dominated in {row['dominated_in_seeds']}/{row['seeds']} seeds (by {shown});")
        else:
            parts.append(f"dominated by no setting in {row['seeds']} seed(s);")
        ratio = row["task_hours_ratio"]
        if ratio:
            cheapest = ", ".join(dict.fromkeys(c for c in row["cheapest_no_later"] if c))
            spread_text = f"{ratio['median']:.2f} ({ratio['low']:.2f}-{ratio['high']:.2f})"
            parts.append(f"task-h / cheapest no later ({cheapest}) {spread_text};")
        else:
            parts.append("no baseline setting is as early;")
        bound = row["bound_ratio"]
        if bound:
            parts.append(f"task-h / lower bound {bound['median']:.2f} ({bound['low']:.2f}-{bound['high']:.2f});")
        packing = row["packing_ratio"]
        if packing:
            parts.append(f"/ range packing {packing['median']:.2f} ({packing['low']:.2f}-{packing['high']:.2f})")
        lines.append(" ".join(parts))
    return lines
