"""The scaler Lambda: parse the trigger, run one tick, emit metrics, return a summary.

Environment:
- AUTOSCALER_CONFIG_FILE: the YAML configuration (relative paths resolve against LAMBDA_TASK_ROOT);
- STATE_TABLE_NAME, SNS_TOPIC_ARN; optional REBALANCE_STATE_MACHINE_ARN;
- POWERTOOLS_METRICS_NAMESPACE (default KafkaAutoscaler), POWERTOOLS_SERVICE_NAME, POWERTOOLS_LOG_LEVEL.
The configuration, the clients and the ports are built once per container, at the first
invocation, so importing this module needs neither AWS nor the file.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from kafka_autoscaler.config import AutoscalerConfig, ConfigError, load_config
from kafka_autoscaler.engine import FUNCTION_TIMEOUT_S, TickResult, tick
from kafka_autoscaler.handlers.events import IgnoredEvent, MalformedEventError, Trigger, parse_event
from kafka_autoscaler.handlers.wiring import (
    BOTO_CONFIG,
    SNS_TOPIC_ENV,
    AwsClients,
    CallBudget,
    HandlerEnv,
    build_aws_ports,
)
from kafka_autoscaler.model import Target
from kafka_autoscaler.ports import Ports, StateConflictError
from kafka_autoscaler.report import subject_line

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

CONFIG_FILE_ENV = "AUTOSCALER_CONFIG_FILE"
TASK_ROOT_ENV = "LAMBDA_TASK_ROOT"
NAMESPACE_ENV = "POWERTOOLS_METRICS_NAMESPACE"
DEFAULT_NAMESPACE = "KafkaAutoscaler"

logger = Logger()
tracer = Tracer()
# kafka-python logs its whole configuration, SASL password included, at DEBUG. Its loggers stay at
# INFO whatever the function's log level; its children inherit that level.
KAFKA_LOGGER = "kafka"
logging.getLogger(KAFKA_LOGGER).setLevel(logging.INFO)

PortsFactory = Callable[[AutoscalerConfig, AwsClients, HandlerEnv], Ports]
# The seam tests use to put fakes where AWS or Kafka cannot be reached.
PORTS_FACTORY: PortsFactory = build_aws_ports


@dataclass(frozen=True)
class Runtime:
    config: AutoscalerConfig
    ports: Ports
    budget: CallBudget = field(default_factory=CallBudget)


def config_path(environ: Mapping[str, str]) -> Path:
    """The configuration file named by AUTOSCALER_CONFIG_FILE; relative to the task root."""
    name = environ.get(CONFIG_FILE_ENV)
    if not name:
        raise ConfigError(CONFIG_FILE_ENV, ["environment variable not set: it must name the YAML configuration file"])
    path = Path(name)
    return path if path.is_absolute() else Path(environ.get(TASK_ROOT_ENV, ".")) / path


@cache
def runtime() -> Runtime:
    """Configuration and ports, once per container. A failure is not cached: the next invocation retries."""
    env = HandlerEnv.from_environ(os.environ)
    config = load_config(config_path(os.environ))
    budget = CallBudget()
    return Runtime(config, PORTS_FACTORY(config, AwsClients.create(config.cluster.region, budget), env), budget)


# The setup problem last told in this container: each distinct one is told once, not every minute.
_told_setup_problem: list[str] = []


def tell_setup_problem(problem: str, environ: Mapping[str, str]) -> bool:
    """One SNS message naming why the scaler cannot run (best effort); True when it was sent."""
    topic = environ.get(SNS_TOPIC_ENV)
    if not topic or _told_setup_problem == [problem]:
        return False
    try:
        sns = boto3.client("sns", config=BOTO_CONFIG)
        subject = subject_line(f"[kafka-autoscaler] {environ.get('AWS_LAMBDA_FUNCTION_NAME', 'scaler')}: cannot run")
        sns.publish(
            TopicArn=topic,
            Subject=subject,
            Message=f"The scaler cannot start, so nothing is scaled until this is fixed:\n{problem}",
        )
    except Exception:  # best effort: the error alarm still counts the failed invocation
        logger.warning("the setup problem could not be sent to SNS", exc_info=True)
        return False
    _told_setup_problem[:] = [problem]
    return True


def remaining_s(context: LambdaContext) -> float:
    """Seconds before the invocation times out (the configured timeout when the context cannot say)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return remaining() / 1000.0 if callable(remaining) else FUNCTION_TIMEOUT_S


def emit_metrics(result: TickResult, config: AutoscalerConfig, namespace: str) -> None:
    """EMF metrics: decisions per action; desired and running tasks, lag and time lag per consumer group."""
    if result.plan is None or result.snapshot is None:
        return
    for action, count in sorted(Counter(d.action.value for d in result.plan.decisions).items()):
        _emit(namespace, "Action", action, [("Decisions", MetricUnit.Count, count)])
    desired = {d.key: d.desired for d in result.plan.decisions if d.target is Target.CONSUMERS}
    for binding in config.consumers:
        values: list[tuple[str, MetricUnit, float]] = []
        if binding.key in desired:
            values.append(("DesiredTasks", MetricUnit.Count, desired[binding.key]))
        service = result.snapshot.services.get(binding.group_id)
        if service is not None:
            values.append(("RunningTasks", MetricUnit.Count, service.running))
        lag = result.snapshot.groups.get(binding.group_id)
        if lag is not None:
            values.append(("TotalLag", MetricUnit.Count, lag.total_lag))
            if lag.max_time_lag_s is not None:
                values.append(("MaxTimeLagSeconds", MetricUnit.Seconds, lag.max_time_lag_s))
        if values:
            _emit(namespace, "ConsumerGroup", binding.group_id, values)


def _emit(namespace: str, dimension: str, value: str, metrics: list[tuple[str, MetricUnit, float]]) -> None:
    # service="": no default "service" dimension, so each metric carries exactly the one named here.
    emf = EphemeralMetrics(namespace=namespace, service="")
    emf.add_dimension(name=dimension, value=value)
    for name, unit, amount in metrics:
        emf.add_metric(name=name, unit=unit, value=amount)
    emf.flush_metrics()


SUMMARY_FIELDS = ("key", "action", "current", "desired", "reason", "status", "detail")


def summary(trigger: Trigger, result: TickResult) -> dict[str, Any]:
    """The invocation's response: what triggered the tick, each decision's outcome, what could not be seen."""
    rows = [o.as_dict() for o in result.outcomes]
    return {
        "status": "ran",
        "trigger": trigger.describe(),
        "decisions": [{k: row[k] for k in SUMMARY_FIELDS} for row in rows],
        "notified": len(result.told),
        "problems": list(result.snapshot.problems) if result.snapshot else [],
    }


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Run one tick for a schedule or alarm event; ignore anything else."""
    try:
        trigger = parse_event(event)
    except MalformedEventError as error:
        logger.error("malformed event: no tick", extra={"problem": str(error)})
        return {"status": "error", "reason": f"malformed event: {error}"}
    if isinstance(trigger, IgnoredEvent):
        logger.info("event ignored", extra={"reason": trigger.reason})
        return {"status": "ignored", "reason": trigger.reason}
    logger.append_keys(trigger=trigger.describe())
    tracer.put_annotation("trigger", type(trigger).__name__)
    try:
        run = runtime()
    except Exception as error:
        # Why: a configuration that breaks at run time fails every invocation; say so once, and
        # fail the invocation so the scaler-errors alarm counts it.
        logger.exception("the scaler cannot start")
        tell_setup_problem(f"{type(error).__name__}: {error}", os.environ)
        raise
    run.budget.start(remaining_s(context))
    try:
        result = tick(run.config, run.ports, time.time(), context.aws_request_id)
    except StateConflictError as error:
        logger.warning("record refused: another invocation saved first", extra={"problem": str(error)})
        return {"status": "conflict", "trigger": trigger.describe(), "reason": str(error)}
    if not result.ran:
        return {"status": "skipped", "trigger": trigger.describe(), "reason": "another invocation holds the lease"}
    emit_metrics(result, run.config, os.environ.get(NAMESPACE_ENV) or DEFAULT_NAMESPACE)
    response = summary(trigger, result)
    logger.info("tick done", extra={"decisions": response["decisions"], "problems": response["problems"]})
    return response
