"""Build the Snapshot from the ports; every failure becomes a named problem, never a crash."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from kafka_autoscaler.config import AutoscalerConfig
from kafka_autoscaler.model import ClusterState, ScalerState, Snapshot
from kafka_autoscaler.ports import LagObservation, Ports, RebalanceProblemReporter

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Observation:
    snapshot: Snapshot
    lag: LagObservation  # carries the offset samples that `record` keeps


def metrics_lookback_s(config: AutoscalerConfig) -> float:
    """How far back broker metrics are read: the longest window any policy judges."""
    return float(max(config.brokers.cpu_window_s, config.storage.growth_window_s)) + 120.0


def _describe_cluster(ports: Ports, config: AutoscalerConfig, now: float, problems: list[str]) -> ClusterState | None:
    try:
        cluster = ports.cluster.describe()
    except Exception as error:  # an unreadable cluster is missing data, not a failed tick
        logger.warning("cluster describe failed", exc_info=True)
        problems.append(f"MSK cluster could not be described: {error}")
        return None
    try:
        loads = ports.metrics.read(cluster, now, metrics_lookback_s(config))
    except Exception as error:
        logger.warning("broker metrics failed", exc_info=True)
        problems.append(f"broker metrics could not be read: {error}")
        loads = ()
    return dataclasses.replace(cluster, brokers=loads)


def take_snapshot(config: AutoscalerConfig, ports: Ports, state: ScalerState, now: float) -> Observation:
    problems: list[str] = []
    cluster = _describe_cluster(ports, config, now, problems)
    try:
        lag = ports.lag.read(config.consumers, state, now)
    except Exception as error:
        logger.warning("lag read failed", exc_info=True)
        problems.append(f"consumer lag could not be read: {error}")
        lag = LagObservation(groups={})
    problems.extend(lag.problems)
    try:
        services = ports.services.describe(config.consumers)
    except Exception as error:
        logger.warning("service describe failed", exc_info=True)
        problems.append(f"consumer services could not be described: {error}")
        services = {}
    reassignments: int | None = None
    if ports.rebalancer is not None:
        try:
            reassignments = ports.rebalancer.in_progress()
            if isinstance(ports.rebalancer, RebalanceProblemReporter) and (failed := ports.rebalancer.last_problem()):
                problems.append(failed)
        except Exception as error:
            problems.append(f"partition reassignments could not be listed: {error}")
    for binding in config.consumers:
        if binding.group_id not in lag.groups:
            problems.append(f"no lag for group {binding.group_id}")
        if binding.group_id not in services:
            problems.append(f"no ECS service state for {binding.ecs.cluster}/{binding.ecs.service}")
    snapshot = Snapshot(
        taken_at=now,
        cluster=cluster,
        groups=dict(lag.groups),
        services=services,
        state=state,
        reassignments_in_progress=reassignments,
        problems=tuple(problems),
    )
    return Observation(snapshot, lag)
