"""Every policy on every trace, side by side, and how `time-lag` fares against the goals."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from kafka_autoscaler.sim.runner import POLICIES, RunResult, run
from kafka_autoscaler.sim.settings import SimSettings
from kafka_autoscaler.sim.trace import Trace, TraceError, read_trace

QUICK_DURATION_S = 90 * 60  # --quick: the first 90 minutes of each trace
TRACES_DIR = Path("bench") / "traces"
COLUMNS = (
    ("slo_violation_s", "violation s", "{:d}"),
    ("p99_time_lag_s", "p99 lag s", "{:.0f}"),
    ("max_time_lag_s", "max lag s", "{:.0f}"),
    ("task_hours", "task-h", "{:.1f}"),
    ("scaling_actions", "actions", "{:d}"),
    ("rebalances", "rebal.", "{:d}"),
    ("peak_tasks", "peak", "{:d}"),
)


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


def run_bench(
    traces: Sequence[Trace], settings: SimSettings, policies: Sequence[str] = tuple(POLICIES)
) -> list[RunResult]:
    return [run(trace, policy, settings) for trace in traces for policy in policies]


def format_table(results: Sequence[RunResult]) -> str:
    """A fixed-width table, one row per run, grouped by trace."""
    header = f"{'trace':<10} {'policy':<16}" + "".join(f"{label:>12}" for _, label, _ in COLUMNS) + f"{'sim s':>10}"
    lines = [header, "-" * len(header)]
    previous = None
    for result in results:
        if previous is not None and result.trace != previous:
            lines.append("")
        previous = result.trace
        values = result.metrics.as_dict()
        cells = "".join(f"{fmt.format(values[key]):>12}" for key, _, fmt in COLUMNS)
        lines.append(f"{result.trace:<10} {result.policy:<16}{cells}{result.elapsed_s:>10.1f}")
    return "\n".join(lines)


def _by(results: Sequence[RunResult]) -> dict[tuple[str, str], RunResult]:
    return {(r.trace, r.policy): r for r in results}


def goal_lines(results: Sequence[RunResult]) -> list[str]:
    """Per trace: time-lag against keda and target-tracking, and its task-hours over the oracle's."""
    table = _by(results)
    lines: list[str] = []
    for trace in dict.fromkeys(r.trace for r in results):
        ours = table.get((trace, "time-lag"))
        if ours is None:
            continue
        mine = ours.metrics
        parts = [f"{trace}:"]
        keda = table.get((trace, "keda"))
        if keda is not None:
            k = keda.metrics
            parts.append(
                f"vs keda violation {mine.slo_violation_s - k.slo_violation_s:+d}s, "
                f"task-h {_change(mine.task_hours, k.task_hours)}, "
                f"actions {_change(mine.scaling_actions, k.scaling_actions)};"
            )
        tracking = table.get((trace, "target-tracking"))
        if tracking is not None:
            t = tracking.metrics
            parts.append(
                f"vs target-tracking violation {mine.slo_violation_s - t.slo_violation_s:+d}s, "
                f"task-h {_change(mine.task_hours, t.task_hours)};"
            )
        oracle = table.get((trace, "oracle"))
        if oracle is not None and oracle.metrics.task_hours > 0:
            parts.append(f"task-h / oracle {mine.task_hours / oracle.metrics.task_hours:.2f}")
        lines.append(" ".join(parts))
    return lines


def _change(ours: float, theirs: float) -> str:
    if theirs == 0:
        return "n/a" if ours == 0 else "+inf"
    return f"{(ours - theirs) / theirs:+.0%}"
