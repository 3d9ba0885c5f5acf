"""`kafka-autoscaler backtest`: a cluster's own produce history from CloudWatch, replayed under every policy."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import Any

import boto3

from kafka_autoscaler.cli.bench import print_results
from kafka_autoscaler.cli.simulate import EXIT_BAD_INPUT, add_world_options, settings_from
from kafka_autoscaler.sim.bench import run_bench
from kafka_autoscaler.sim.history import METRICS, HistoryError, read_rate_history
from kafka_autoscaler.sim.report_html import write_report
from kafka_autoscaler.sim.settings import SettingsError
from kafka_autoscaler.sim.trace import TraceError, read_trace, write_trace


def _time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an ISO 8601 time like 2024-05-01T00:00:00+00:00") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"'{text}' has no time zone; add +00:00 or Z")
    return moment


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("backtest", help="replay a cluster's CloudWatch history under every policy")
    parser.add_argument("--cluster-name", required=True, help="the MSK cluster's name (the Cluster Name dimension)")
    parser.add_argument("--start", required=True, type=_time, help="ISO 8601 with a time zone")
    parser.add_argument("--end", required=True, type=_time, help="ISO 8601 with a time zone")
    parser.add_argument("--metric", choices=METRICS, default="MessagesInPerSec")
    parser.add_argument("--message-bytes", type=float, default=1024.0, help="bytes per message, for BytesInPerSec")
    parser.add_argument("--topic", help="one topic only (needs the PER_TOPIC_PER_BROKER monitoring level)")
    parser.add_argument(
        "--period", type=int, default=60, help="seconds per datapoint (CloudWatch keeps 60 s for 15 days)"
    )
    parser.add_argument("--region", help="AWS region (default: the environment's)")
    parser.add_argument("--out", default="backtest.csv", metavar="FILE", help="where the trace is written")
    add_world_options(parser)
    parser.add_argument("--json", action="store_true", help='print {"results": [...]}')
    parser.add_argument("--html", metavar="PATH", help="write an HTML report with the timeline")
    parser.set_defaults(handler=handle, client_factory=lambda region: boto3.client("cloudwatch", region_name=region))


def handle(args: argparse.Namespace) -> int:
    client = args.client_factory(args.region)
    try:
        rows = read_rate_history(
            client, args.cluster_name, args.start, args.end, args.metric, args.period, args.message_bytes, args.topic
        )
        write_trace(args.out, rows)
        results = run_bench([read_trace(args.out)], settings_from(args))
    except (HistoryError, TraceError, SettingsError) as error:
        print(f"backtest: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"wrote {len(rows)} datapoints to {args.out}", file=sys.stderr)
    if args.html:
        write_report(args.html, results, f"backtest of {args.cluster_name}")
    print_results(results, args.json)
    return 0
