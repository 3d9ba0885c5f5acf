"""Read the advisor's facts through Kafka's admin API (kafka-python's KafkaAdminClient).

DescribeCluster (brokers), DescribeConfigs (brokers and topics), Metadata (partitions and
replicas), DescribeLogDirs (partition sizes), ListGroups and DescribeGroups (group type,
assignor, members). Under MSK IAM access control: kafka-cluster:DescribeCluster,
DescribeClusterDynamicConfiguration, DescribeTopic, DescribeTopicDynamicConfiguration and
DescribeGroup. A part that cannot be read is left out and named in `problems`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kafka.admin import ConfigResource, ConfigResourceType
from kafka.errors import KafkaError

from kafka_autoscaler.advice.facts import BROKER_KEYS, TOPIC_KEYS, BrokerFacts, ClusterFacts, GroupFacts, TopicFacts
from kafka_autoscaler.local.adapters import is_internal, parse_log_dirs, parse_topics

READ_ERRORS = (KafkaError, OSError)
# Topics per DescribeConfigs request: one request for thousands of topics is a very large answer.
CONFIG_BATCH = 200
REBALANCING = frozenset({"PreparingRebalance", "CompletingRebalance"})


def _values(described: Mapping[str, Any], kind: str) -> dict[str, dict[str, str]]:
    """{resource name: {key: value}} from a describe_configs answer; keys without a value are left out."""
    return {
        name: {key: str(entry["value"]) for key, entry in configs.items() if entry.get("value") is not None}
        for name, configs in described.get(kind, {}).items()
    }


class KafkaFactsReader:
    """ports.FactsSource over a KafkaAdminClient passed in by the caller.

    While a classic group rebalances, DescribeGroups names no protocol; the reader then reports
    the assignor it saw last for that group (the members cannot change it without rejoining,
    which ends the rebalance), so a scale step does not make the advice come and go.
    """

    def __init__(self, admin: Any) -> None:
        self._admin = admin
        self._assignors: dict[str, str] = {}

    def read(self, group_ids: Sequence[str] | None) -> ClusterFacts:
        problems: list[str] = []
        brokers = self._brokers(problems)
        topics, replicas = self._topics(problems)
        groups = self._groups(group_ids, problems)
        return ClusterFacts(brokers, topics, groups, replicas, tuple(problems))

    def _configs(
        self, kind: ConfigResourceType, names: Sequence[str], keys: Sequence[str]
    ) -> dict[str, dict[str, str]]:
        found: dict[str, dict[str, str]] = {}
        for start in range(0, len(names), CONFIG_BATCH):
            resources = [
                ConfigResource(kind, name, configs=dict.fromkeys(keys)) for name in names[start : start + CONFIG_BATCH]
            ]
            found.update(_values(self._admin.describe_configs(resources, config_filter="all"), kind.name.lower()))
        return found

    def _brokers(self, problems: list[str]) -> tuple[BrokerFacts, ...]:
        try:
            ids = sorted(int(b["broker_id"]) for b in self._admin.describe_cluster()["brokers"])
            configs = self._configs(ConfigResourceType.BROKER, [str(i) for i in ids], BROKER_KEYS)
        except READ_ERRORS as error:
            problems.append(f"broker configuration could not be read: {error}")
            return ()
        return tuple(BrokerFacts(i, configs.get(str(i), {})) for i in ids)

    def _topics(self, problems: list[str]) -> tuple[tuple[TopicFacts, ...], dict[int, int]]:
        try:
            described = [t for t in self._admin.describe_topics() if not t.get("error_code")]
        except READ_ERRORS as error:
            problems.append(f"topics could not be described: {error}")
            return (), {}
        replicas = dict(parse_topics(described).replicas)
        client = sorted((t for t in described if not is_internal(t["name"])), key=lambda t: t["name"])
        try:
            configs = self._configs(ConfigResourceType.TOPIC, [t["name"] for t in client], TOPIC_KEYS)
        except READ_ERRORS as error:
            problems.append(f"topic configuration could not be read: {error}")
            configs = {}
        sizes = self._leader_sizes(described, problems)
        topics = tuple(
            TopicFacts(
                name=t["name"],
                partitions=len(t["partitions"]),
                replication_factor=min((len(p["replica_nodes"]) for p in t["partitions"]), default=0),
                configs=configs.get(t["name"], {}),
                partition_bytes=sizes.get(t["name"], {}),
            )
            for t in client
        )
        return topics, replicas

    def _leader_sizes(self, described: Sequence[Mapping[str, Any]], problems: list[str]) -> dict[str, dict[int, int]]:
        """Bytes of each partition's leader replica, by topic; empty when DescribeLogDirs fails."""
        try:
            log_dirs = parse_log_dirs(self._admin.describe_log_dirs())
        except READ_ERRORS as error:
            problems.append(f"partition sizes could not be read: {error}")
            return {}
        leaders = parse_topics(described).leaders
        sizes: dict[str, dict[int, int]] = {}
        for (topic, partition), leader in leaders.items():
            size = log_dirs.sizes.get(leader, {}).get((topic, partition))
            if size is not None:
                sizes.setdefault(topic, {})[partition] = size
        return sizes

    def _groups(self, group_ids: Sequence[str] | None, problems: list[str]) -> tuple[GroupFacts, ...]:
        try:
            listed = {g["group_id"]: g for g in self._admin.list_groups() if g.get("protocol_type") == "consumer"}
        except READ_ERRORS as error:
            problems.append(f"consumer groups could not be listed: {error}")
            return ()
        wanted = sorted(listed) if group_ids is None else [g for g in group_ids if g in listed]
        classic = [g for g in wanted if listed[g].get("group_type", "classic") == "classic"]
        described: dict[str, Any] = {}
        if classic:
            try:
                described = dict(self._admin.describe_groups(classic))
            except READ_ERRORS as error:
                problems.append(f"consumer groups could not be described: {error}")
        facts: list[GroupFacts] = []
        for group_id in wanted:
            entry = listed[group_id]
            group_type = str(entry.get("group_type") or "unknown")
            detail = described.get(group_id, {})
            members = detail.get("members")
            assignor = str(detail["protocol_data"]) if detail.get("protocol_data") else None
            if assignor is not None:
                self._assignors[group_id] = assignor
            elif detail.get("group_state") in REBALANCING:
                assignor = self._assignors.get(group_id)
            facts.append(
                GroupFacts(
                    group_id=group_id,
                    group_type=group_type,
                    state=str(detail.get("group_state") or entry.get("group_state") or "Unknown"),
                    assignor=assignor,
                    members=len(members) if isinstance(members, list) else None,
                )
            )
        return tuple(facts)
