"""Build the Snapshot from the ports; every failure becomes a named problem, never a crash."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from kafka_autoscaler.advice.facts import ClusterFacts
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
        return dataclasses.replace(cluster, brokers=(), metrics_error=str(error))
    return dataclasses.replace(cluster, brokers=loads)


def _broker_replicas(
    ports: Ports, cluster: ClusterState | None, state: ScalerState, problems: list[str]
) -> dict[int, int] | None:
    """Replicas per broker from Kafka's metadata; without a reader, the cluster port's own counts.

    Read only while a drain runs: only a drained broker is ever judged empty, and an unreachable
    Kafka would otherwise cost its connection timeout twice per tick.
    """
    if not any(w.kind == "broker_drain" for w in state.workflows):
        return None
    if ports.replicas is None:
        if cluster is None or any(b.partition_count is None for b in cluster.brokers):
            return None
        return {b.broker_id: b.partition_count for b in cluster.brokers if b.partition_count is not None}
    try:
        return ports.replicas.replicas_per_broker()
    except Exception as error:  # unknown, so no broker is judged empty
        logger.warning("replica metadata failed", exc_info=True)
        problems.append(f"Kafka's replica metadata could not be read: {error}")
        return None


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
    facts = _read_facts(ports, config, problems)
    for binding in config.consumers:
        if binding.group_id not in lag.groups:
            problems.append(f"no lag for group {binding.group_id}")
        if binding.group_id not in services:
            problems.append(f"no ECS service state for {binding.ecs.cluster}/{binding.ecs.service}")
    replicas = _broker_replicas(ports, cluster, state, problems)
    snapshot = Snapshot(
        taken_at=now,
        cluster=cluster,
        groups=dict(lag.groups),
        services=services,
        state=state,
        reassignments_in_progress=reassignments,
        problems=tuple(problems),
        facts=facts,
        broker_replicas=replicas,
        lag_missing=dict(lag.missing),
    )
    return Observation(snapshot, lag)


def _read_facts(ports: Ports, config: AutoscalerConfig, problems: list[str]) -> ClusterFacts | None:
    """The advisor's facts of the bound groups and every topic; None without a facts port or on failure."""
    if ports.facts is None:
        return None
    try:
        facts = ports.facts.read([b.group_id for b in config.consumers])
    except Exception as error:  # unread configuration is missing advice, not a failed tick
        logger.warning("configuration read failed", exc_info=True)
        problems.append(f"cluster configuration could not be read: {error}")
        return None
    problems.extend(facts.problems)
    return facts
