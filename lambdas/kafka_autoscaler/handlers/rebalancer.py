"""The rebalancer function's runtime: its configuration, Kafka admin client, CPU guard and Cruise Control.

The function's entry point is handlers/rebalance_steps.py (one state of the rebalance state machine
per call); this module builds what every step shares, once per container, at the first invocation,
and reads the scaler's decision, either bare (`Decision.as_dict()`) or wrapped as ``{"decision": ...}``.

Environment: AUTOSCALER_CONFIG_FILE (as for the scaler); POWERTOOLS_SERVICE_NAME and
POWERTOOLS_LOG_LEVEL.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache

import boto3
from aws_lambda_powertools import Logger

from kafka_autoscaler.config import AutoscalerConfig, load_config
from kafka_autoscaler.handlers.scaler import config_path
from kafka_autoscaler.handlers.wiring import BOTO_CONFIG, KafkaAdminConnector
from kafka_autoscaler.model import Action, Decision, Reason, Target
from kafka_autoscaler.observe.cloudwatch import CloudWatchBrokerMetrics
from kafka_autoscaler.observe.msk import MskClusterReader
from kafka_autoscaler.policy.brokers import cluster_series, latest_mean
from kafka_autoscaler.ports import ObserveError, Rebalancer
from kafka_autoscaler.rebalance.cpu_guard import CpuProbe
from kafka_autoscaler.rebalance.cruise_control import CruiseControlRebalancer
from kafka_autoscaler.rebalance.executor import ExecutorSettings
from kafka_autoscaler.rebalance.layout import KafkaAdmin
from kafka_autoscaler.rebalance.service import SUBMIT_BUDGET_S, RebalanceRequestError

CPU_LOOKBACK_S = 300.0  # the CPU the guard compares: mean over brokers, latest five minutes
CPU_REUSE_S = 60.0

logger = Logger()


@dataclass(frozen=True)
class RebalancerRuntime:
    config: AutoscalerConfig
    admin: Callable[[], KafkaAdmin]  # connects on first use, then reuses the client
    cpu: CpuProbe | None
    cruise_control: Rebalancer | None
    settings: ExecutorSettings = field(default_factory=ExecutorSettings)
    submit_budget_s: float = SUBMIT_BUDGET_S  # how long a submit step watches its batch


def parse_decision(event: object) -> Decision:
    """The decision in the event (bare or under "decision"); RebalanceRequestError names what is wrong."""
    data = event.get("decision", event) if isinstance(event, Mapping) else event
    if not isinstance(data, Mapping):
        raise RebalanceRequestError(f"the event must be a decision as a JSON object, not {type(data).__name__}")
    try:
        return Decision(
            target=Target(str(data.get("target"))),
            key=str(data.get("key", "rebalance")),
            action=Action(str(data.get("action"))),
            current=int(data.get("current", 0)),
            desired=int(data.get("desired", 0)),
            reason=Reason(data.get("reason", Reason.PARTITIONS_UNBALANCED.value)),
            message=str(data.get("message", "")),
            details=dict(data.get("details") or {}),
        )
    except (ValueError, TypeError) as error:
        raise RebalanceRequestError(f"the event is not a decision: {error}") from error


def msk_cpu_probe(
    reader: MskClusterReader, metrics: CloudWatchBrokerMetrics, clock: Callable[[], float] = time.time
) -> CpuProbe:
    """Mean broker CPU (user + system) over the last five minutes; None when it cannot be read.

    A reading is reused for a minute (CloudWatch's resolution): the guard asks before every batch.
    """
    last: list[tuple[float, float | None]] = []

    def probe() -> float | None:
        now = clock()
        if last and now - last[0][0] < CPU_REUSE_S:
            return last[0][1]
        try:
            loads = metrics.read(reader.describe(), now, CPU_LOOKBACK_S)
        except ObserveError as error:
            logger.warning("broker CPU unknown; moves are not held back", extra={"problem": str(error)})
            return None
        cpu = latest_mean(cluster_series(loads, "cpu_pct", "mean"), now, CPU_LOOKBACK_S)
        last[:] = [(now, cpu)]
        return cpu

    return probe


def build_runtime() -> RebalancerRuntime:
    """Configuration and clients for AWS: the MSK cluster's Kafka, its CPU in CloudWatch, Cruise Control."""
    config = load_config(config_path(os.environ))
    cluster = config.cluster

    region = cluster.region
    kafka = boto3.client("kafka", region_name=region, config=BOTO_CONFIG)
    cloudwatch = boto3.client("cloudwatch", region_name=region, config=BOTO_CONFIG)
    secrets = boto3.client("secretsmanager", region_name=region, config=BOTO_CONFIG)
    cpu = msk_cpu_probe(MskClusterReader(kafka, cluster.arn), CloudWatchBrokerMetrics(cloudwatch, cluster.name))
    cruise = CruiseControlRebalancer(config.cruise_control.url) if config.cruise_control else None
    return RebalancerRuntime(config, KafkaAdminConnector(cluster, secrets), cpu, cruise)


# The seam tests use to put fakes where AWS or Kafka cannot be reached.
RUNTIME_FACTORY: Callable[[], RebalancerRuntime] = build_runtime


@cache
def runtime() -> RebalancerRuntime:
    """Built once per container; a failure is not cached, so the next invocation retries."""
    return RUNTIME_FACTORY()
