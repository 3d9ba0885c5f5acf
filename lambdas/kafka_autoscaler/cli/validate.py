"""`kafka-autoscaler validate FILE`: exit 0 when the configuration is valid, 2 with one line per problem."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kafka_autoscaler.cli.config_file import EXIT_INVALID, read_config
from kafka_autoscaler.config import lag_metric_warnings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("validate", help="check a configuration file")
    parser.add_argument("file", help="the YAML configuration file")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    config = read_config(args.file)
    if config is None:
        return EXIT_INVALID
    for warning in lag_metric_warnings(config):
        print(f"warning: {warning}", file=sys.stderr)
    print(
        f"{args.file}: valid. Cluster {config.cluster.name} in {config.cluster.region}, "
        f"{len(config.consumers)} consumer binding(s), brokers {config.brokers.min_brokers}-"
        f"{config.brokers.max_brokers}, storage mode {config.storage.mode.value}"
        + (", dry run" if config.dry_run else "")
        + (", PAUSED" if config.paused else "")
        + "."
    )
    return 0
