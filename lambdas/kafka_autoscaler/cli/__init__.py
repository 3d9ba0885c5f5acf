"""The `kafka-autoscaler` command line. Each subcommand lives in its own module with `register()`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

# Modules under kafka_autoscaler.cli, one per subcommand, each with
# `register(subparsers) -> None` that sets `handler=callable(args) -> int` on its parser.
COMMANDS: tuple[str, ...] = (
    "validate",
    "plan",
    "lag",
    "demo",
    "simulate",
    "bench",
    "backtest",
    "advise",
    "doctor",
)

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kafka-autoscaler",
        description="Explainable autoscaler for Amazon MSK and its ECS consumers.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"kafka_autoscaler.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
