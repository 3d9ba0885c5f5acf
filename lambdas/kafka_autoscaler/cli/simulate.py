"""`kafka-autoscaler simulate --trace FILE`: one policy on one trace; metrics as a table or JSON."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from kafka_autoscaler.sim.bench import format_table
from kafka_autoscaler.sim.report_html import write_report
from kafka_autoscaler.sim.runner import POLICIES, THRESHOLD_POLICIES, RunResult, UnknownPolicyError, run
from kafka_autoscaler.sim.settings import RebalanceProtocol, SettingsError, SimSettings
from kafka_autoscaler.sim.trace import TraceError, read_trace

EXIT_BAD_INPUT = 2


def add_world_options(parser: argparse.ArgumentParser) -> None:
    """Options every simulating command shares."""
    defaults = SimSettings()
    parser.add_argument("--partitions", type=int, default=defaults.partitions, help="partitions of the topic")
    parser.add_argument(
        "--task-capacity",
        type=float,
        default=defaults.task_capacity,
        metavar="MSGS_PER_S",
        help="one task's throughput",
    )
    parser.add_argument(
        "--target-time-lag", type=float, default=defaults.target_time_lag_s, metavar="S", help="the time-lag SLO"
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--rebalance",
        choices=[p.value for p in RebalanceProtocol],
        default=defaults.rebalance.value,
        help="consumer-group rebalance protocol",
    )
    parser.add_argument(
        "--commit-interval",
        type=int,
        default=defaults.commit_interval_s,
        metavar="S",
        help="consumers commit every this many seconds (auto.commit.interval.ms)",
    )


def settings_from(args: argparse.Namespace) -> SimSettings:
    defaults = SimSettings()
    return SimSettings(
        partitions=args.partitions,
        task_capacity=args.task_capacity,
        target_time_lag_s=args.target_time_lag,
        seed=args.seed,
        rebalance=RebalanceProtocol(args.rebalance),
        forecast=not getattr(args, "no_forecast", False),
        message_bytes=getattr(args, "message_bytes", defaults.message_bytes),
        broker_scale_in_window_s=getattr(args, "broker_scale_in_window", None),
        commit_interval_s=args.commit_interval,
        lag_threshold=getattr(args, "lag_threshold", None),
    )


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("simulate", help="replay a produce-rate trace under one policy")
    parser.add_argument("--trace", required=True, metavar="FILE", help="CSV with header t_s,msgs_per_s")
    parser.add_argument("--policy", default="time-lag", help=f"one of: {', '.join(POLICIES)} (default time-lag)")
    parser.add_argument(
        "--lag-threshold",
        type=int,
        metavar="N",
        help=f"messages per task for {', '.join(THRESHOLD_POLICIES)} (default task capacity x target / 2)",
    )
    add_world_options(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object with the metrics")
    parser.add_argument("--html", metavar="PATH", help="also write an HTML report with the timeline")
    parser.add_argument("--no-forecast", action="store_true", help="our policy without its forecast floors")
    parser.add_argument(
        "--message-bytes", type=int, default=SimSettings().message_bytes, help="size of a message (broker load)"
    )
    parser.add_argument(
        "--broker-scale-in-window",
        type=int,
        metavar="S",
        help="turn our broker scale-in on, after load stays low this long (default: off)",
    )
    parser.set_defaults(handler=handle)


def as_row(result: RunResult) -> dict[str, Any]:
    """One run as a JSON object: what ran, then every metric."""
    threshold = result.settings.threshold if result.policy in THRESHOLD_POLICIES else None
    return {
        "trace": result.trace,
        "policy": result.policy,
        "seed": result.settings.seed,
        "lag_threshold": threshold,
        **result.metrics.as_dict(),
        "elapsed_s": round(result.elapsed_s, 3),
    }


def handle(args: argparse.Namespace) -> int:
    try:
        if args.lag_threshold is not None and args.policy not in THRESHOLD_POLICIES:
            raise SettingsError(
                f"--lag-threshold applies to {', '.join(THRESHOLD_POLICIES)}, not to policy '{args.policy}'"
            )
        result = run(read_trace(args.trace), args.policy, settings_from(args))
    except (TraceError, SettingsError, UnknownPolicyError) as error:
        print(f"simulate: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.html:
        write_report(args.html, [result], f"simulation of {result.trace}")
    if args.json:
        print(json.dumps(as_row(result)))
    else:
        print(format_table([result]))
    return 0
