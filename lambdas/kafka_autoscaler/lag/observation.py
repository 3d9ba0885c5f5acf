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

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from kafka_autoscaler.lag import batch
from kafka_autoscaler.lag.batch import Batch, BoolArray, FloatArray, IntArray
from kafka_autoscaler.lag.history import SampleTable
from kafka_autoscaler.lag.timelag import RATE_WINDOW_S
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
    _judged: dict[str, tuple[TP, ...]] = field(default_factory=dict, compare=False, repr=False)

    def judged(self, group_id: str) -> tuple[TP, ...]:
        """The partitions a group is judged on: every partition of its topics, in order (worked out once)."""
        found = self._judged.get(group_id)
        if found is None:
            topics = self.topics[group_id]
            found = self._judged[group_id] = tuple((t, p) for t in topics for p in self.partitions.get(t, ()))
        return found


def consumer_position(committed: int | None, log_start: int | None, end: int) -> int:
    """Where the group reads next: its commit, else the log start, else the end."""
    if committed is not None:
        return committed
    return log_start if log_start is not None else end


# The recent rates are taken from the newest samples at least this old: the previous tick
# (60 s apart on the schedule, 30 s after an alarm's tick), whatever its jitter.
RECENT_SPAN_S = 30.0


@dataclass(frozen=True)
class PartitionReads:
    """The partitions of one group in this read, as columns: end and committed offsets, log starts."""

    tps: Sequence[TP]
    end: IntArray
    committed: IntArray  # 0 where there is no commit
    has_commit: BoolArray
    position: IntArray  # where the group reads next: the commit, else the log start, else the end

    @classmethod
    def of(cls, group: GroupOffsets, read: OffsetsRead, tps: Sequence[TP]) -> PartitionReads:
        end = np.array([read.end[tp] for tp in tps], dtype=np.int64)
        commits = [group.committed.get(tp) for tp in tps]
        committed = np.array([c if c is not None else 0 for c in commits], dtype=np.int64)
        has_commit = np.array([c is not None for c in commits], dtype=bool)
        start = np.array([read.start.get(tp, -1) for tp in tps], dtype=np.int64)
        position = np.where(has_commit, committed, np.where(start >= 0, start, end))
        return cls(tps, end, committed, has_commit, position)


def _rows(table: SampleTable, keys: Sequence[str]) -> list[int]:
    return [-1 if (row := table.row_of(key)) is None else row for key in keys]


def _history(table: SampleTable, rows: Sequence[int], width: int) -> Batch:
    """The samples of rows sharing a pattern (-1: a series with none yet)."""
    if rows[0] < 0:
        return Batch.of(np.empty(0), np.empty((0, width), dtype=np.int64))
    times, values = table.block(table.pattern_index(rows[0]), rows)
    return Batch.of(times, values)


def partition_lags(
    group_id: str,
    reads: PartitionReads,
    end_history: SampleTable,
    commit_history: SampleTable,
    now: float,
    rate_window_s: float = RATE_WINDOW_S,
) -> list[PartitionLag]:
    """Each partition's lag, time lag, rates and stall from this read and the kept history.

    Partitions whose histories were sampled at the same moments are computed as one batch.
    """
    end_rows = _rows(end_history, [partition_key(t, p) for t, p in reads.tps])
    commit_rows = _rows(commit_history, [commit_key(group_id, t, p) for t, p in reads.tps])
    batches: dict[tuple[int, int], list[int]] = {}
    for index, (end_row, commit_row) in enumerate(zip(end_rows, commit_rows, strict=True)):
        end_pattern = -1 if end_row < 0 else end_history.pattern_index(end_row)
        commit_pattern = (
            -1 if commit_row < 0 or not reads.has_commit[index] else commit_history.pattern_index(commit_row)
        )
        batches.setdefault((end_pattern, commit_pattern), []).append(index)
    found: list[PartitionLag | None] = [None] * len(reads.tps)
    for (_, commit_pattern), members in batches.items():
        picked = np.asarray(members, dtype=np.intp)
        end, position, committed = reads.end[picked], reads.position[picked], reads.committed[picked]
        ends = batch.end_table(_history(end_history, [end_rows[i] for i in members], len(members)), end, now)
        time_lag = batch.time_lags(ends, position, end, now)
        # The produce rate since the previous tick: end offsets are exact counts, so a short span
        # follows a burst within a tick (a window of 300 s took minutes); the window's rate only
        # until a sample is old enough. Its cost, on load that flickers by the minute: bench's
        # `flicker` trace.
        produce = batch.recent_rates(ends, now, RECENT_SPAN_S)[0]
        produce = np.where(np.isnan(produce), batch.window_rates(ends, now, rate_window_s), produce)
        kept_commits = [commit_rows[i] for i in members] if commit_pattern >= 0 else [-1]  # -1: no history counts
        commits = batch.commit_table(_history(commit_history, kept_commits, len(members)), committed, now)
        consume = batch.window_rates(commits, now, rate_window_s)
        recent, start = batch.recent_rates(commits, now, RECENT_SPAN_S)
        start_lag = _lag_at(ends, commits, start)
        stalled = batch.stalls(commits, committed, time_lag.seconds, now)
        lags = np.maximum(0, end - position)
        without = ~reads.has_commit[picked]  # no commit: no consume rate, no stall
        columns = zip(
            members,
            end.tolist(),
            _optional(np.where(without, np.nan, committed)),
            lags.tolist(),
            _optional(time_lag.seconds),
            _optional(produce),
            _optional(np.where(without, np.nan, consume)),
            np.where(without, 0.0, stalled).tolist(),
            _optional(np.where(without, np.nan, recent)),
            _optional(np.where(without, np.nan, start_lag)),
            strict=True,
        )
        for index, end_offset, commit, lag, seconds, produced, consumed, stall, recently, lag_then in columns:
            topic, partition = reads.tps[index]
            found[index] = PartitionLag(
                topic,
                partition,
                end_offset,
                None if commit is None else int(commit),
                lag,
                seconds,
                produced,
                consumed,
                stall,
                recently,
                None if lag_then is None else int(lag_then),
            )
    return [row for row in found if row is not None]


def _lag_at(ends: Batch, commits: Batch, start: IntArray) -> FloatArray:
    """Per series, the lag at the commit sample `start`: the end offset sampled at that very moment
    minus that commit; NaN where the end history has no kept sample then."""
    lag: FloatArray = np.full(commits.width, np.nan)
    cols = np.arange(commits.width)
    for row in set(start.tolist()) - {-1}:
        then = (ends.t == commits.t[row])[:, None] & ends.kept  # per series, its kept end samples at that time
        newest = then.shape[0] - 1 - np.argmax(then[::-1], axis=0)
        found = (start == row) & then.any(axis=0)
        lag = np.where(found, ends.values[newest, cols] - commits.values[row, cols], lag)
    return lag


def _optional(values: FloatArray | IntArray) -> list[float | None]:
    """The values as Python numbers, None for NaN."""
    return [None if math.isnan(v) else v for v in values.astype(np.float64).tolist()]


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
    unknown = sorted(f"{t}[{p}]" for t, p in read.judged(group.group_id) if (t, p) not in read.end)
    return f"no end offset for {', '.join(unknown)}" if unknown else None


def nothing_committed_nobody_home(group: GroupOffsets, read: OffsetsRead) -> str | None:
    """No committed offset on the judged topics and no member: nothing says where the group is."""
    if group.members or any(tp in group.committed for tp in read.judged(group.group_id)):
        return None
    if group.state == "Dead" or not read.topics[group.group_id]:
        return f"group '{group.group_id}' does not exist (no members, no committed offsets): check group_id"
    return f"group '{group.group_id}' has no members and no committed offsets: check group_id"


def no_partition_judged(group: GroupOffsets, read: OffsetsRead) -> str | None:
    """No bound topic, no commit and no assignment: no partition to judge the group on."""
    return None if read.judged(group.group_id) else "no partition to judge it on (no bound topic, commit or assignment)"


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
    end_table, commit_table = SampleTable.of(state.end_offsets), SampleTable.of(state.commits)
    for group_id, offsets in fetched.groups.items():
        if (reason := missing_reason(offsets, fetched)) is not None:
            problems.append(f"group {group_id}: lag unknown: {reason}")
            missing[group_id] = reason
            continue
        tps = fetched.judged(group_id)
        reads = PartitionReads.of(offsets, fetched, tps)
        rows = partition_lags(group_id, reads, end_table, commit_table, now, rate_window_s)
        for row in rows:
            end_samples[partition_key(row.topic, row.partition)] = OffsetSample(now, row.end_offset)
            if row.committed_offset is not None:
                commit_samples[commit_key(group_id, row.topic, row.partition)] = OffsetSample(now, row.committed_offset)
        groups[group_id] = group_lag(offsets, rows)
    return LagObservation(
        groups=groups, end_offsets=end_samples, commits=commit_samples, problems=tuple(problems), missing=missing
    )
