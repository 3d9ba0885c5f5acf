"""Consumer lag read from Kafka with kafka-python's admin client.

One read costs a fixed number of requests whatever the partition count: one Metadata
for the topics, one FindCoordinator for the groups, one DescribeGroups and one
OffsetFetch per coordinator (plus one ConsumerGroupDescribe per coordinator for groups of
the KIP-848 consumer protocol, and ShareGroupDescribe with DescribeShareGroupOffsets for
share groups), and ListOffsets batched per leader broker (its own Metadata first) for the
end offsets, plus once more for log-start offsets when some partition has no committed
offset. What could not be seen (a topic not described, a partition without a leader, a
group with no member and no commit) is passed on as such: `build_observation` makes it
missing data, never lag 0.

Lag per partition, compared with `kafka-consumer-groups --describe` (its LAG column is
log-end offset minus committed offset):
- committed offset known: end - committed, as Kafka's tool, also when retention has
  deleted records below the committed offset; never negative (Kafka's tool can print a
  negative lag when the log was truncated below the commit);
- no committed offset (Kafka's tool prints "-"): end - log start, the backlog a consumer
  with auto.offset.reset=earliest would read. It errs towards more tasks, never fewer.
- share groups: end - share-partition start offset (DescribeShareGroupOffsets), the
  records not yet acknowledged, as `kafka-share-groups --describe` computes its LAG.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from kafka.admin import OffsetSpec
from kafka.errors import BrokerResponseError, KafkaError, for_code
from kafka.structs import TopicPartition

from kafka_autoscaler.config import ConsumerBinding, GroupType
from kafka_autoscaler.lag.observation import TP, GroupOffsets, OffsetsRead, build_observation
from kafka_autoscaler.lag.timelag import RATE_WINDOW_S
from kafka_autoscaler.model import ScalerState
from kafka_autoscaler.observe.kafka_protocol import AdminGroupRequests, DescribedGroup, GroupRequests
from kafka_autoscaler.ports import LagObservation

logger = logging.getLogger(__name__)

T = TypeVar("T")
READ_ERRORS = (KafkaError, OSError)
DEAD = "Dead"  # Kafka's state of a group it does not know


@dataclass
class _Problems:
    lines: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        logger.warning("lag read: %s", line)
        self.lines.append(line)


class KafkaLagSource:
    """ports.LagSource over a kafka-python 3 KafkaAdminClient passed in by the caller."""

    def __init__(self, admin: Any, rate_window_s: float = RATE_WINDOW_S, requests: GroupRequests | None = None) -> None:
        self._admin = admin
        self._rate_window_s = rate_window_s  # produce and consume rates average over this long
        self._requests = requests or AdminGroupRequests(admin)  # KIP-848 and share group reads

    def read(self, bindings: Sequence[ConsumerBinding], state: ScalerState, now: float) -> LagObservation:
        """Lag per bound group; a group that cannot be read is left out and named in `problems`."""
        share = {b.group_id for b in bindings if b.group_type is GroupType.SHARE}
        fetched = self.fetch({b.group_id: tuple(b.topics) for b in bindings}, share)
        return build_observation(fetched, state, now, self._rate_window_s)

    def fetch(self, groups: Mapping[str, Sequence[str]], share: Collection[str] = frozenset()) -> OffsetsRead:
        """Offsets of the groups (group id -> bound topics; none bound: every topic it commits to).

        Groups in `share` are share groups (KIP-932); the others consumer groups, classic or KIP-848.
        """
        problems = _Problems()
        if not groups:
            return OffsetsRead({}, {}, {}, {}, {})
        try:
            return self._fetch(groups, set(share), problems)
        except READ_ERRORS as error:
            forget_coordinators(self._admin, groups)
            problems.add(f"Kafka could not be read: {error}")
            return OffsetsRead({}, {}, {}, {}, {}, tuple(problems.lines))

    def _fetch(self, wanted: Mapping[str, Sequence[str]], share: set[str], problems: _Problems) -> OffsetsRead:
        groups = {
            **self._consumer_groups([g for g in wanted if g not in share], problems),
            **self._share_groups([g for g in wanted if g in share], problems),
        }
        topics = {g: tuple(wanted[g]) or _topics_of(groups[g]) for g in groups}
        partitions, leaderless, topic_errors = self._partitions(sorted({t for ts in topics.values() for t in ts}))
        judged = {(t, p) for g in groups for t in topics[g] for p in partitions.get(t, ())} - leaderless
        end = self._offsets(judged, OffsetSpec.LATEST)
        uncommitted = {tp for tp in judged if any(tp[0] in topics[g] and tp not in groups[g].committed for g in groups)}
        start = self._offsets(uncommitted, OffsetSpec.EARLIEST)
        return OffsetsRead(
            groups=groups,
            topics=topics,
            partitions=partitions,
            end=end,
            start=start,
            problems=tuple(problems.lines),
            topic_errors=topic_errors,
            leaderless=frozenset(leaderless),
        )

    def _consumer_groups(self, ids: list[str], problems: _Problems) -> dict[str, GroupOffsets]:
        """Classic groups from DescribeGroups, KIP-848 groups from ConsumerGroupDescribe; offsets from OffsetFetch."""
        if not ids:
            return {}
        described = self._per_group(self._admin.describe_groups, ids, "could not be described", problems)
        committed = self._per_group(self._admin.list_group_offsets, ids, "offsets could not be fetched", problems)
        # Why: DescribeGroups does not describe a group of the consumer protocol (KIP-848); it
        # answers Dead or "not a classic group", and ConsumerGroupDescribe has its state and members.
        unclassic = [g for g in ids if g in described and _not_classic(described[g])]
        modern, listed = self._describe_modern(unclassic, problems)
        groups: dict[str, GroupOffsets] = {}
        for group_id in ids:
            if group_id not in described or group_id not in committed:
                continue
            offsets = {
                (tp.topic, tp.partition): int(o.offset) for tp, o in committed[group_id].items() if o.offset >= 0
            }
            found = modern.get(group_id)
            if found is not None and not found.not_found:
                groups[group_id] = GroupOffsets(group_id, found.state, found.members, found.owned, offsets)
            elif (classic := _classic_offsets(group_id, described[group_id], offsets, problems)) is not None:
                groups[group_id] = replace(classic, state=listed.get(group_id) or classic.state)
        return groups

    def _describe_modern(self, ids: list[str], problems: _Problems) -> tuple[dict[str, DescribedGroup], dict[str, str]]:
        """ConsumerGroupDescribe of the groups; where the broker has no such request, their ListGroups states."""
        if not ids:
            return {}, {}
        try:
            found = self._requests.describe_consumer_groups(ids)
        except KafkaError as error:  # a broker before Kafka 4.0 has no ConsumerGroupDescribe
            logger.info("ConsumerGroupDescribe not answered (%s); states of %s from ListGroups", error, ids)
            return {}, self._listed_states(ids)
        for group_id, group in found.items():
            if group.error and not group.not_found:
                problems.add(f"group {group_id} could not be described: {group.error}")
        return {g: d for g, d in found.items() if not d.error or d.not_found}, {}

    def _listed_states(self, ids: list[str]) -> dict[str, str]:
        """The state ListGroups (v4+) reports for each group: all there is of a group nothing else describes."""
        try:
            listed = self._admin.list_groups()
        except KafkaError as error:
            logger.info("ListGroups not answered (%s)", error)
            return {}
        wanted = set(ids)
        return {
            g["group_id"]: str(g["group_state"]) for g in listed if g["group_id"] in wanted and g.get("group_state")
        }

    def _share_groups(self, ids: list[str], problems: _Problems) -> dict[str, GroupOffsets]:
        """Share groups: ShareGroupDescribe for state and members, DescribeShareGroupOffsets for start offsets."""
        if not ids:
            return {}
        try:
            described = self._requests.describe_share_groups(ids)
            offsets = self._requests.share_group_offsets(ids)
        except KafkaError as error:  # before Kafka 4.1 (or share.version 0) a broker has no share groups
            problems.add(f"share groups {', '.join(ids)} could not be read: {error}")
            return {}
        groups: dict[str, GroupOffsets] = {}
        for group_id in ids:
            group, read = described.get(group_id), offsets.get(group_id)
            if group is None or (group.error and not group.not_found):
                problems.add(f"share group {group_id} could not be described: {group.error if group else 'no answer'}")
                continue
            if group.not_found:
                groups[group_id] = GroupOffsets(group_id, DEAD, 0, frozenset(), {}, GroupType.SHARE.value)
                continue
            if read is None or read.error or read.errors:
                reason = (
                    read.error or ", ".join(f"{t}[{p}] {e}" for (t, p), e in sorted(read.errors.items()))
                    if read
                    else "no answer"
                )
                problems.add(f"share group {group_id}: start offsets could not be read: {reason}")
                continue
            groups[group_id] = GroupOffsets(
                group_id, group.state, group.members, group.owned, dict(read.start), GroupType.SHARE.value
            )
        return groups

    def _per_group(
        self, call: Callable[[list[str]], Mapping[str, T]], ids: list[str], failed: str, problems: _Problems
    ) -> dict[str, T]:
        """One batched call; when the broker refuses it, one call per group to find which fail.

        Without an answer from the broker at all (unreachable, timed out) the error is raised.
        """
        try:
            return dict(call(ids))
        except BrokerResponseError:
            forget_coordinators(self._admin, ids)
        results: dict[str, T] = {}
        for group_id in ids:
            try:
                results.update(call([group_id]))
            except BrokerResponseError as error:
                problems.add(f"group {group_id} {failed}: {error}")
        return results

    def _partitions(self, topics: list[str]) -> tuple[dict[str, tuple[int, ...]], set[TP], dict[str, str]]:
        """Partition ids per described topic, the partitions without a leader, and why the others failed."""
        if not topics:
            return {}, set(), {}
        partitions: dict[str, tuple[int, ...]] = {}
        leaderless: set[TP] = set()
        errors: dict[str, str] = {}
        for topic in self._admin.describe_topics(topics):
            if topic["error_code"]:
                errors[topic["name"]] = for_code(topic["error_code"]).__name__
                continue
            rows = topic["partitions"]
            partitions[topic["name"]] = tuple(sorted(p["partition_index"] for p in rows))
            leaderless.update((topic["name"], p["partition_index"]) for p in rows if p["leader_id"] < 0)
        return partitions, leaderless, errors

    def _offsets(self, tps: Iterable[TP], spec: OffsetSpec) -> dict[TP, int]:
        specs = {TopicPartition(t, p): spec for t, p in tps}
        if not specs:
            return {}
        found = self._admin.list_partition_offsets(specs)
        return {(tp.topic, tp.partition): int(result.offset) for tp, result in found.items()}


def forget_coordinators(admin: Any, group_ids: Iterable[str]) -> None:
    """Drop the admin client's cached coordinators of these groups.

    kafka-python 3.0.12's admin client keeps a group's coordinator for its whole life and
    never drops one that moved (a broker stopped or scaled in); a warm Lambda would then
    fail every read. Forgetting them makes the next read ask FindCoordinator again.
    """
    cache = getattr(getattr(getattr(admin, "_manager", None), "cluster", None), "_coordinators", None)
    if isinstance(cache, dict):
        wanted = set(group_ids)
        for key in [k for k in cache if isinstance(k, tuple) and len(k) == 2 and k[1] in wanted]:
            cache.pop(key, None)


def _not_classic(description: Mapping[str, Any]) -> bool:
    return bool(description.get("error")) or str(description.get("group_state")) == DEAD


def _classic_offsets(
    group_id: str, description: Mapping[str, Any], offsets: Mapping[TP, int], problems: _Problems
) -> GroupOffsets | None:
    state = str(description.get("group_state") or "Unknown")
    if description.get("error") and state != DEAD:
        problems.add(f"group {group_id} could not be described: {description['error']}")
        return None
    members = description.get("members") or []
    if state == DEAD and offsets:
        # Committed offsets but not described: a KIP-848 group on a broker that cannot describe it.
        return GroupOffsets(group_id, "Unknown", None, frozenset(), offsets)
    owned = frozenset(
        (row["topic"], int(p))
        for member in members
        if isinstance(assignment := member.get("member_assignment"), Mapping)
        for row in assignment.get("assigned_partitions", ())
        for p in row["partitions"]
    )
    return GroupOffsets(group_id, state, len(members), owned, offsets)


def _topics_of(group: GroupOffsets) -> tuple[str, ...]:
    """Every topic the group commits to or has assigned to a member."""
    return tuple(sorted({t for t, _ in group.committed} | {t for t, _ in group.owned}))
