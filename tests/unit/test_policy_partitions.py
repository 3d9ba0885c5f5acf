"""Partition increases: one row per case, with the expected decision and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from builders import binding, config, group, service
from kafka_autoscaler.config import ConfigError, PartitionPolicy
from kafka_autoscaler.model import Action, Decision, GroupLag, Reason, ScalerState, Snapshot, Target
from kafka_autoscaler.policy import decide
from kafka_autoscaler.policy.consumers import decide_consumers
from kafka_autoscaler.policy.partitions import decide_partitions, recommended_partitions

NOW = 1_700_000_000.0

# 12 partitions, 100 msg/s into each, 100 msg/s per task, a backlog drained within 60 s:
# the lag asks for 12 * (100 + 6000/60) / 100 = 24 tasks; 12 run, capped at the partitions.
LATE = group(partitions=12, produce=100.0, lag=6000, time_lag_s=300.0)
ON_TIME = group(partitions=12, produce=100.0, lag=6000, time_lag_s=30.0)
UNKEYED = {"auto_increase": True, "max": 64, "topics": [{"name": "orders", "keyed": False}]}


@dataclass(frozen=True)
class Case:
    name: str
    why: str
    group: GroupLag
    running: int
    policy: dict[str, Any]
    expected: tuple[Action, int, Reason] | None  # (action, desired, reason); None: no decision
    binding: dict[str, Any] = field(default_factory=dict)


CASES = [
    Case(
        "grow",
        "unkeyed, auto on, late at the cap: 24 tasks want 24 partitions",
        LATE,
        12,
        UNKEYED,
        (Action.EXPAND, 24, Reason.PARTITIONS_CAP_LATE_GROUP),
        {"max_tasks": 30},
    ),
    Case(
        "keyed",
        "keyed topics are never grown automatically: keys would move",
        LATE,
        12,
        {"auto_increase": True, "max": 64},
        (Action.HOLD, 24, Reason.KEYED_TOPIC),
        {"max_tasks": 30},
    ),
    Case(
        "auto off",
        "the recommendation only",
        LATE,
        12,
        {"topics": [{"name": "orders", "keyed": False}]},
        (Action.HOLD, 24, Reason.PARTITIONS_CAP_LATE_GROUP),
        {"max_tasks": 30},
    ),
    Case(
        "capped by max",
        "partitions.max 16 below the 24 wanted: grow to 16",
        LATE,
        12,
        {**UNKEYED, "max": 16},
        (Action.EXPAND, 16, Reason.PARTITIONS_CAP_LATE_GROUP),
        {"max_tasks": 30},
    ),
    Case(
        "at max",
        "already at partitions.max",
        LATE,
        12,
        {**UNKEYED, "max": 12},
        (Action.HOLD, 24, Reason.PARTITIONS_AT_MAX),
        {"max_tasks": 30},
    ),
    Case(
        "max_tasks binds",
        "max_tasks 20 caps the tasks: 20 spread over 20 partitions",
        LATE,
        12,
        UNKEYED,
        (Action.EXPAND, 20, Reason.PARTITIONS_CAP_LATE_GROUP),
        {"max_tasks": 20},
    ),
    Case(
        "max_tasks at partitions",
        "max_tasks 12 = partitions: more partitions buy nothing",
        LATE,
        12,
        UNKEYED,
        None,
        {"max_tasks": 12},
    ),
    Case(
        "lag_threshold",
        "720 tasks of lag at 100 msgs each, capped at 12 partitions; max_tasks 30 -> 30",
        LATE,
        12,
        UNKEYED,
        (Action.EXPAND, 30, Reason.PARTITIONS_CAP_LATE_GROUP),
        {"max_tasks": 30, "mode": "lag_threshold", "lag_threshold": 100},
    ),
    Case("on time", "capped but within the target: nothing to fix", ON_TIME, 12, UNKEYED, None, {"max_tasks": 30}),
    Case("still scaling", "8 of 12 tasks: the cap has not bitten yet", LATE, 8, UNKEYED, None, {"max_tasks": 30}),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_partition_decision(case: Case) -> None:
    bound = binding(**case.binding)
    consumer = decide_consumers(bound, case.group, service(case.running), _state(), NOW).decision
    decision = decide_partitions(bound, case.group, consumer, PartitionPolicy.model_validate(case.policy))
    if case.expected is None:
        assert decision is None, case.why
        return
    assert consumer.reason in {Reason.CAPPED_AT_PARTITIONS, Reason.HOT_PARTITION}  # read, not restated
    assert decision is not None, case.why
    assert decision.target is Target.PARTITIONS
    assert (decision.action, decision.desired, decision.reason) == case.expected, case.why
    assert decision.current == 12


def test_keyed_decision_says_why() -> None:
    bound = binding(max_tasks=30)
    consumer = decide_consumers(bound, LATE, service(12), _state(), NOW).decision
    decision = decide_partitions(bound, LATE, consumer, PartitionPolicy(auto_increase=True, max=64))
    assert decision is not None and "keyed" in decision.message and "key goes to" in decision.message


@pytest.mark.parametrize(
    ("current", "tasks", "expected"),
    [(12, 24, 24), (12, 18, 18), (12, 5, 15), (10, 10, 20), (1, 3, 3)],
)
def test_recommended_count_is_the_next_multiple_of_the_tasks(current: int, tasks: int, expected: int) -> None:
    count = recommended_partitions(current, tasks)
    assert count == expected and count > current and count % tasks == 0


def test_other_consumer_reasons_give_no_partition_decision() -> None:
    consumer = Decision(Target.CONSUMERS, "consumer:orders-processor", Action.HOLD, 12, 12, Reason.WITHIN_TOLERANCE, "")
    assert decide_partitions(binding(max_tasks=30), LATE, consumer, PartitionPolicy.model_validate(UNKEYED)) is None


def test_decide_appends_the_partition_decision_after_the_consumer_one() -> None:
    cfg = config(
        consumers=[binding(max_tasks=30).model_dump(mode="json")],
        partitions=UNKEYED,
        brokers={"enabled": False},
        storage={"mode": "off"},
    )
    snapshot = Snapshot(NOW, None, {"orders-processor": LATE}, {"orders-processor": service(12)}, _state())
    plan = decide(snapshot, cfg, NOW)
    targets = [d.target for d in plan.decisions]
    assert targets == [Target.CONSUMERS, Target.PARTITIONS]
    assert plan.decisions[1].desired == 24


def test_auto_increase_needs_a_maximum() -> None:
    with pytest.raises(ConfigError, match="partitions: max is required"):
        config(partitions={"auto_increase": True})


def _state() -> ScalerState:
    return ScalerState()
