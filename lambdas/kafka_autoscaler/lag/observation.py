"""What the policy sees of consumer lag, computed from raw offsets: one computation for every runner.

The Kafka reader (`observe/kafka_lag.py`) and the simulator's lag source both return an
`OffsetsRead` (end, committed and log-start offsets, group state and members, as Kafka
answers); `build_observation` turns it, with the offset samples `record` kept, into the
`GroupLag` the policy sees. Pure: no Kafka client, no clock.

Missing is missing: a group is left out (missing data, held by the policy) with the likely
cause in `problems` when one of the rules in `MISSING_RULES` holds: a judged topic that
could not be described, a group with no committed offset and no member (a mistyped or
deleted group id), a topic without partitions, a partition without a leader or without an
end offset.
Never lag 0 for what was not seen.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from kafka_autoscaler.lag.timelag import RATE_WINDOW_S, estimate_time_lag, offset_table, rate, stalled_for
from kafka_autoscaler.model import GroupLag, OffsetSample, PartitionLag, ScalerState, commit_key, partition_key
from kafka_autoscaler.ports import LagObservation

TP = tuple[str, int]


@dataclass(frozen=True)
class GroupOffsets:
    """One group as Kafka reports it: state, members, owned partitions and committed offsets."""

    group_id: str
    state: str
    members: int | None
    owned: frozenset[TP]
    committed: Mapping[TP, int]  # share groups: the share-partition start offsets
    group_type: str = "consumer"  # "consumer" (classic or KIP-848) or "share" (KIP-932)


@dataclass(frozen=True)
class OffsetsRead:
    """Everything one read fetched; `problems` names what could not be read."""

    groups: Mapping[str, GroupOffsets]
    topics: Mapping[str, tuple[str, ...]]  # the topics each readable group is judged on
    partitions: Mapping[str, tuple[int, ...]]  # partition ids of every topic read
    end: Mapping[TP, int]
    start: Mapping[TP, int]  # log-start offsets, only where some group has no commit
    problems: tuple[str, ...] = ()
    topic_errors: Mapping[str, str] = field(default_factory=dict)  # topic -> why it could not be described
    leaderless: frozenset[TP] = frozenset()  # partitions without a leader at the read


def consumer_position(committed: int | None, log_start: int | None, end: int) -> int:
    """Where the group reads next: its commit, else the log start, else the end."""
    if committed is not None:
        return committed
    return log_start if log_start is not None else end


def partition_lag(
    topic: str,
    partition: int,
    end: int,
    committed: int | None,
    log_start: int | None,
    end_history: Sequence[OffsetSample],
    commit_history: Sequence[OffsetSample],
    now: float,
    rate_window_s: float = RATE_WINDOW_S,
) -> PartitionLag:
    """One partition's lag, time lag, rates and stall from this read and the kept history."""
    position = consumer_position(committed, log_start, end)
    lag = max(0, end - position)
    time_lag = estimate_time_lag(end_history, position, end, now)
    commits = [*(s for s in commit_history if s.t < now), OffsetSample(now, committed)] if committed is not None else []
    return PartitionLag(
        topic=topic,
        partition=partition,
        end_offset=end,
        committed_offset=committed,
        lag=lag,
        time_lag_s=None if time_lag is None else time_lag.seconds,
        produce_rate=rate(offset_table(end_history, end, now), now, rate_window_s),
        consume_rate=rate(commits, now, rate_window_s) if committed is not None else None,
        stalled_for_s=stalled_for(commits, committed, time_lag, now) if committed is not None else 0.0,
    )


def group_lag(offsets: GroupOffsets, rows: Sequence[PartitionLag]) -> GroupLag:
    """Aggregates of a group's partitions.

    The maximum time lag and the produce rate are None as soon as one lagging partition's
    is unknown (a partial answer would understate them); the consume rate sums what is known.
    """
    time_lags = [p.time_lag_s for p in rows if p.lag > 0]
    produce = [p.produce_rate for p in rows]
    consume = [p.consume_rate for p in rows if p.consume_rate is not None]
    return GroupLag(
        group_id=offsets.group_id,
        group_type=offsets.group_type,
        source="kafka",
        total_lag=sum(p.lag for p in rows),
        max_time_lag_s=_max_if_known(time_lags),
        produce_rate=None if any(r is None for r in produce) else sum(r for r in produce if r is not None),
        consume_rate=sum(consume) if consume else None,
        partition_count=len(rows),
        partitions=tuple(rows),
        state=offsets.state,
        members=offsets.members,
    )


def _max_if_known(values: Sequence[float | None]) -> float | None:
    if any(v is None for v in values):
        return None
    return max((v for v in values if v is not None), default=0.0)


# ---------------------------------------------------------------- missing data
MissingRule = Callable[[GroupOffsets, OffsetsRead], str | None]


def topic_not_described(group: GroupOffsets, read: OffsetsRead) -> str | None:
    """A judged topic Kafka did not describe: deleted, never created, or not authorised."""
    failed = [f"'{t}' ({read.topic_errors[t]})" for t in read.topics[group.group_id] if t in read.topic_errors]
    if not failed:
        return None
    return (
        f"topic {', '.join(failed)} could not be described: deleted, misspelt in the binding, or not "
        "readable with the scaler's permissions"
    )


def topic_without_partitions(group: GroupOffsets, read: OffsetsRead) -> str | None:
    """A judged topic the read has no partition list for (not in the metadata at all)."""
    absent = [t for t in read.topics[group.group_id] if t not in read.topic_errors and not read.partitions.get(t)]
    return f"topic {', '.join(repr(t) for t in absent)} has no partitions in the metadata" if absent else None


def partition_without_leader(group: GroupOffsets, read: OffsetsRead) -> str | None:
    """A judged partition with no leader: its end offset cannot be read (a broker is down)."""
    judged = set(read.topics[group.group_id])
    blocked = sorted(f"{t}[{p}]" for t, p in read.leaderless if t in judged)
    return f"no leader for {', '.join(blocked)} (a broker is down or the partition is offline)" if blocked else None


def end_offset_unknown(group: GroupOffsets, read: OffsetsRead) -> str | None:
    """A judged partition whose end offset the read did not get."""
    unknown = sorted(f"{t}[{p}]" for t, p in _judged(group, read) if (t, p) not in read.end)
    return f"no end offset for {', '.join(unknown)}" if unknown else None


def nothing_committed_nobody_home(group: GroupOffsets, read: OffsetsRead) -> str | None:
    """No committed offset on the judged topics and no member: nothing says where the group is."""
    if group.members or any(tp in group.committed for tp in _judged(group, read)):
        return None
    if group.state == "Dead" or not read.topics[group.group_id]:
        return f"group '{group.group_id}' does not exist (no members, no committed offsets): check group_id"
    return f"group '{group.group_id}' has no members and no committed offsets: check group_id"


def no_partition_judged(group: GroupOffsets, read: OffsetsRead) -> str | None:
    """No bound topic, no commit and no assignment: no partition to judge the group on."""
    return None if _judged(group, read) else "no partition to judge it on (no bound topic, commit or assignment)"


# Checked in order; the first that holds names the cause.
MISSING_RULES: tuple[MissingRule, ...] = (
    topic_not_described,  # a deleted topic's zero rows would read as lag 0 (Kafka drops its commits too)
    nothing_committed_nobody_home,  # a mistyped group id reads as an idle group with no backlog
    topic_without_partitions,
    partition_without_leader,  # a partition without a leader has no end offset
    end_offset_unknown,
    no_partition_judged,  # zero rows are not zero lag
)


def missing_reason(group: GroupOffsets, read: OffsetsRead) -> str | None:
    """Why this group's lag is unknown in this read, or None when it is known."""
    for rule in MISSING_RULES:
        if (reason := rule(group, read)) is not None:
            return reason
    return None


def _judged(group: GroupOffsets, read: OffsetsRead) -> list[TP]:
    return [(t, p) for t in read.topics[group.group_id] for p in read.partitions.get(t, ())]


def build_observation(
    fetched: OffsetsRead, state: ScalerState, now: float, rate_window_s: float = RATE_WINDOW_S
) -> LagObservation:
    """GroupLag per readable group plus the new end-offset and commit samples to keep.

    A group whose lag is unknown (`missing_reason`) is left out and its cause added to `problems`.
    """
    groups: dict[str, GroupLag] = {}
    end_samples: dict[str, OffsetSample] = {}
    commit_samples: dict[str, OffsetSample] = {}
    problems = list(fetched.problems)
    missing: dict[str, str] = {}
    for group_id, offsets in fetched.groups.items():
        if (reason := missing_reason(offsets, fetched)) is not None:
            problems.append(f"group {group_id}: lag unknown: {reason}")
            missing[group_id] = reason
            continue
        rows: list[PartitionLag] = []
        for topic in fetched.topics[group_id]:
            for partition in fetched.partitions.get(topic, ()):
                tp = (topic, partition)
                end = fetched.end[tp]
                committed = offsets.committed.get(tp)
                pkey, ckey = partition_key(topic, partition), commit_key(group_id, topic, partition)
                rows.append(
                    partition_lag(
                        topic,
                        partition,
                        end,
                        committed,
                        fetched.start.get(tp),
                        state.end_offsets.get(pkey, ()),
                        state.commits.get(ckey, ()),
                        now,
                        rate_window_s,
                    )
                )
                end_samples[pkey] = OffsetSample(now, end)
                if committed is not None:
                    commit_samples[ckey] = OffsetSample(now, committed)
        groups[group_id] = group_lag(offsets, rows)
    return LagObservation(
        groups=groups, end_offsets=end_samples, commits=commit_samples, problems=tuple(problems), missing=missing
    )
