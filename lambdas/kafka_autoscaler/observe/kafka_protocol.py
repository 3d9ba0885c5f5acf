"""Group requests kafka-python 3.0.12 lacks, built from Kafka's own message definitions.

kafka-python 3 generates its requests from Kafka's JSON message definitions; the three
here are loaded the same way from `observe/messages/` (copied from kafka-clients 4.1.2):

- ConsumerGroupDescribe (API key 69, KIP-848): state, members and assignment of groups
  using the consumer protocol (`group.protocol=consumer`), which DescribeGroups does not show;
- ShareGroupDescribe (API key 77, KIP-932): state, members and assignment of share groups;
- DescribeShareGroupOffsets (API key 90, KIP-932): the share-partition start offset of
  each partition: below it every record is acknowledged, so the group's lag is the end
  offset minus it (as `kafka-share-groups --describe` reads it).

https://cwiki.apache.org/confluence/display/KAFKA/KIP-848%3A+The+Next+Generation+of+the+Consumer+Rebalance+Protocol
https://cwiki.apache.org/confluence/display/KAFKA/KIP-932%3A+Queues+for+Kafka

Each request goes to the groups' coordinator, found with FindCoordinator (key type GROUP:
share groups live in the group coordinator too). The admin client's connection manager
and coordinator lookup are used because kafka-python has no public way to send a request.
"""

from __future__ import annotations

import types
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from kafka.errors import for_code
from kafka.protocol.api_message import ApiMessage

MESSAGES = "kafka_autoscaler.observe.messages"
GROUP_ID_NOT_FOUND = 69  # Kafka's error code: the group does not exist (or is not of this type)
TP = tuple[str, int]
R = TypeVar("R")


def _message(name: str) -> Any:
    """The request or response class kafka-python builds from Kafka's definition `messages/<name>.json`."""
    return types.new_class(name, (ApiMessage,), {"load_json": MESSAGES}, lambda ns: ns.update(__module__=__name__))


ConsumerGroupDescribeRequest = _message("ConsumerGroupDescribeRequest")
ConsumerGroupDescribeResponse = _message("ConsumerGroupDescribeResponse")
ShareGroupDescribeRequest = _message("ShareGroupDescribeRequest")
ShareGroupDescribeResponse = _message("ShareGroupDescribeResponse")
DescribeShareGroupOffsetsRequest = _message("DescribeShareGroupOffsetsRequest")
DescribeShareGroupOffsetsResponse = _message("DescribeShareGroupOffsetsResponse")


@dataclass(frozen=True)
class DescribedGroup:
    """A KIP-848 consumer group or a share group as its coordinator describes it."""

    group_id: str
    state: str  # consumer: Empty, Assigning, Reconciling, Stable, Dead; share: Empty, Stable, Dead
    members: int
    owned: frozenset[TP]  # partitions assigned to a member now
    error: str | None = None  # None: described; else Kafka's error (GroupIdNotFoundError: no such group)
    not_found: bool = False


@dataclass(frozen=True)
class ShareOffsets:
    """Share-partition start offsets of one share group; partitions without share state are left out."""

    start: Mapping[TP, int]
    errors: Mapping[TP, str]
    error: str | None = None


class GroupRequests(Protocol):
    """The group reads beyond kafka-python's admin client (a fake in unit tests)."""

    def describe_consumer_groups(self, group_ids: Sequence[str]) -> dict[str, DescribedGroup]: ...

    def describe_share_groups(self, group_ids: Sequence[str]) -> dict[str, DescribedGroup]: ...

    def share_group_offsets(self, group_ids: Sequence[str]) -> dict[str, ShareOffsets]: ...


class AdminGroupRequests:
    """GroupRequests sent through a kafka-python 3 KafkaAdminClient's connections."""

    def __init__(self, admin: Any) -> None:
        self._admin = admin

    def describe_consumer_groups(self, group_ids: Sequence[str]) -> dict[str, DescribedGroup]:
        """ConsumerGroupDescribe of each group, one request per coordinator."""
        return _run(self._admin, _describe(ConsumerGroupDescribeRequest), group_ids)

    def describe_share_groups(self, group_ids: Sequence[str]) -> dict[str, DescribedGroup]:
        """ShareGroupDescribe of each group, one request per coordinator."""
        return _run(self._admin, _describe(ShareGroupDescribeRequest), group_ids)

    def share_group_offsets(self, group_ids: Sequence[str]) -> dict[str, ShareOffsets]:
        """DescribeShareGroupOffsets of every topic-partition of each group, one request per coordinator."""
        return _run(self._admin, _share_offsets, group_ids)


PerNode = Callable[[Any, int, list[str]], Awaitable[dict[str, R]]]


def _run(admin: Any, call: PerNode[R], group_ids: Sequence[str]) -> dict[str, R]:
    if not group_ids:
        return {}
    results: dict[str, R] = admin._manager.run(_per_coordinator, admin, call, list(group_ids))
    return results


async def _per_coordinator(admin: Any, call: PerNode[R], group_ids: list[str]) -> dict[str, R]:
    coordinators = await admin._find_coordinator_ids(group_ids)
    by_node: dict[int, list[str]] = defaultdict(list)
    for group_id, node_id in coordinators.items():
        by_node[node_id].append(group_id)
    results: dict[str, R] = {}
    for node_id, ids in by_node.items():
        results.update(await call(admin, node_id, ids))
    return results


def _describe(request_class: Any) -> PerNode[DescribedGroup]:
    async def call(admin: Any, node_id: int, ids: list[str]) -> dict[str, DescribedGroup]:
        request = request_class(group_ids=ids, include_authorized_operations=False)
        response = await admin._manager.send(request, node_id=node_id)
        return {group.group_id: _described(group) for group in response.groups}

    return call


def _described(group: Any) -> DescribedGroup:
    owned = frozenset(
        (row.topic_name, int(p))
        for member in group.members
        for row in member.assignment.topic_partitions
        for p in row.partitions
    )
    error = None
    if group.error_code:
        error = f"{for_code(group.error_code).__name__}: {group.error_message or ''}".rstrip(": ")
    return DescribedGroup(
        group_id=group.group_id,
        state=group.group_state or "Unknown",
        members=len(group.members),
        owned=owned,
        error=error,
        not_found=group.error_code == GROUP_ID_NOT_FOUND,
    )


async def _share_offsets(admin: Any, node_id: int, ids: list[str]) -> dict[str, ShareOffsets]:
    request = DescribeShareGroupOffsetsRequest(
        groups=[
            DescribeShareGroupOffsetsRequest.DescribeShareGroupOffsetsRequestGroup(group_id=g, topics=None) for g in ids
        ]
    )
    response = await admin._manager.send(request, node_id=node_id)
    results: dict[str, ShareOffsets] = {}
    for group in response.groups:
        start: dict[TP, int] = {}
        errors: dict[TP, str] = {}
        for topic in group.topics:
            for partition in topic.partitions:
                tp = (topic.topic_name, int(partition.partition_index))
                if partition.error_code:
                    errors[tp] = for_code(partition.error_code).__name__
                elif partition.start_offset >= 0:  # -1: no share state yet
                    start[tp] = int(partition.start_offset)
        error = for_code(group.error_code).__name__ if group.error_code else None
        results[group.group_id] = ShareOffsets(start, errors, error)
    return results
