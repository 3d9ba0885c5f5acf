"""Missing is missing: what a lag read could not see is left out with its cause, never lag 0."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from kafka.errors import IncompatibleBrokerVersion
from kafka.structs import OffsetAndMetadata, OffsetAndTimestamp, TopicPartition
from kafka_autoscaler.config import ConsumerBinding, EcsService, GroupType
from kafka_autoscaler.lag.observation import GroupOffsets, OffsetsRead, build_observation, missing_reason
from kafka_autoscaler.model import ScalerState
from kafka_autoscaler.observe.kafka_lag import KafkaLagSource
from kafka_autoscaler.observe.kafka_protocol import DescribedGroup, ShareOffsets

NOW = 1000.0
TOPIC = "orders"
ALL = frozenset({(TOPIC, 0), (TOPIC, 1)})


def _read(group: GroupOffsets, **changes: Any) -> OffsetsRead:
    read = OffsetsRead(
        groups={group.group_id: group},
        topics={group.group_id: (TOPIC,)},
        partitions={TOPIC: (0, 1)},
        end={(TOPIC, 0): 100, (TOPIC, 1): 100},
        start={(TOPIC, 0): 0, (TOPIC, 1): 0},
    )
    return replace(read, **changes)


STABLE = GroupOffsets("g", "Stable", 2, ALL, {(TOPIC, 0): 40, (TOPIC, 1): 60})


@pytest.mark.parametrize(
    ("group", "changes", "cause"),
    [
        (STABLE, {}, None),
        (replace(STABLE, members=0, owned=frozenset()), {}, None),  # stopped consumers: the commits say where
        (replace(STABLE, committed={}), {}, None),  # members and no commit yet: read from the log start
        (STABLE, {"topic_errors": {TOPIC: "UnknownTopicOrPartitionError"}, "partitions": {}}, "could not be described"),
        (STABLE, {"partitions": {}}, "no partitions in the metadata"),
        (STABLE, {"leaderless": frozenset({(TOPIC, 1)})}, "no leader for orders[1]"),
        (STABLE, {"end": {(TOPIC, 0): 100}}, "no end offset for orders[1]"),
        (GroupOffsets("g", "Empty", 0, frozenset(), {}), {}, "has no members and no committed offsets"),
        (GroupOffsets("g", "Dead", 0, frozenset(), {}), {}, "does not exist"),
        (GroupOffsets("g", "Dead", 0, frozenset(), {}), {"topics": {"g": ()}}, "does not exist"),
        (GroupOffsets("g", "Stable", 1, frozenset(), {}), {"topics": {"g": ()}}, "no partition to judge"),
        (replace(STABLE, members=0, committed={("other", 0): 5}), {}, "has no members and no committed offsets"),
    ],
)
def test_missing_reason(group: GroupOffsets, changes: dict[str, Any], cause: str | None) -> None:
    reason = missing_reason(group, _read(group, **changes))
    assert (reason is None) == (cause is None), reason
    if cause is not None:
        assert reason is not None and cause in reason


def test_a_missing_group_is_left_out_with_its_cause_and_the_others_are_kept() -> None:
    typo = GroupOffsets("orders-procesor", "Dead", 0, frozenset(), {})
    read = _read(STABLE)
    read = replace(read, groups={"g": STABLE, typo.group_id: typo}, topics={"g": (TOPIC,), typo.group_id: (TOPIC,)})
    observed = build_observation(read, ScalerState(), NOW)
    assert set(observed.groups) == {"g"}
    assert observed.problems == (
        "group orders-procesor: lag unknown: group 'orders-procesor' does not exist (no members, no committed "
        "offsets): check group_id",
    )
    assert not any(key.startswith("orders-procesor|") for key in observed.commits)


class Admin:
    """kafka-python 3's admin client as far as the reader uses it; `topics` are the ones that exist."""

    def __init__(self, topics: dict[str, int], leaders: dict[tuple[str, int], int] | None = None) -> None:
        self.topics = topics
        self.leaders = leaders or {}
        self.listed: list[set[tuple[str, int]]] = []

    def describe_groups(self, ids: list[str]) -> dict[str, Any]:
        member = {"member_assignment": {"assigned_partitions": [{"topic": TOPIC, "partitions": [0, 1]}]}}
        return {g: {"group_state": "Stable", "error": None, "members": [member]} for g in ids}

    def list_group_offsets(self, specs: Any) -> dict[str, Any]:
        return {g: {TopicPartition(TOPIC, p): OffsetAndMetadata(5, "", -1) for p in range(2)} for g in specs}

    def describe_topics(self, topics: list[str]) -> list[dict[str, Any]]:
        return [
            {
                "name": t,
                "error_code": 0 if t in self.topics else 3,  # UNKNOWN_TOPIC_OR_PARTITION
                "partitions": [
                    {"partition_index": p, "leader_id": self.leaders.get((t, p), 1)}
                    for p in range(self.topics.get(t, 0))
                ],
            }
            for t in topics
        ]

    def list_partition_offsets(self, specs: dict[TopicPartition, Any]) -> dict[TopicPartition, Any]:
        self.listed.append({(tp.topic, tp.partition) for tp in specs})
        return {tp: OffsetAndTimestamp(50, -1, None) for tp in specs}


def _binding(group_id: str, *topics: str, group_type: GroupType = GroupType.CONSUMER) -> ConsumerBinding:
    return ConsumerBinding(
        group_id=group_id, topics=list(topics), ecs=EcsService(cluster="c", service=group_id), group_type=group_type
    )


def test_a_deleted_topic_makes_its_group_missing_not_lag_zero() -> None:
    admin = Admin({TOPIC: 2})
    observed = KafkaLagSource(admin).read([_binding("a", TOPIC), _binding("b", "gone")], ScalerState(), NOW)
    assert set(observed.groups) == {"a"}
    assert (
        "group b: lag unknown: topic 'gone' (UnknownTopicOrPartitionError) could not be described"
        in (observed.problems[0])
    )


def test_a_leaderless_partition_is_not_asked_for_offsets_and_its_group_is_missing() -> None:
    admin = Admin({TOPIC: 2}, leaders={(TOPIC, 1): -1})
    observed = KafkaLagSource(admin).read([_binding("a", TOPIC)], ScalerState(), NOW)
    assert observed.groups == {}
    assert "no leader for orders[1]" in observed.problems[0]
    assert all((TOPIC, 1) not in asked for asked in admin.listed)


class Requests:
    """ConsumerGroupDescribe, ShareGroupDescribe and DescribeShareGroupOffsets answers."""

    def __init__(self, modern: dict[str, DescribedGroup], share: dict[str, DescribedGroup]) -> None:
        self.modern, self.share = modern, share

    def describe_consumer_groups(self, ids: list[str]) -> dict[str, DescribedGroup]:
        return {g: self.modern.get(g, _not_found(g)) for g in ids}

    def describe_share_groups(self, ids: list[str]) -> dict[str, DescribedGroup]:
        return {g: self.share.get(g, _not_found(g)) for g in ids}

    def share_group_offsets(self, ids: list[str]) -> dict[str, ShareOffsets]:
        return {g: ShareOffsets({(TOPIC, 0): 20}, {}) for g in ids}


def _not_found(group_id: str) -> DescribedGroup:
    return DescribedGroup(group_id, "Dead", 0, frozenset(), "GroupIdNotFoundError", not_found=True)


class NewProtocolAdmin(Admin):
    def describe_groups(self, ids: list[str]) -> dict[str, Any]:
        return {g: {"group_state": "Dead", "error": None, "members": []} for g in ids}


def test_a_kip848_group_takes_state_members_and_assignment_from_consumer_group_describe() -> None:
    modern = {"new": DescribedGroup("new", "Stable", 2, frozenset({(TOPIC, 0), (TOPIC, 1)}))}
    source = KafkaLagSource(NewProtocolAdmin({TOPIC: 2}), requests=Requests(modern, {}))
    group = source.read([_binding("new")], ScalerState(), NOW).groups["new"]
    assert (group.state, group.members, group.group_type, group.partition_count) == ("Stable", 2, "consumer", 2)


def test_a_share_group_is_judged_from_its_start_offsets_and_a_missing_one_is_missing() -> None:
    share = {"queue": DescribedGroup("queue", "Stable", 5, frozenset({(TOPIC, 0)}))}
    source = KafkaLagSource(Admin({TOPIC: 2}), requests=Requests({}, share))
    bindings = [
        _binding("queue", TOPIC, group_type=GroupType.SHARE),
        _binding("nope", TOPIC, group_type=GroupType.SHARE),
    ]
    observed = source.read(bindings, ScalerState(), NOW)
    assert set(observed.groups) == {"queue"}
    group = observed.groups["queue"]
    assert (group.group_type, group.members, group.state) == ("share", 5, "Stable")
    # partition 0: end 50 - start offset 20; partition 1 has no share state: from the log start (50 - 50)
    assert [(p.partition, p.committed_offset, p.lag) for p in group.partitions] == [(0, 20, 30), (1, None, 0)]
    assert "group 'nope' does not exist" in observed.problems[0]


def test_a_broker_without_share_groups_leaves_only_the_share_bindings_out() -> None:
    class Old(Requests):
        def describe_share_groups(self, ids: list[str]) -> dict[str, DescribedGroup]:
            raise IncompatibleBrokerVersion("ShareGroupDescribe")

    source = KafkaLagSource(Admin({TOPIC: 2}), requests=Old({}, {}))
    observed = source.read([_binding("a", TOPIC), _binding("q", TOPIC, group_type=GroupType.SHARE)], ScalerState(), NOW)
    assert set(observed.groups) == {"a"}
    assert "share groups q could not be read" in observed.problems[0]
