"""`kafka-autoscaler bench`: every policy on every shipped trace, side by side."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from kafka_autoscaler.cli.simulate import EXIT_BAD_INPUT, add_world_options, settings_from
from kafka_autoscaler.sim.bench import find_traces_dir, format_table, goal_lines, load_traces, run_bench
from kafka_autoscaler.sim.report_html import write_report
from kafka_autoscaler.sim.runner import RunResult
from kafka_autoscaler.sim.settings import SettingsError
from kafka_autoscaler.sim.trace import TraceError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("bench", help="compare every policy on the shipped traces")
    parser.add_argument("--quick", action="store_true", help="the first 90 minutes of each trace only")
    parser.add_argument("--traces", metavar="DIR", help="directory of trace CSVs (default bench/traces)")
    add_world_options(parser)
    parser.add_argument("--json", action="store_true", help='print {"results": [...]}')
    parser.add_argument("--html", metavar="PATH", help="write an HTML report with a timeline per trace")
    parser.set_defaults(handler=handle)


def print_results(results: list[RunResult], as_json: bool) -> None:
    if as_json:
        rows = [{"trace": r.trace, "policy": r.policy, **r.metrics.as_dict()} for r in results]
        print(json.dumps({"results": rows}))
        return
    print(format_table(results))
    print()
    print("time-lag against the goals:")
    for line in goal_lines(results):
        print(f"  {line}")


def handle(args: argparse.Namespace) -> int:
    try:
        traces = load_traces(find_traces_dir(args.traces), args.quick)
        results = run_bench(traces, settings_from(args))
    except (TraceError, SettingsError) as error:
        print(f"bench: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.html:
        write_report(args.html, results)
    print_results(results, args.json)
    return 0
