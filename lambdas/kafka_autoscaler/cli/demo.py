"""`kafka-autoscaler demo`: the autoscaler against a real Kafka cluster on this machine.

Needs Java 17+ and the Kafka jars (`bash local-kafka/fetch.sh`, run by scripts/setup.sh).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from kafka_autoscaler.local.cluster import LocalKafkaError
from kafka_autoscaler.local.demo import DemoResult, DemoSettings, run_demo
from kafka_autoscaler.local.plain import PlainView
from kafka_autoscaler.local.profiles import PROFILES, UnknownProfileError
from kafka_autoscaler.local.timeline import describe_milestones

EXIT_INTERRUPTED = 130
EXIT_FAILED = 1


def register(subparsers: Any) -> None:
    defaults = DemoSettings()
    parser = subparsers.add_parser(
        "demo",
        help="run the autoscaler against a real local Kafka cluster under a changing load",
        description=(
            "Start 3 Kafka brokers on 127.0.0.1, a producer following a load profile and a pool of consumer "
            "processes, and let the autoscaler scale them. Writes an HTML report at the end."
        ),
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=defaults.duration_s,
        metavar="S",
        help=f"seconds of load (default {defaults.duration_s:.0f}; start-up and shut-down add about a minute)",
    )
    parser.add_argument(
        "--profile",
        default=defaults.profile,
        choices=sorted(PROFILES),
        help="; ".join(f"{p.name}: {p.description}" for p in PROFILES.values()),
    )
    parser.add_argument(
        "--report", type=Path, default=defaults.report, metavar="PATH", help=f"default {defaults.report}"
    )
    parser.add_argument("--no-live", action="store_true", help="print one line per tick instead of the live view")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = DemoSettings(duration_s=args.duration, profile=args.profile, report=args.report)
    except (ValueError, UnknownProfileError) as error:
        print(f"demo: {error}", file=sys.stderr)
        return 2
    _log_to_file(settings.run_dir / "demo.log")
    view = PlainView(sys.stdout) if args.no_live else _live_view()
    if view is None:
        return EXIT_FAILED
    try:
        with view:
            result = run_demo(settings, view)
    except LocalKafkaError as error:
        print(f"demo: the local Kafka cluster could not run: {error}", file=sys.stderr)
        return EXIT_FAILED
    _summary(result)
    if result.leftover_pids:
        return EXIT_FAILED
    return EXIT_INTERRUPTED if result.interrupted else 0


def _log_to_file(path: Path) -> None:
    """Warnings (with their tracebacks) go to a file; the terminal shows the demo."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("kafka_autoscaler").setLevel(logging.INFO)


def _live_view() -> Any:
    """The rich live view; None (with a message) when rich is not installed."""
    try:
        # Imported here: rich is the `local` extra, and the other commands must not need it.
        from kafka_autoscaler.local.live import LiveView  # noqa: PLC0415
    except ImportError:
        print(
            "demo: the live view needs rich (pip install 'kafka-autoscaler[local]'); or use --no-live", file=sys.stderr
        )
        return None
    return LiveView()


def _summary(result: DemoResult) -> None:
    print()
    for line in describe_milestones(result.milestones):
        print(line)
    if result.report is not None:
        print(f"Report: {result.report}")
    print(f"Wall time: {result.wall_s:.0f}s{' (interrupted)' if result.interrupted else ''}.")
    if result.leftover_pids:
        print(f"Processes still running after the stop: {list(result.leftover_pids)}", file=sys.stderr)
    else:
        print("Every process the demo started has stopped.")
