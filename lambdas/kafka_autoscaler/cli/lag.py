"""`kafka-autoscaler lag`: consumer lag per group and partition, as the scaler reads it.

One read has no history, so the command reads `--samples` times (3 by default), `--interval`
seconds apart, and derives rates, time lag and Burrow's status from the reads; "n/a" marks
what they cannot tell. Time lag from offsets is a lower bound (">=") when the oldest
unconsumed message is older than the first read; `--exact` reads that message's timestamp
instead. Classic, KIP-848 and share groups are listed (ListGroups tells their type).
Exit 1 when Kafka cannot be reached or a requested group cannot be read or does not exist.
"""

from __future__ import annotations

import argparse
import json
import math
import socket
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError

from kafka_autoscaler.lag.health import (
    PartitionWindow,
    Status,
    commit_lags,
    group_status,
    partition_status,
)
from kafka_autoscaler.lag.observation import TP, GroupOffsets, OffsetsRead, build_observation, consumer_position
from kafka_autoscaler.lag.timelag import TimeLag, estimate_time_lag
from kafka_autoscaler.model import GroupLag, OffsetSample, PartitionLag, ScalerState
from kafka_autoscaler.observe.kafka_client import base_kwargs
from kafka_autoscaler.observe.kafka_lag import KafkaLagSource
from kafka_autoscaler.observe.record_times import consumer_for, record_timestamps

EXIT_UNREADABLE = 1
UNKNOWN = "n/a"
# ListGroups protocol types of the groups shown: consumer groups ("" = commits only) and share groups.
CONSUMER_PROTOCOL_TYPES = {"consumer", ""}
SHARE = "share"
CONNECT_TIMEOUT_S = 2.0  # a refused or silent address fails this fast, not after the whole --timeout


class LagCommandError(Exception):
    """Kafka could not be reached or read; the message says what to check."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("lag", help="show consumer lag per group and partition")
    parser.add_argument(
        "--bootstrap-server", required=True, type=_servers, metavar="HOST:PORT", help="a Kafka broker (plaintext)"
    )
    parser.add_argument("--group", action="append", default=[], metavar="G", help="a group (repeat; default: all)")
    parser.add_argument(
        "--interval", type=_seconds, default=5.0, metavar="S", help="seconds between reads (0: one read)"
    )
    parser.add_argument(
        "--samples", type=_count, default=3, metavar="N", help="reads to judge status on (Burrow needs 3)"
    )
    parser.add_argument(
        "--exact", action="store_true", help="time lag from the timestamp of each lagging partition's next record"
    )
    parser.add_argument(
        "--exact-timeout", type=_positive_seconds, default=10.0, metavar="S", help="give up on --exact after S seconds"
    )
    parser.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=10.0,
        metavar="S",
        help="give up on an unanswered broker after S seconds",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(handler=run)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, not {text}")
    return value


def _servers(text: str) -> str:
    """host:port[,host:port...], each port 1-65535."""
    for server in text.split(","):
        host, _, port = server.strip().rpartition(":")
        if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise argparse.ArgumentTypeError(f"'{server}' is not host:port with a port from 1 to 65535")
    return text


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of 1 or more, not {text}")
    return int(text)


def _positive_seconds(text: str) -> float:
    value = _seconds(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return value


@dataclass(frozen=True)
class PartitionView:
    lag: PartitionLag
    time_lag: TimeLag | None
    status: Status | None  # None: one read cannot tell
    rule: str


@dataclass(frozen=True)
class GroupView:
    group: GroupLag
    partitions: tuple[PartitionView, ...]
    status: Status | None

    @property
    def max_time_lag(self) -> TimeLag | None:
        """The oldest unconsumed message of the group; a lower bound if any partition's is one."""
        lags = [p.time_lag for p in self.partitions if p.lag.lag > 0]
        if any(t is None for t in lags):
            return None
        known = [t for t in lags if t is not None]
        if not known:
            return TimeLag(0.0)
        return TimeLag(
            max(t.seconds for t in known),
            lower_bound=any(t.lower_bound for t in known),
            exact=all(t.exact for t in known),
        )


def run(args: argparse.Namespace) -> int:
    timeout_ms = max(1, round(args.timeout * 1000))
    kwargs = base_kwargs(args.bootstrap_server) | {"request_timeout_ms": timeout_ms, "bootstrap_timeout_ms": timeout_ms}
    try:
        reachable(kwargs["bootstrap_servers"], min(CONNECT_TIMEOUT_S, args.timeout))
        admin = KafkaAdminClient(**kwargs)
    except (LagCommandError, KafkaError) as error:
        print(f"lag: cannot reach Kafka at {args.bootstrap_server}: {error}", file=sys.stderr)
        return EXIT_UNREADABLE
    samples = args.samples if args.interval > 0 else 1
    exact = (lambda: consumer_for(kwargs["bootstrap_servers"], timeout_ms), args.exact_timeout) if args.exact else None
    try:
        views, problems, taken_at = read_views(admin, list(args.group), args.interval, samples, exact)
    except LagCommandError as error:
        print(f"lag: {error}", file=sys.stderr)
        return EXIT_UNREADABLE
    finally:
        admin.close()
    if args.json:
        print(json.dumps(as_json(views, problems, taken_at, args.interval), indent=2))
    else:
        print(as_table(views))
    for problem in problems:
        print(f"lag: {problem}", file=sys.stderr)
    missing = [g for g in args.group if g not in {v.group.group_id for v in views}]
    return EXIT_UNREADABLE if missing else 0


def reachable(servers: Sequence[str], timeout_s: float) -> None:
    """Raise LagCommandError unless some bootstrap server accepts a TCP connection within `timeout_s`."""
    errors: list[str] = []
    for server in servers:
        host, _, port = server.rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=timeout_s).close()
        except OSError as error:
            errors.append(f"{server}: {error.strerror or error}")
        else:
            return
    raise LagCommandError("; ".join(errors))


ExactTimes = tuple[Callable[[], Any], float]  # a consumer factory and the time allowed


def read_views(
    admin: Any, group_ids: list[str], interval_s: float, samples: int = 1, exact: ExactTimes | None = None
) -> tuple[list[GroupView], list[str], float]:
    """Read the groups `samples` times and judge each partition; raises LagCommandError when Kafka is unreadable."""
    source = KafkaLagSource(admin)
    try:
        listed = {
            g["group_id"]: g.get("protocol_type", "")
            for g in admin.list_groups()
            if g.get("protocol_type", "") in {*CONSUMER_PROTOCOL_TYPES, SHARE}
        }
    except KafkaError as error:
        raise LagCommandError(f"consumer groups could not be listed: {error}") from None
    ids = group_ids or sorted(listed)
    share = {g for g in ids if listed.get(g) == SHARE}
    wanted: dict[str, Sequence[str]] = {g: () for g in ids}
    reads = [(time.time(), source.fetch(wanted, share))]
    for _ in range(samples - 1):
        time.sleep(interval_s)
        reads.append((time.time(), source.fetch(wanted, share)))
    now, last = reads[-1]
    observation = build_observation(last, _history(reads[:-1]), now)
    if wanted and not observation.groups and observation.problems:
        raise LagCommandError("; ".join(observation.problems))
    times = _exact_times(observation.groups.values(), last, exact) if exact else {}
    views = [_group_view(observation.groups[g], last.groups[g], reads, times) for g in observation.groups]
    return views, list(observation.problems), now


def _exact_times(groups: Iterable[GroupLag], read: OffsetsRead, exact: ExactTimes) -> dict[TP, float]:
    """Write time of the next unconsumed record of every lagging partition (epoch seconds)."""
    positions = {
        (p.topic, p.partition): consumer_position(
            p.committed_offset, read.start.get((p.topic, p.partition)), p.end_offset
        )
        for g in groups
        for p in g.partitions
        if p.lag > 0
    }
    if not positions:
        return {}
    factory, timeout_s = exact
    consumer = factory()
    try:
        return record_timestamps(consumer, positions, timeout_s)
    finally:
        consumer.close()


def _history(earlier: list[tuple[float, OffsetsRead]]) -> ScalerState:
    """The offset samples of the earlier reads, keyed as ScalerState keeps them."""
    end_offsets: dict[str, tuple[OffsetSample, ...]] = {}
    commits: dict[str, tuple[OffsetSample, ...]] = {}
    for t, read in earlier:
        observed = build_observation(read, ScalerState(), t)
        for key, sample in observed.end_offsets.items():
            end_offsets[key] = (*end_offsets.get(key, ()), sample)
        for key, sample in observed.commits.items():
            commits[key] = (*commits.get(key, ()), sample)
    return ScalerState(end_offsets=end_offsets, commits=commits)


def _group_view(
    group: GroupLag, offsets: GroupOffsets, reads: list[tuple[float, OffsetsRead]], written: Mapping[TP, float]
) -> GroupView:
    views = tuple(_partition_view(offsets, p, reads, written) for p in group.partitions)
    known = [v.status for v in views if v.status is not None]
    return GroupView(group, views, group_status(known) if known or not views else None)


def _partition_view(
    offsets: GroupOffsets, row: PartitionLag, reads: list[tuple[float, OffsetsRead]], written: Mapping[TP, float]
) -> PartitionView:
    """Time lag (exact when the next record's write time is known, else estimated) and Burrow's status."""
    tp = (row.topic, row.partition)
    group_id = offsets.group_id
    ends = [OffsetSample(t, r.end[tp]) for t, r in reads if tp in r.end]
    commits = [
        OffsetSample(t, r.groups[group_id].committed[tp])
        for t, r in reads
        if group_id in r.groups and tp in r.groups[group_id].committed
    ]
    now, last = reads[-1]
    position = consumer_position(row.committed_offset, last.start.get(tp), row.end_offset)
    window = PartitionWindow(
        commits=commit_lags(commits, ends),
        current_lag=row.lag,
        end_offsets=tuple(ends),
        owned=None if offsets.members is None else tp in offsets.owned,
    )
    status, rule = partition_status(window, now)
    time_lag = estimate_time_lag(ends[:-1], position, row.end_offset, now)
    if row.lag > 0 and tp in written:
        time_lag = TimeLag(max(0.0, now - written[tp]), exact=True)
    return PartitionView(row, time_lag, None if rule == "history_too_short" else status, rule)


# ---------------------------------------------------------------- output
def _number(value: float | None) -> str:
    return UNKNOWN if value is None else f"{value:.1f}"


def _time_lag(time_lag: TimeLag | None) -> str:
    if time_lag is None:
        return UNKNOWN
    return (">=" if time_lag.lower_bound else "") + f"{time_lag.seconds:.1f}s"


HEADER = ("GROUP", "TOPIC", "PARTITION", "COMMITTED", "END", "LAG", "TIME-LAG", "PRODUCE/S", "CONSUME/S", "STATUS")


def as_table(views: Sequence[GroupView]) -> str:
    """One line per group, then one aligned row per partition."""
    lines: list[str] = []
    rows: list[tuple[str, ...]] = [HEADER]
    for view in views:
        g = view.group
        members = UNKNOWN if g.members is None else str(g.members)
        status = UNKNOWN if view.status is None else view.status.value
        kind = " (share group)" if g.group_type == SHARE else ""
        lines.append(
            f"group {g.group_id}{kind}: state {g.state}, members {members}, partitions {g.partition_count}, "
            f"total lag {g.total_lag}, max time lag {_time_lag(view.max_time_lag)}, status {status}"
        )
        for p in view.partitions:
            lag = p.lag
            rows.append(
                (
                    g.group_id,
                    lag.topic,
                    str(lag.partition),
                    "-" if lag.committed_offset is None else str(lag.committed_offset),
                    str(lag.end_offset),
                    str(lag.lag),
                    _time_lag(p.time_lag),
                    _number(lag.produce_rate),
                    _number(lag.consume_rate),
                    UNKNOWN if p.status is None else p.status.value,
                )
            )
    if not views:
        return "no consumer groups"
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    table = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    notes = [LOWER_BOUND_NOTE] if any(">=" in row[6] for row in rows[1:]) else []
    return "\n".join([*lines, "", *table, *notes])


LOWER_BOUND_NOTE = (
    "\n>= : a lower bound: the oldest unconsumed message is older than the first read; --exact reads its timestamp"
)


def as_json(views: Sequence[GroupView], problems: Sequence[str], taken_at: float, interval_s: float) -> dict[str, Any]:
    return {
        "taken_at": taken_at,
        "interval_s": interval_s,
        "groups": [
            {
                "group_id": v.group.group_id,
                "group_type": v.group.group_type,
                "state": v.group.state,
                "members": v.group.members,
                "status": None if v.status is None else v.status.value,
                "total_lag": v.group.total_lag,
                "max_time_lag_s": None if v.max_time_lag is None else v.max_time_lag.seconds,
                "max_time_lag_lower_bound": None if v.max_time_lag is None else v.max_time_lag.lower_bound,
                "produce_rate": v.group.produce_rate,
                "consume_rate": v.group.consume_rate,
                "partitions": [
                    {
                        "topic": p.lag.topic,
                        "partition": p.lag.partition,
                        "committed_offset": p.lag.committed_offset,
                        "end_offset": p.lag.end_offset,
                        "lag": p.lag.lag,
                        "time_lag_s": None if p.time_lag is None else p.time_lag.seconds,
                        "time_lag_lower_bound": None if p.time_lag is None else p.time_lag.lower_bound,
                        "time_lag_exact": None if p.time_lag is None else p.time_lag.exact,
                        "produce_rate": p.lag.produce_rate,
                        "consume_rate": p.lag.consume_rate,
                        "stalled_for_s": p.lag.stalled_for_s,
                        "status": None if p.status is None else p.status.value,
                        "status_rule": p.rule,
                    }
                    for p in v.partitions
                ],
            }
            for v in views
        ],
        "problems": list(problems),
    }
