"""What the advisor knows about a cluster's configuration: frozen values read through Kafka's admin API.

Configuration values are Kafka's own strings (as DescribeConfigs returns them); a key
that is absent was not returned, which the checks treat as unknown, never as a default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# Broker settings the checks read (effective values: set, dynamic or default).
BROKER_KEYS = (
    "auto.create.topics.enable",
    "num.partitions",
    "default.replication.factor",
    "min.insync.replicas",
    "num.replica.fetchers",
    "unclean.leader.election.enable",
    "num.io.threads",
    "num.network.threads",
)
# Topic settings the checks read.
TOPIC_KEYS = (
    "min.insync.replicas",
    "unclean.leader.election.enable",
    "retention.ms",
    "retention.bytes",
    "cleanup.policy",
)


@dataclass(frozen=True)
class BrokerFacts:
    broker_id: int
    configs: Mapping[str, str]


@dataclass(frozen=True)
class TopicFacts:
    name: str
    partitions: int
    replication_factor: int  # the smallest replica count over its partitions
    configs: Mapping[str, str]
    partition_bytes: Mapping[int, int] = field(default_factory=dict)  # leader replica size; empty: unknown


@dataclass(frozen=True)
class GroupFacts:
    group_id: str
    group_type: str  # "classic", "consumer" (the KIP-848 protocol), or "unknown"
    state: str
    assignor: str | None  # classic consumer groups: the assignor the members agreed on
    members: int | None


@dataclass(frozen=True)
class ClusterFacts:
    brokers: tuple[BrokerFacts, ...]
    topics: tuple[TopicFacts, ...]
    groups: tuple[GroupFacts, ...]
    replicas_per_broker: Mapping[int, int]  # leaders and followers, as MSK counts partitions per broker
    problems: tuple[str, ...] = ()  # what could not be read, in words

    def topic(self, name: str) -> TopicFacts | None:
        return next((t for t in self.topics if t.name == name), None)

    def group(self, group_id: str) -> GroupFacts | None:
        return next((g for g in self.groups if g.group_id == group_id), None)
