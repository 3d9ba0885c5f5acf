"""`kafka-autoscaler advise`: what in the broker, topic and group configuration blocks scaling.

Reads broker, topic and group configuration through Kafka's admin API and runs the
advisor's checks, the same ones the tick runs. With `--config`, the checks that need the
consumer bindings run too, and the cluster's instance type, volume and write rates are
read from MSK and CloudWatch with the caller's AWS credentials (when that fails, the checks
that need them say nothing and the reason is printed). Exit 0 when nothing is a warning or
worse, 1 when something is, 2 when the configuration or Kafka cannot be read.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from typing import Any

from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError

from kafka_autoscaler.advice.checks import SEVERITY_ORDER, AdviceContext, Finding, Severity, run_checks, worst
from kafka_autoscaler.advice.facts import ClusterFacts
from kafka_autoscaler.advice.reader import KafkaFactsReader
from kafka_autoscaler.config import AutoscalerConfig, ConfigError, load_config
from kafka_autoscaler.handlers.wiring import AwsClients, KafkaAdminConnector
from kafka_autoscaler.model import ClusterState
from kafka_autoscaler.observe.cloudwatch import CloudWatchBrokerMetrics
from kafka_autoscaler.observe.kafka_client import base_kwargs
from kafka_autoscaler.observe.msk import MskClusterReader
from kafka_autoscaler.observe.snapshot import metrics_lookback_s

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_UNREADABLE = 2


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("advise", help="check broker, topic and group configuration for what blocks scaling")
    parser.add_argument("--config", metavar="FILE", help="the autoscaler configuration (bindings, cluster ARN)")
    parser.add_argument(
        "--bootstrap-server", metavar="HOST:PORT", help="a Kafka broker (plaintext); default: the config's cluster"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if not args.config and not args.bootstrap_server:
        print("advise: give --config FILE, --bootstrap-server HOST:PORT, or both", file=sys.stderr)
        return EXIT_UNREADABLE
    config: AutoscalerConfig | None = None
    if args.config:
        try:
            config = load_config(args.config)
        except ConfigError as error:
            print(f"advise: {error}", file=sys.stderr)
            return EXIT_UNREADABLE
    try:
        admin = _admin(args.bootstrap_server, config)
    except KafkaError as error:
        print(f"advise: cannot reach Kafka: {error}", file=sys.stderr)
        return EXIT_UNREADABLE
    try:
        facts = KafkaFactsReader(admin).read(None)
    finally:
        admin.close()
    problems = list(facts.problems)
    cluster = _msk_cluster(config, problems) if config else None
    if not facts.brokers and not facts.topics:
        print(f"advise: nothing could be read: {'; '.join(problems)}", file=sys.stderr)
        return EXIT_UNREADABLE
    findings = run_checks(AdviceContext(facts, config, cluster))
    print(json.dumps(as_json(findings, problems, facts), indent=2) if args.json else as_text(findings))
    for problem in problems:
        print(f"advise: {problem}", file=sys.stderr)
    return exit_code(findings)


def exit_code(findings: tuple[Finding, ...]) -> int:
    top = worst(findings)
    return EXIT_FINDINGS if top is not None and SEVERITY_ORDER[top] >= SEVERITY_ORDER[Severity.WARNING] else EXIT_CLEAN


def _admin(bootstrap_server: str | None, config: AutoscalerConfig | None) -> KafkaAdminClient:
    if bootstrap_server:
        return KafkaAdminClient(**base_kwargs(bootstrap_server))
    assert config is not None  # run() asks for one of the two
    client: KafkaAdminClient = KafkaAdminConnector(
        config.cluster, AwsClients.create(config.cluster.region).secretsmanager
    )()
    return client


def _msk_cluster(config: AutoscalerConfig, problems: list[str]) -> ClusterState | None:
    """Instance type, volume and broker metrics from MSK and CloudWatch, through the scaler's own readers."""
    try:
        clients = AwsClients.create(config.cluster.region)
        cluster = MskClusterReader(clients.kafka, config.cluster.arn).describe()
        loads = CloudWatchBrokerMetrics(clients.cloudwatch, config.cluster.name).read(
            cluster, time.time(), metrics_lookback_s(config)
        )
    except Exception as error:  # no AWS credentials or no access: say so, check the rest
        problems.append(f"MSK could not be read ({error}); thread_counts and retention_vs_disk are not checked")
        return None
    return dataclasses.replace(cluster, brokers=loads)


def as_text(findings: tuple[Finding, ...]) -> str:
    if not findings:
        return "no findings: nothing in the configuration blocks scaling"
    lines: list[str] = []
    for f in findings:
        lines += [f"[{f.severity.value}] {f.id} ({f.subject}): {f.evidence}", f"    fix: {f.fix}", f"    see: {f.doc}"]
    return "\n".join(lines)


def as_json(findings: tuple[Finding, ...], problems: list[str], facts: ClusterFacts) -> dict[str, Any]:
    top = worst(findings)
    return {
        "findings": [f.as_dict() for f in findings],
        "worst": None if top is None else top.value,
        "brokers": [b.broker_id for b in facts.brokers],
        "topics": len(facts.topics),
        "groups": [g.group_id for g in facts.groups],
        "problems": problems,
    }
