"""Consumer lag read from Kafka with kafka-python's admin client.

One read costs a fixed number of requests whatever the partition count: one Metadata
for the topics, one FindCoordinator for the groups, one DescribeGroups and one
OffsetFetch per coordinator, and ListOffsets batched per leader broker (its own Metadata
first) for the end offsets, plus once more for log-start offsets when some partition
has no committed offset.

Lag per partition, compared with `kafka-consumer-groups --describe` (its LAG column is
log-end offset minus committed offset):
- committed offset known: end - committed, as Kafka's tool, also when retention has
  deleted records below the committed offset; never negative (Kafka's tool can print a
  negative lag when the log was truncated below the commit);
- no committed offset (Kafka's tool prints "-"): end - log start, the backlog a consumer
  with auto.offset.reset=earliest would read. It errs towards more tasks, never fewer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from kafka.admin import OffsetSpec
from kafka.errors import BrokerResponseError, KafkaError
from kafka.structs import TopicPartition

from kafka_autoscaler.config import ConsumerBinding
from kafka_autoscaler.lag.observation import TP, GroupOffsets, OffsetsRead, build_observation
from kafka_autoscaler.lag.timelag import RATE_WINDOW_S
from kafka_autoscaler.model import ScalerState
from kafka_autoscaler.ports import LagObservation

logger = logging.getLogger(__name__)

T = TypeVar("T")
READ_ERRORS = (KafkaError, OSError)
# Kafka reports a group it does not know as Dead; a group that committed offsets but is
# unknown to DescribeGroups uses the new consumer protocol (KIP-848), whose state and
# members that API does not show.
DEAD = "Dead"


@dataclass
class _Problems:
    lines: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        logger.warning("lag read: %s", line)
        self.lines.append(line)


class KafkaLagSource:
    """ports.LagSource over a kafka-python 3 KafkaAdminClient passed in by the caller."""

    def __init__(self, admin: Any, rate_window_s: float = RATE_WINDOW_S) -> None:
        self._admin = admin
        self._rate_window_s = rate_window_s  # produce and consume rates average over this long

    def read(self, bindings: Sequence[ConsumerBinding], state: ScalerState, now: float) -> LagObservation:
        """Lag per bound group; a group that cannot be read is left out and named in `problems`."""
        fetched = self.fetch({b.group_id: tuple(b.topics) for b in bindings})
        return build_observation(fetched, state, now, self._rate_window_s)

    def fetch(self, groups: Mapping[str, Sequence[str]]) -> OffsetsRead:
        """Offsets of the groups (group id -> bound topics; none bound: every topic it commits to)."""
        problems = _Problems()
        if not groups:
            return OffsetsRead({}, {}, {}, {}, {})
        try:
            return self._fetch(groups, problems)
        except READ_ERRORS as error:
            forget_coordinators(self._admin, groups)
            problems.add(f"Kafka could not be read: {error}")
            return OffsetsRead({}, {}, {}, {}, {}, tuple(problems.lines))

    def _fetch(self, wanted: Mapping[str, Sequence[str]], problems: _Problems) -> OffsetsRead:
        ids = list(wanted)
        described = self._per_group(self._admin.describe_groups, ids, "could not be described", problems)
        committed = self._per_group(self._admin.list_group_offsets, ids, "offsets could not be fetched", problems)
        groups: dict[str, GroupOffsets] = {}
        for group_id in ids:
            if group_id in described and group_id in committed:
                offsets = _group_offsets(group_id, described[group_id], committed[group_id], problems)
                if offsets is not None:
                    groups[group_id] = offsets
        topics = {g: tuple(wanted[g]) or _topics_of(groups[g]) for g in groups}
        partitions, leaderless = self._partitions(sorted({t for ts in topics.values() for t in ts}), problems)
        for group_id in list(groups):
            blocked = sorted(f"{t}[{p}]" for t, p in leaderless if t in topics[group_id])
            if blocked:
                problems.add(f"group {group_id}: no leader for {', '.join(blocked)}; its lag is unknown")
                del groups[group_id]
        by_group = {g: [(t, p) for t in topics[g] for p in partitions.get(t, ())] for g in groups}
        end = self._offsets({tp for tps in by_group.values() for tp in tps}, OffsetSpec.LATEST)
        uncommitted = {tp for g, tps in by_group.items() for tp in tps if tp not in groups[g].committed}
        start = self._offsets(uncommitted, OffsetSpec.EARLIEST)
        return OffsetsRead(
            groups=groups,
            topics={g: topics[g] for g in groups},
            partitions=partitions,
            end=end,
            start=start,
            problems=tuple(problems.lines),
        )

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

    def _partitions(self, topics: list[str], problems: _Problems) -> tuple[dict[str, tuple[int, ...]], set[TP]]:
        """Partition ids per existing topic, and the partitions that have no leader now."""
        if not topics:
            return {}, set()
        partitions: dict[str, tuple[int, ...]] = {}
        leaderless: set[TP] = set()
        for topic in self._admin.describe_topics(topics):
            if topic["error_code"]:
                problems.add(f"topic {topic['name']} could not be described (error {topic['error_code']})")
                continue
            rows = topic["partitions"]
            partitions[topic["name"]] = tuple(sorted(p["partition_index"] for p in rows))
            leaderless.update((topic["name"], p["partition_index"]) for p in rows if p["leader_id"] < 0)
        return partitions, leaderless

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


def _group_offsets(
    group_id: str, description: Mapping[str, Any], committed: Mapping[Any, Any], problems: _Problems
) -> GroupOffsets | None:
    offsets = {(tp.topic, tp.partition): int(o.offset) for tp, o in committed.items() if o.offset >= 0}
    state = str(description.get("group_state") or "Unknown")
    if description.get("error") and state != DEAD:
        problems.add(f"group {group_id} could not be described: {description['error']}")
        return None
    members = description.get("members") or []
    if state == DEAD and offsets:
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
