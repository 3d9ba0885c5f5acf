"""Pure decisions: `decide(snapshot, config, now) -> Plan`.

Nothing in this package may import boto3 or kafka, read the clock or the environment;
tests/unit/test_policy_purity.py fails if it does.
"""

from __future__ import annotations

from kafka_autoscaler.config import AutoscalerConfig
from kafka_autoscaler.model import Decision, Plan, Snapshot
from kafka_autoscaler.policy.brokers import decide_brokers
from kafka_autoscaler.policy.consumers import decide_consumers
from kafka_autoscaler.policy.storage import decide_storage


def decide(snapshot: Snapshot, config: AutoscalerConfig, now: float) -> Plan:
    """Every decision for one tick, from what was observed."""
    decisions: list[Decision] = []
    recommendations: dict[str, int] = {}
    for binding in config.consumers:
        result = decide_consumers(
            binding,
            snapshot.groups.get(binding.group_id),
            snapshot.services.get(binding.group_id),
            snapshot.state,
            now,
            tick_s=config.schedule.rate_minutes * 60.0,
        )
        decisions.append(result.decision)
        if result.recommendation is not None:
            recommendations[binding.key] = result.recommendation
    brokers = decide_brokers(snapshot.cluster, config.brokers, snapshot.state, snapshot.reassignments_in_progress, now)
    decisions.extend(brokers.decisions)
    storage = decide_storage(snapshot.cluster, config.storage, snapshot.state, now)
    if storage is not None:
        decisions.append(storage)
    return Plan(now, tuple(decisions), recommendations, brokers.low_load_since)
