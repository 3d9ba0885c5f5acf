"""The facts reader over an admin client's answers (shapes as kafka-python 3.0.12 returns them from Kafka 4.1)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kafka.errors import KafkaConnectionError
from kafka_autoscaler.advice.reader import KafkaFactsReader


def config_entry(value: str) -> dict[str, Any]:
    return {"value": value, "read_only": False, "config_source": "DEFAULT_CONFIG", "is_sensitive": False}


@dataclass
class FakeAdmin:
    group_answers: list[dict[str, Any]]
    fail_configs: bool = False
    asked_groups: list[list[str]] = field(default_factory=list)

    def describe_cluster(self) -> dict[str, Any]:
        return {"brokers": [{"broker_id": 2, "rack": "az-2"}, {"broker_id": 1, "rack": "az-1"}]}

    def describe_configs(self, resources: list[Any], config_filter: str) -> dict[str, Any]:
        assert config_filter == "all"
        if self.fail_configs:
            raise KafkaConnectionError("broker went away")
        kind = resources[0].resource_type.name.lower()
        return {kind: {r.name: {key: config_entry("1") for key in r.configs} for r in resources}}

    def describe_topics(self) -> list[dict[str, Any]]:
        def partition(index: int, replicas: list[int]) -> dict[str, Any]:
            return {"error_code": 0, "partition_index": index, "leader_id": replicas[0], "replica_nodes": replicas}

        return [
            {"error_code": 0, "name": "orders", "partitions": [partition(0, [1, 2]), partition(1, [2, 1])]},
            {"error_code": 0, "name": "__consumer_offsets", "partitions": [partition(0, [1, 2])]},
        ]

    def describe_log_dirs(self) -> list[dict[str, Any]]:
        def log_dir(sizes: dict[int, int]) -> dict[str, Any]:
            partitions = [{"partition_index": p, "partition_size": s} for p, s in sizes.items()]
            return {"error_code": 0, "topics": [{"name": "orders", "partitions": partitions}]}

        return [
            {"broker": 1, "log_dirs": [log_dir({0: 500, 1: 490})]},
            {"broker": 2, "log_dirs": [log_dir({0: 480, 1: 90})]},
        ]

    def list_groups(self) -> list[dict[str, Any]]:
        return [
            {"group_id": "g", "protocol_type": "consumer", "group_state": "Stable", "group_type": "classic"},
            {"group_id": "new", "protocol_type": "consumer", "group_state": "Stable", "group_type": "consumer"},
            {"group_id": "connect", "protocol_type": "connect", "group_state": "Stable", "group_type": "classic"},
        ]

    def describe_groups(self, group_ids: list[str]) -> dict[str, Any]:
        self.asked_groups.append(group_ids)
        return {"g": self.group_answers.pop(0)}


def group(state: str, protocol: str, members: int = 2) -> dict[str, Any]:
    return {"group_state": state, "protocol_data": protocol, "members": [{}] * members, "error": None}


def test_facts_from_the_admin_answers() -> None:
    facts = KafkaFactsReader(FakeAdmin([group("Stable", "range")])).read(None)
    assert [b.broker_id for b in facts.brokers] == [1, 2]
    assert facts.brokers[0].configs["num.partitions"] == "1"
    (orders,) = facts.topics  # internal topics are not advised on
    assert (orders.partitions, orders.replication_factor) == (2, 2)
    assert orders.partition_bytes == {0: 500, 1: 90}  # the leader's replica: 0 on broker 1, 1 on broker 2
    assert facts.replicas_per_broker == {1: 3, 2: 3}  # internal topics count: they take a broker's resources
    assert [(g.group_id, g.group_type, g.assignor, g.members) for g in facts.groups] == [
        ("g", "classic", "range", 2),
        ("new", "consumer", None, None),  # KIP-848 groups are not described through DescribeGroups
    ]


def test_a_rebalance_keeps_the_assignor_seen_last() -> None:
    admin = FakeAdmin(
        [group("Stable", "range"), group("PreparingRebalance", ""), group("Stable", "cooperative-sticky")]
    )
    reader = KafkaFactsReader(admin)
    assert [reader.read(["g"]).groups[0].assignor for _ in range(3)] == ["range", "range", "cooperative-sticky"]
    assert admin.asked_groups == [["g"]] * 3


def test_a_part_that_fails_is_a_problem_not_an_error() -> None:
    facts = KafkaFactsReader(FakeAdmin([group("Stable", "range")], fail_configs=True)).read(None)
    assert facts.brokers == ()
    assert [t.configs for t in facts.topics] == [{}]  # topics still known, their settings not
    assert facts.problems == (
        "broker configuration could not be read: KafkaConnectionError: broker went away",
        "topic configuration could not be read: KafkaConnectionError: broker went away",
    )
