"""Replication throttle for partition moves: set before the copies start, removed after.

As kafka-reassign-partitions does it: a rate on the brokers (dynamic broker configs)
and, per topic, which replicas it applies to: the current replicas of a moving
partition lead (send), its new replicas follow (receive). The rebalancer owns these
four settings: clearing removes them wherever they are set.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from kafka.admin import AlterConfigOp, ConfigResource, ConfigResourceType

from kafka_autoscaler.rebalance.layout import KafkaAdmin
from kafka_autoscaler.rebalance.placement import Move

LEADER_RATE = "leader.replication.throttled.rate"
FOLLOWER_RATE = "follower.replication.throttled.rate"
LEADER_REPLICAS = "leader.replication.throttled.replicas"
FOLLOWER_REPLICAS = "follower.replication.throttled.replicas"


class ThrottleError(Exception):
    """Kafka refused a throttle setting; the message lists each resource and why."""


def throttled_replicas(moves: Iterable[Move]) -> dict[str, tuple[str, str]]:
    """Per topic, the leader and follower lists (``partition:broker,...``) of the moves that copy data."""
    leaders: dict[str, list[str]] = defaultdict(list)
    followers: dict[str, list[str]] = defaultdict(list)
    for move in moves:
        if move.copies_data:
            leaders[move.topic] += [f"{move.partition}:{b}" for b in move.current]
            followers[move.topic] += [f"{move.partition}:{b}" for b in move.adding]
    return {topic: (_joined(leaders[topic]), _joined(followers[topic])) for topic in sorted(leaders)}


def _joined(entries: list[str]) -> str:
    return ",".join(dict.fromkeys(entries))  # a partition moved twice (resumed, then again) is listed once


class ReplicationThrottle:
    """Sets and clears the throttle through incremental AlterConfigs."""

    def __init__(self, admin: KafkaAdmin) -> None:
        self._admin = admin

    def apply(self, moves: Sequence[Move], brokers: Iterable[int], bytes_per_s: int) -> bool:
        """Throttle the replicas these moves copy; False when none copies data (nothing set)."""
        per_topic = throttled_replicas(moves)
        if not per_topic:
            return False
        rate = str(bytes_per_s)
        resources = [
            ConfigResource(ConfigResourceType.BROKER, str(b), {LEADER_RATE: rate, FOLLOWER_RATE: rate})
            for b in sorted(set(brokers))
        ]
        resources += [
            ConfigResource(ConfigResourceType.TOPIC, topic, {LEADER_REPLICAS: leaders, FOLLOWER_REPLICAS: followers})
            for topic, (leaders, followers) in per_topic.items()
        ]
        self._alter(resources, "setting the replication throttle")
        return True

    def clear(self, brokers: Iterable[int], topics: Iterable[str]) -> list[str]:
        """Remove the rates from ``brokers`` and the replica lists from those ``topics`` that have them."""
        delete = (AlterConfigOp.DELETE, None)
        resources = [
            ConfigResource(ConfigResourceType.BROKER, str(b), {LEADER_RATE: delete, FOLLOWER_RATE: delete})
            for b in sorted(set(brokers))
        ]
        throttled = self.throttled_topics(topics)
        resources += [
            ConfigResource(ConfigResourceType.TOPIC, topic, dict.fromkeys(keys, delete))
            for topic, keys in throttled.items()
        ]
        if resources:
            self._alter(resources, "removing the replication throttle")
        return sorted(throttled)

    def throttled_topics(self, topics: Iterable[str]) -> dict[str, list[str]]:
        """Topics with a throttled-replicas setting, and which of the two keys each has."""
        names = sorted(set(topics))
        if not names:
            return {}
        keys = [LEADER_REPLICAS, FOLLOWER_REPLICAS]
        described = self._admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t, keys) for t in names])
        found: dict[str, list[str]] = {}
        for topic, configs in described.get("topic", {}).items():
            present = [k for k in keys if k in configs and configs[k].get("value")]
            if present:
                found[topic] = present
        return found

    def _alter(self, resources: list[ConfigResource], what: str) -> None:
        # raise_on_unknown=False: the broker does not list throttle rates among its dynamic configs.
        results = self._admin.alter_configs(resources, raise_on_unknown=False)
        problems = [
            f"{kind} {name}: {result}"
            for kind, by_name in results.items()
            for name, result in by_name.items()
            if result != "OK"
        ]
        if problems:
            raise ThrottleError(f"{what} failed: " + "; ".join(problems))
