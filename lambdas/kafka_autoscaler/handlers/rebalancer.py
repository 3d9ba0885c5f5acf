"""The rebalancer Lambda: carry out one rebalance or drain the scaler decided.

The scaler invokes it asynchronously with the decision as JSON, either bare
(`Decision.as_dict()`) or wrapped as ``{"decision": ...}``. It moves partitions until
they are placed or until the function's remaining time minus a margin; moves still
running go on inside Kafka, and the next invocation (the scaler asks again while the
brokers are unbalanced, and Lambda retries a failed one) resumes from what Kafka reports.
Where the configuration names Cruise Control, the decision is handed to it instead.

Environment: AUTOSCALER_CONFIG_FILE (as for the scaler); POWERTOOLS_SERVICE_NAME and
POWERTOOLS_LOG_LEVEL. Clients are built once per container, at the first invocation.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

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
from kafka_autoscaler.rebalance.placement import PlacementError
from kafka_autoscaler.rebalance.service import RebalanceRequest, RebalanceRequestError, run_rebalance

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

# Stop starting moves this long before the function times out, so it returns a summary.
MARGIN_S = 60.0
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


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Run (or resume) the rebalance the event asks for; return what happened."""
    try:
        decision = parse_decision(event)
        request = RebalanceRequest.from_decision(decision)
    except RebalanceRequestError as error:
        logger.error("malformed event: nothing moved", extra={"problem": str(error)})
        return {"status": "error", "reason": f"malformed event: {error}"}
    logger.append_keys(request=request.describe())
    run = runtime()
    if run.cruise_control is not None:
        detail = run.cruise_control.start(decision)
        logger.info("handed to Cruise Control", extra={"detail": detail})
        return {"status": "handed_off", "request": request.describe(), "message": detail}
    remaining_s = context.get_remaining_time_in_millis() / 1000
    deadline = time.monotonic() + remaining_s - min(MARGIN_S, remaining_s / 4)
    try:
        result = run_rebalance(
            request,
            run.admin(),
            settings=run.settings,
            cpu=run.cpu,
            max_cpu_pct=run.config.brokers.rebalance_max_cpu_pct,
            deadline=deadline,
        )
    except PlacementError as error:
        # Not transient (e.g. a drain would leave fewer brokers than the replication factor): no retry helps.
        logger.error("no valid placement: nothing moved", extra={"problem": str(error)})
        return {"status": "error", "request": request.describe(), "reason": f"no valid placement: {error}"}
    summary = result.as_dict()
    logger.info("rebalance run done", extra={"result": summary})
    return summary
