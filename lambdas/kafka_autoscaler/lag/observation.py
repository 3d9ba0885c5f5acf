"""What the policy sees of consumer lag, computed from raw offsets: one computation for every runner.

The Kafka reader (`observe/kafka_lag.py`) and the simulator's lag source both return an
`OffsetsRead` (end, committed and log-start offsets, group state and members, as Kafka
answers); `build_observation` turns it, with the offset samples `record` kept, into the
`GroupLag` the policy sees. Pure: no Kafka client, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

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
    committed: Mapping[TP, int]


@dataclass(frozen=True)
class OffsetsRead:
    """Everything one read fetched; `problems` names what could not be read."""

    groups: Mapping[str, GroupOffsets]
    topics: Mapping[str, tuple[str, ...]]  # the topics each readable group is judged on
    partitions: Mapping[str, tuple[int, ...]]  # partition ids of every topic read
    end: Mapping[TP, int]
    start: Mapping[TP, int]  # log-start offsets, only where some group has no commit
    problems: tuple[str, ...] = ()


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


def build_observation(
    fetched: OffsetsRead, state: ScalerState, now: float, rate_window_s: float = RATE_WINDOW_S
) -> LagObservation:
    """GroupLag per readable group plus the new end-offset and commit samples to keep."""
    groups: dict[str, GroupLag] = {}
    end_samples: dict[str, OffsetSample] = {}
    commit_samples: dict[str, OffsetSample] = {}
    for group_id, offsets in fetched.groups.items():
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
    return LagObservation(groups=groups, end_offsets=end_samples, commits=commit_samples, problems=fetched.problems)
