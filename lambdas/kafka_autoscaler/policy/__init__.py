"""Pure decisions: `decide(snapshot, config, now) -> Plan`.

Nothing in this package may import boto3 or kafka, read the clock or the environment;
tests/unit/test_policy_purity.py fails if it does.
"""

from __future__ import annotations

from kafka_autoscaler.advice.decide import advice_decisions
from kafka_autoscaler.config import AutoscalerConfig
from kafka_autoscaler.model import Decision, Plan, Snapshot, Target
from kafka_autoscaler.policy.broker_type import decide_broker_type
from kafka_autoscaler.policy.brokers import decide_brokers
from kafka_autoscaler.policy.consumers import decide_consumers
from kafka_autoscaler.policy.failures import with_backoff
from kafka_autoscaler.policy.msk_changes import one_msk_change
from kafka_autoscaler.policy.ownership import owned_decision
from kafka_autoscaler.policy.partitions import decide_partitions
from kafka_autoscaler.policy.storage import decide_storage


def decide(snapshot: Snapshot, config: AutoscalerConfig, now: float) -> Plan:
    """Every decision for one tick, from what was observed.

    Then the runtime's rules over all of them: who owns each desired count, one MSK change at
    a time, and a back-off after a failed change.
    """
    decisions: list[Decision] = []
    recommendations: dict[str, int] = {}
    for binding in config.consumers:
        service = snapshot.services.get(binding.group_id)
        result = decide_consumers(
            binding,
            snapshot.groups.get(binding.group_id),
            service,
            snapshot.state,
            now,
            tick_s=config.schedule.rate_minutes * 60.0,
            missing_reason=snapshot.lag_missing.get(binding.group_id),
        )
        decisions.append(owned_decision(binding, result.decision, service, snapshot.state, now))
        if result.recommendation is not None:
            recommendations[binding.key] = result.recommendation
    brokers = decide_brokers(
        snapshot.cluster,
        config.brokers,
        snapshot.state,
        snapshot.reassignments_in_progress,
        now,
        replicas=snapshot.broker_replicas,
    )
    decisions.extend(brokers.decisions)
    storage = decide_storage(snapshot.cluster, config.storage, snapshot.state, now)
    if storage is not None:
        decisions.append(storage)
    consumer_decisions = {d.key: d for d in decisions if d.target is Target.CONSUMERS}
    for binding in config.consumers:
        consumer = consumer_decisions.get(binding.key)
        group = snapshot.groups.get(binding.group_id)
        partitions = None if consumer is None else decide_partitions(binding, group, consumer, config.partitions)
        if partitions is not None:
            decisions.append(partitions)
    broker_type = decide_broker_type(snapshot.cluster, config.brokers, snapshot.state, brokers.decisions, now)
    if broker_type.decision is not None:
        decisions.append(broker_type.decision)
    decisions.extend(advice_decisions(snapshot, config))
    # Why last: every MSK change (brokers, storage, broker type) waits out its back-off, then at most one is sent.
    ruled = one_msk_change([with_backoff(d, snapshot.state, now) for d in decisions], snapshot.cluster, snapshot.state)
    return Plan(
        now,
        ruled,
        recommendations,
        brokers.low_load_since,
        broker_type.low_since,
        advice_judged=snapshot.facts is not None,
    )
