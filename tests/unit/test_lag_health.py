"""Burrow's partition status rules (lag/health.py): one row per case, every rule's value."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from kafka_autoscaler.lag.health import (
    RULES,
    CommitLag,
    PartitionWindow,
    Status,
    commit_lags,
    group_status,
    partition_status,
    rule_values,
)
from kafka_autoscaler.model import OffsetSample as S

TIMES = (900.0, 925.0, 950.0, 975.0)
RULE_NAMES = tuple(rule.name for rule in RULES)


@dataclass(frozen=True)
class Case:
    name: str
    offsets: tuple[int, ...]  # committed offsets at TIMES (as many as given)
    lags: tuple[int | None, ...]  # lag at each commit
    current_lag: int
    owned: bool | None
    rules: str  # the value of every rule in RULES order, T or F
    expected: Status
    now: float = 1000.0
    end_offsets: tuple[S, ...] = (S(900.0, 100), S(975.0, 140))


CASES = [
    #     name                              offsets            lags               lag  owned  rules      expected
    Case("caught up now", (10, 20, 30, 40), (5, 5, 5, 5), 0, True, "TFFFFFT", Status.OK),
    Case("a single commit says nothing", (40,), (20,), 20, False, "FTTFFTT", Status.OK),
    Case("two commits are one step of noise", (10, 20), (10, 20), 20, True, "FTFFFFT", Status.OK),
    Case("three commits show a trend", (10, 20, 30), (10, 20, 30), 30, True, "FFFFFFT", Status.WARN),
    Case("consumer catching up", (10, 20, 30, 40), (50, 40, 30, 20), 20, True, "FFFFFFF", Status.OK),
    Case("consumer falling behind", (10, 20, 30, 40), (10, 20, 30, 40), 40, True, "FFFFFFT", Status.WARN),
    Case("owned offset does not move", (40, 40, 40, 40), (10, 20, 30, 40), 40, True, "FFFFFTT", Status.STALL),
    Case("owner unknown: stall, not stop", (40, 40, 40, 40), (10, 20, 30, 40), 40, None, "FFFFFTT", Status.STALL),
    Case("commit went backwards", (40, 50, 30, 45), (10, 10, 30, 20), 20, True, "FFFFTFF", Status.REWIND),
    Case("nobody owns it and it never moved", (40, 40, 40, 40), (10, 20, 30, 40), 40, False, "FFTFFTT", Status.STOP),
    Case(
        "nobody owns it but it was caught up: Burrow's recent-lag-zero",
        (40, 40, 40, 40),
        (0, 10, 20, 30),
        30,
        False,
        "FFFTFTT",
        Status.OK,
        end_offsets=(S(900.0, 40), S(975.0, 70)),
    ),
    Case("member left just now after progress", (10, 20, 30, 40), (30, 30, 30, 30), 30, False, "FFFFFFT", Status.WARN),
    Case(
        "member left long ago after progress",
        (10, 20, 30, 40),
        (30, 30, 30, 30),
        30,
        False,
        "FFTFFFT",
        Status.STOP,
        now=1100.0,
    ),
    Case("lag unknown at every commit", (10, 20, 30, 40), (None, None, None, None), 9, True, "FFFFFFT", Status.WARN),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_partition_status_rule_table(case: Case) -> None:
    window = PartitionWindow(
        commits=tuple(CommitLag(t, o, lag) for t, o, lag in zip(TIMES, case.offsets, case.lags, strict=False)),
        current_lag=case.current_lag,
        end_offsets=case.end_offsets,
        owned=case.owned,
    )
    expected_rules = dict(zip(RULE_NAMES, (flag == "T" for flag in case.rules), strict=True))
    assert rule_values(window, case.now) == expected_rules
    status, deciding_rule = partition_status(window, case.now)
    assert status is case.expected
    first_true = next((name for name in RULE_NAMES if expected_rules[name]), "healthy")
    assert deciding_rule == first_true


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ((), Status.OK),
        ((Status.OK, Status.OK), Status.OK),
        ((Status.OK, Status.WARN), Status.WARN),
        ((Status.WARN, Status.STALL), Status.ERR),
        ((Status.STOP,), Status.ERR),
        ((Status.REWIND, Status.OK), Status.ERR),
    ],
)
def test_group_takes_its_worst_partition(statuses: tuple[Status, ...], expected: Status) -> None:
    assert group_status(statuses) is expected


def test_commit_lags_read_the_end_offset_at_each_commit_time() -> None:
    commits = (S(90.0, 5), S(100.0, 10), S(150.0, 30), S(200.0, 80), S(250.0, 90))
    ends = (S(100.0, 20), S(200.0, 120))
    assert commit_lags(commits, ends) == (
        CommitLag(90.0, 5, None),  # before the first end-offset sample: unknown
        CommitLag(100.0, 10, 10),
        CommitLag(150.0, 30, 40),  # end offset 70 half way between the samples
        CommitLag(200.0, 80, 40),
        CommitLag(250.0, 90, None),  # after the last one: unknown
    )
