"""Carry out a plan. Dry-run and pause stop here; one failed action never stops the others."""

from __future__ import annotations

import logging

from kafka_autoscaler.config import AutoscalerConfig
from kafka_autoscaler.model import Action, Decision, Outcome, OutcomeStatus, Plan, Snapshot, Target
from kafka_autoscaler.policy.ownership import MAX_CAPACITY, MIN_CAPACITY
from kafka_autoscaler.ports import ActionError, Ports

logger = logging.getLogger(__name__)


def _apply(decision: Decision, config: AutoscalerConfig, ports: Ports, snapshot: Snapshot) -> str:
    if decision.target is Target.CONSUMERS:
        binding = config.binding(decision.key.removeprefix("consumer:"))
        if MIN_CAPACITY in decision.details:
            if ports.capacity is None:
                raise ActionError("no Application Auto Scaling control is configured")
            return ports.capacity.set_bounds(
                binding, int(decision.details[MIN_CAPACITY]), int(decision.details[MAX_CAPACITY])
            )
        return ports.service_control.set_desired(binding, decision.desired)
    if decision.target is Target.PARTITIONS:
        if ports.partitions is None:
            raise ActionError("no partition control is configured")
        return ports.partitions.create_partitions(str(decision.details["topic"]), decision.desired)
    if decision.target is Target.REBALANCE or decision.action is Action.DRAIN:
        if ports.rebalancer is None:
            raise ActionError("no rebalancer is configured")
        return ports.rebalancer.start(decision)
    if snapshot.cluster is None:
        raise ActionError("the cluster was not read this tick")
    version = snapshot.cluster.current_version
    if decision.target is Target.BROKERS:
        return ports.cluster_control.update_broker_count(version, decision.desired)
    if decision.target is Target.STORAGE:
        return ports.cluster_control.update_broker_storage(version, decision.desired)
    if decision.target is Target.BROKER_TYPE:
        return ports.cluster_control.update_broker_type(version, str(decision.details["target_instance_type"]))
    raise ActionError(f"no adapter for {decision.target.value}")


def carry_out(plan: Plan, config: AutoscalerConfig, ports: Ports, snapshot: Snapshot) -> tuple[Outcome, ...]:
    """An outcome for every decision; only changes reach an adapter."""
    outcomes: list[Outcome] = []
    for decision in plan.decisions:
        if not decision.changes_something:
            outcomes.append(Outcome(decision, OutcomeStatus.APPLIED))
        elif config.paused:
            outcomes.append(Outcome(decision, OutcomeStatus.SKIPPED_PAUSED))
        elif config.dry_run:
            outcomes.append(Outcome(decision, OutcomeStatus.SKIPPED_DRY_RUN))
        else:
            try:
                detail = _apply(decision, config, ports, snapshot)
                outcomes.append(Outcome(decision, OutcomeStatus.APPLIED, detail))
            except ActionError as error:
                logger.warning("action failed: %s", decision.key, exc_info=True)
                status = OutcomeStatus.UNKNOWN if error.maybe_applied else OutcomeStatus.FAILED
                outcomes.append(Outcome(decision, status, f"{type(error).__name__}: {error}"))
            except Exception as error:  # reported on the outcome; the other actions still run
                logger.warning("action failed: %s", decision.key, exc_info=True)
                outcomes.append(Outcome(decision, OutcomeStatus.FAILED, f"{type(error).__name__}: {error}"))
    return tuple(outcomes)
