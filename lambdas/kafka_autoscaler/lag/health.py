"""Burrow's partition and group status, as an ordered table of named rules.

After LinkedIn Burrow's evaluator (linkedin/Burrow, core/internal/evaluator/caching.go,
`calculatePartitionStatus` and its rules, commit d327a3e on master):

- current lag zero: OK, no other rule is checked;
- STOP: "the consumer has stopped committing offsets for that partition" (Burrow's rule 3:
  now minus the last commit is longer than the last commit minus the first), unless the
  stored broker offsets show the consumer caught up recently (`checkIfRecentLagZero`);
- lag zero at any point of the window: OK (rule 1);
- REWIND: a committed offset lower than the one before (rule 2);
- STALL: the committed offset never moves (rule 4);
- WARN: the offsets move but the lag never decreases (rule 5);
- otherwise OK. A group takes its worst partition; STOP, STALL and REWIND count as ERR.

One difference, stated: Burrow reads every commit with its timestamp from
__consumer_offsets. The scaler only sees the committed offset at each read (OffsetFetch
carries no commit time), so a consumer that stopped committing and one that commits the
same offset again look alike. Here "stopped" therefore needs the group to say that no live
member owns the partition, and rule 3 is applied to the times the offset *changed*.
When ownership is unknown, an unmoving offset is a STALL, never a STOP.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise

from kafka_autoscaler.model import OffsetSample

# As Burrow's `minimum-complete` (how full the offset window must be before a partition is
# judged): fewer commits than this show no trend, so no rule after this one is applied. Two
# samples make one step, and one step of noise flips WARN on and off; three make two steps.
MIN_COMMITS = 3


class Status(StrEnum):
    """Burrow's status names; `severity` orders them as Burrow's StatusConstant does."""

    OK = "OK"
    WARN = "WARN"
    ERR = "ERR"  # groups only
    STOP = "STOP"
    STALL = "STALL"
    REWIND = "REWIND"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {Status.OK: 1, Status.WARN: 2, Status.ERR: 3, Status.STOP: 4, Status.STALL: 5, Status.REWIND: 6}


@dataclass(frozen=True)
class CommitLag:
    """A committed offset seen at time t, and the partition's lag at that moment (None: unknown)."""

    t: float
    offset: int
    lag: int | None


@dataclass(frozen=True)
class PartitionWindow:
    """What the evaluator knows about one partition of one group, oldest commit first."""

    commits: tuple[CommitLag, ...]
    current_lag: int
    end_offsets: tuple[OffsetSample, ...] = ()  # broker end offsets over the same window
    owned: bool | None = None  # a live member owns the partition; None: not known


@dataclass(frozen=True)
class Rule:
    """A named predicate; the first rule that holds decides the status."""

    name: str
    status: Status
    holds: Callable[[PartitionWindow, float], bool]


def lag_is_zero(w: PartitionWindow, now: float) -> bool:
    return w.current_lag <= 0


def history_too_short(w: PartitionWindow, now: float) -> bool:
    return len(w.commits) < MIN_COMMITS


def _last_change_t(commits: Sequence[CommitLag]) -> float:
    """When the newest committed offset was first seen."""
    t = commits[-1].t
    for commit in reversed(commits):
        if commit.offset != commits[-1].offset:
            break
        t = commit.t
    return t


def recently_caught_up(w: PartitionWindow, now: float) -> bool:
    """Burrow's checkIfRecentLagZero: some stored end offset was at or below the last commit."""
    return bool(w.commits) and any(s.offset <= w.commits[-1].offset for s in w.end_offsets)


def stopped(w: PartitionWindow, now: float) -> bool:
    """Burrow's rule 3 on the times the offset changed, only when no live member owns the partition."""
    if w.owned is not False or not w.commits:
        return False
    last_change = _last_change_t(w.commits)
    return now - last_change > last_change - w.commits[0].t and not recently_caught_up(w, now)


def lag_was_zero(w: PartitionWindow, now: float) -> bool:
    return any(c.lag == 0 for c in w.commits)


def rewound(w: PartitionWindow, now: float) -> bool:
    return any(b.offset < a.offset for a, b in pairwise(w.commits))


def stalled(w: PartitionWindow, now: float) -> bool:
    return bool(w.commits) and all(c.offset == w.commits[0].offset for c in w.commits)


def lag_not_decreasing(w: PartitionWindow, now: float) -> bool:
    lags = [c.lag for c in w.commits if c.lag is not None]
    return all(b >= a for a, b in pairwise(lags))


RULES: tuple[Rule, ...] = (
    Rule("lag_is_zero", Status.OK, lag_is_zero),  # no lag now is never an error
    Rule("history_too_short", Status.OK, history_too_short),  # under three commits show no trend
    Rule("stopped", Status.STOP, stopped),  # nobody commits and the consumer did not catch up lately
    Rule("lag_was_zero", Status.OK, lag_was_zero),  # it caught up within the window
    Rule("rewound", Status.REWIND, rewound),  # a commit went backwards: reprocessing
    Rule("stalled", Status.STALL, stalled),  # owned, lagging, and the offset does not move
    Rule("lag_not_decreasing", Status.WARN, lag_not_decreasing),  # commits advance, lag still grows
)


def rule_values(w: PartitionWindow, now: float) -> dict[str, bool]:
    """Every rule's value for the window, whether or not it decides (for tests and explanations)."""
    return {rule.name: rule.holds(w, now) for rule in RULES}


def partition_status(w: PartitionWindow, now: float) -> tuple[Status, str]:
    """The status of the first rule that holds, and that rule's name; OK when none does."""
    for rule in RULES:
        if rule.holds(w, now):
            return rule.status, rule.name
    return Status.OK, "healthy"


def group_status(statuses: Iterable[Status]) -> Status:
    """The worst partition's status; STOP, STALL and REWIND are reported as ERR for a group."""
    worst = max(statuses, key=lambda s: s.severity, default=Status.OK)
    return Status.ERR if worst.severity > Status.ERR.severity else worst


def commit_lags(commits: Sequence[OffsetSample], end_offsets: Sequence[OffsetSample]) -> tuple[CommitLag, ...]:
    """Pair each committed-offset sample with the lag at its time.

    The end offset at a commit's time is read from the end-offset samples, linear between
    them; outside their span the lag is unknown.
    """
    table = sorted(end_offsets, key=lambda s: s.t)
    return tuple(
        CommitLag(c.t, c.offset, None if (end := _end_at(table, c.t)) is None else max(0, end - c.offset))
        for c in sorted(commits, key=lambda s: s.t)
    )


def _end_at(table: Sequence[OffsetSample], t: float) -> int | None:
    if not table or t < table[0].t or t > table[-1].t:
        return None
    for low, high in pairwise(table):
        if low.t <= t <= high.t:
            if high.t == low.t:
                return high.offset
            return round(low.offset + (t - low.t) / (high.t - low.t) * (high.offset - low.offset))
    return table[-1].offset
