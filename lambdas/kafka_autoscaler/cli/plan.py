"""`kafka-autoscaler plan FILE [--json]`: what the autoscaler would do now, and why, changing nothing.

It observes the real cluster, consumer groups and ECS services with the caller's AWS
credentials through the same read adapters and the same `tick()` as the Lambda, with
every change refused and nothing saved.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from typing import Any

from kafka_autoscaler.cli.config_file import EXIT_INVALID, read_config
from kafka_autoscaler.config import AutoscalerConfig
from kafka_autoscaler.engine import TickResult, tick
from kafka_autoscaler.handlers.wiring import AwsClients, HandlerEnv, build_aws_ports
from kafka_autoscaler.model import Outcome
from kafka_autoscaler.ports import Ports
from kafka_autoscaler.report import Message
from kafka_autoscaler.state.memory import MemoryStateStore

OWNER = "kafka-autoscaler-plan"


class _Silent:
    """The plan prints its own report; nothing is published."""

    def publish(self, message: Message) -> None:
        return None


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("plan", help="show what the autoscaler would do now and why, changing nothing")
    parser.add_argument("file", help="the YAML configuration file")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--state-table",
        help="the deployed scaler's DynamoDB table: read its history (cooldowns, stabilization window, offset "
        "samples) so the plan matches what the next tick would do; without it the plan starts from no history",
    )
    parser.set_defaults(handler=run)


def plan_ports(config: AutoscalerConfig, clients: AwsClients, state_table: str | None) -> Ports:
    """Read-only AWS ports; with no state table, an empty in-memory history."""
    env = HandlerEnv(state_table or "unused", config.notifications.sns_topic_arn or "unused")
    ports = build_aws_ports(config, clients, env, read_only=True, notifier=_Silent())
    return ports if state_table else dataclasses.replace(ports, state=MemoryStateStore())


def make_plan(config: AutoscalerConfig, ports: Ports, now: float) -> TickResult:
    """One tick in dry-run: decisions are made and reported, never applied."""
    return tick(config.model_copy(update={"dry_run": True}), ports, now, OWNER)


def _row(outcome: Outcome) -> str:
    d = outcome.decision
    change = f"{d.current} -> {d.desired}" if d.changes_something else f"{d.current}"
    return f"{d.key:<32} {d.action.value:<10} {change:<12} {d.reason.value:<22} {d.message}"


def render_text(config: AutoscalerConfig, result: TickResult) -> str:
    lines = [f"Plan for cluster {config.cluster.name} ({config.cluster.region}); nothing is changed."]
    lines.append(f"{'what':<32} {'action':<10} {'count':<12} {'reason':<22} why")
    lines += [_row(o) for o in result.outcomes]
    problems = result.snapshot.problems if result.snapshot else ()
    if problems:
        lines.append("Could not observe (treated as missing data, never as a reason to scale in):")
        lines += [f"  - {p}" for p in problems]
    return "\n".join(lines)


def render_json(config: AutoscalerConfig, result: TickResult) -> str:
    return json.dumps(
        {
            "cluster": config.cluster.arn,
            "decided_at": result.plan.decided_at if result.plan else None,
            "decisions": [o.decision.as_dict() for o in result.outcomes],
            "problems": list(result.snapshot.problems) if result.snapshot else [],
        },
        indent=2,
        sort_keys=True,
        default=str,
    )


def run(args: argparse.Namespace, clients: AwsClients | None = None) -> int:
    config = read_config(args.file)
    if config is None:
        return EXIT_INVALID
    ports = plan_ports(config, clients or AwsClients.create(config.cluster.region), args.state_table)
    result = make_plan(config, ports, time.time())
    print(render_json(config, result) if args.json else render_text(config, result))
    return 0
