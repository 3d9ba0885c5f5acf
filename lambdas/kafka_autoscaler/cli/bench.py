"""`kafka-autoscaler bench`: every policy on every shipped trace and seed, the threshold baselines swept."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from kafka_autoscaler.cli.simulate import EXIT_BAD_INPUT, add_world_options, as_row, settings_from
from kafka_autoscaler.sim.bench import (
    DEFAULT_SEEDS,
    QUICK_GRID,
    THRESHOLD_GRID,
    default_jobs,
    find_traces_dir,
    format_table,
    goal_lines,
    goal_rows,
    load_traces,
    plan_runs,
    run_all,
    verdicts,
)
from kafka_autoscaler.sim.report_html import write_report
from kafka_autoscaler.sim.runner import RunResult
from kafka_autoscaler.sim.settings import SettingsError
from kafka_autoscaler.sim.trace import TraceError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("bench", help="compare every policy on the shipped traces")
    parser.add_argument(
        "--quick", action="store_true", help="the first 90 minutes of each trace, one seed, a three-point sweep"
    )
    parser.add_argument("--traces", metavar="DIR", help="directory of trace CSVs (default bench/traces)")
    parser.add_argument("--seeds", type=int, metavar="N", help=f"seeds per trace (default {DEFAULT_SEEDS}; --quick 1)")
    parser.add_argument("--jobs", type=int, default=default_jobs(), metavar="N", help="processes (default: CPUs)")
    add_world_options(parser)
    parser.add_argument("--json", action="store_true", help='print {"results": [...], "verdicts": [...]}')
    parser.add_argument("--html", metavar="PATH", help="write an HTML report: trade-off and timeline per trace")
    parser.set_defaults(handler=handle)


def print_results(results: Sequence[RunResult], as_json: bool) -> None:
    if as_json:
        document = {
            "results": [as_row(r) for r in results],
            "verdicts": [v.as_dict() for v in verdicts(results)],
            "goals": goal_rows(results),
        }
        print(json.dumps(document))
        return
    print(format_table(results))
    print()
    print("time-lag against the goals (median over seeds, range in brackets):")
    for line in goal_lines(results):
        print(f"  {line}")


def handle(args: argparse.Namespace) -> int:
    try:
        seeds = args.seeds if args.seeds is not None else (1 if args.quick else DEFAULT_SEEDS)
        if seeds < 1:
            raise SettingsError(f"--seeds must be at least 1 (got {seeds})")
        if args.jobs < 1:
            raise SettingsError(f"--jobs must be at least 1 (got {args.jobs})")
        settings = settings_from(args)
        traces = load_traces(find_traces_dir(args.traces), args.quick)
        specs = plan_runs(
            traces,
            settings,
            seeds=[settings.seed + i for i in range(seeds)],
            grid=QUICK_GRID if args.quick else THRESHOLD_GRID,
        )
    except (TraceError, SettingsError) as error:
        print(f"bench: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    columns = (TextColumn("bench"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("runs", total=len(specs))
        results = run_all(specs, args.jobs, on_done=lambda _: progress.advance(task))
    print(
        f"{len(results)} runs in {progress.tasks[0].elapsed or 0.0:.0f} s on {args.jobs} process(es)", file=sys.stderr
    )
    if args.html:
        write_report(args.html, results)
    print_results(results, args.json)
    return 0
