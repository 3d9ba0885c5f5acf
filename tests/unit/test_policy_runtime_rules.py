"""The runtime's named steps: one MSK change, back-off, ownership of a desired count, intents read back."""

from __future__ import annotations

from dataclasses import replace

import pytest
from builders import binding, service
from kafka_autoscaler.config import RetryPolicy
from kafka_autoscaler.model import (
    Action,
    ClusterOperation,
    ClusterState,
    Decision,
    Failure,
    Intent,
    Reason,
    ScalableTarget,
    ScalerState,
    Target,
)
from kafka_autoscaler.policy.failures import CLEARED, after_failure, backoff_s, with_backoff
from kafka_autoscaler.policy.intents import resolve_intents
from kafka_autoscaler.policy.msk_changes import MSK_TARGETS, one_msk_change
from kafka_autoscaler.policy.ownership import MAX_CAPACITY, MIN_CAPACITY, owned_decision

NOW = 1_700_000_000.0


def cluster(state: str = "ACTIVE", operation: str | None = None, **fields: object) -> ClusterState:
    base = ClusterState("arn", state, "V1", 3, 3, "kafka.m5.large", 1000, operation)
    return replace(base, **fields)  # type: ignore[arg-type]


def change(target: Target, action: Action, reason: Reason, current: int = 3, desired: int = 6) -> Decision:
    return Decision(target, target.value, action, current, desired, reason, f"{target.value}: change")


STORAGE = change(Target.STORAGE, Action.EXPAND, Reason.DISK_WILL_FILL, 1000, 1100)
CPU = change(Target.BROKERS, Action.SCALE_OUT, Reason.CPU_HIGH)
SCALE_IN = change(Target.BROKERS, Action.SCALE_IN, Reason.LOAD_LOW, 6, 3)
DRAIN = change(Target.BROKERS, Action.DRAIN, Reason.LOAD_LOW, 6, 3)
CONSUMER = Decision(Target.CONSUMERS, "consumer:orders-processor", Action.SCALE_OUT, 4, 12, Reason.LAG_ABOVE_TARGET, "")


# ---------------------------------------------------------------- one MSK change
@pytest.mark.parametrize(
    ("why", "decisions", "cluster_state", "state", "kept", "reasons"),
    [
        (
            "a disk about to fill goes before CPU",
            [CPU, STORAGE],
            cluster(),
            ScalerState(),
            ["storage"],
            {"brokers": Reason.ONE_MSK_CHANGE},
        ),
        ("one change alone goes", [CPU], cluster(), ScalerState(), ["brokers"], {}),
        ("drains are not MSK changes", [DRAIN, STORAGE], cluster(), ScalerState(), ["brokers", "storage"], {}),
        (
            "growth before shrinking",
            [SCALE_IN, STORAGE],
            cluster(),
            ScalerState(),
            ["storage"],
            {"brokers": Reason.ONE_MSK_CHANGE},
        ),
        ("nothing while UPDATING", [STORAGE], cluster("UPDATING"), ScalerState(), [], {"storage": Reason.CLUSTER_BUSY}),
        (
            "nothing while an operation runs",
            [STORAGE],
            cluster(operation="UPDATE_BROKER_COUNT"),
            ScalerState(),
            [],
            {"storage": Reason.OPERATION_IN_PROGRESS},
        ),
        ("nothing when MSK was not read", [STORAGE], None, ScalerState(), [], {"storage": Reason.MISSING_DATA}),
        (
            "nothing while an earlier change is unconfirmed",
            [STORAGE],
            cluster(),
            ScalerState(intents=(Intent("brokers", "brokers", "scale_out", 3, 6, NOW - 60),)),
            [],
            {"storage": Reason.INTENT_UNCONFIRMED},
        ),
        (
            "consumers are not MSK",
            [CONSUMER, CPU, STORAGE],
            cluster(),
            ScalerState(),
            ["consumer:orders-processor", "storage"],
            {"brokers": Reason.ONE_MSK_CHANGE},
        ),
    ],
)
def test_one_msk_change(
    why: str,
    decisions: list[Decision],
    cluster_state: ClusterState | None,
    state: ScalerState,
    kept: list[str],
    reasons: dict[str, Reason],
) -> None:
    result = one_msk_change(decisions, cluster_state, state)
    assert [d.key for d in result if d.changes_something] == kept, why
    assert {d.key: d.reason for d in result if d.key in reasons} == reasons, why
    for held in (d for d in result if d.key in reasons):
        assert held.desired == held.current and held.details["wanted"] in {6, 1100, 3}


def test_msk_targets_cover_broker_count_and_storage() -> None:
    assert {Target.BROKERS, Target.STORAGE} <= MSK_TARGETS
    assert Target.CONSUMERS not in MSK_TARGETS and Target.REBALANCE not in MSK_TARGETS


# ---------------------------------------------------------------- back-off
def test_backoff_doubles_to_its_cap() -> None:
    policy = RetryPolicy(initial_backoff_s=3600, max_backoff_s=4 * 3600)
    assert [backoff_s(policy, n) for n in range(1, 6)] == [3600, 7200, 14400, 14400, 14400]
    first = after_failure(None, "BadRequestException: cool-down", policy, NOW)
    second = after_failure(first, "BadRequestException: cool-down", policy, NOW + 3600)
    assert (first.attempts, first.retry_at) == (1, NOW + 3600)
    assert (second.attempts, second.first_t, second.retry_at) == (2, NOW, NOW + 3600 + 7200)


@pytest.mark.parametrize(
    ("why", "decision", "now", "action", "reason", "cleared"),
    [
        ("inside the back-off: hold", STORAGE, NOW + 60, Action.HOLD, Reason.RETRY_BACKOFF, False),
        ("past it: try again", STORAGE, NOW + 3600, Action.EXPAND, Reason.DISK_WILL_FILL, False),
        (
            "no longer wanted: the failure clears",
            replace(STORAGE, action=Action.HOLD, desired=1000, reason=Reason.DISK_OK),
            NOW + 60,
            Action.HOLD,
            Reason.DISK_OK,
            True,
        ),
    ],
)
def test_with_backoff(why: str, decision: Decision, now: float, action: Action, reason: Reason, cleared: bool) -> None:
    state = ScalerState(failures={"storage": Failure("BadRequestException: cool-down", NOW, NOW, 1, NOW + 3600)})
    result = with_backoff(decision, state, now)
    assert (result.action, result.reason, CLEARED in result.details) == (action, reason, cleared), why


# ---------------------------------------------------------------- ownership of a desired count
WANT_12 = CONSUMER


@pytest.mark.parametrize(
    ("why", "ecs", "svc", "state", "now", "expected"),
    [
        (
            "no owner: the scaler decides",
            {},
            service(4),
            ScalerState(),
            NOW,
            (Action.SCALE_OUT, Reason.LAG_ABOVE_TARGET),
        ),
        (
            "Application Auto Scaling owns it",
            {},
            replace(service(4), scalable_target=ScalableTarget(2, 8)),
            ScalerState(),
            NOW,
            (Action.HOLD, Reason.AUTOSCALING_OWNS),
        ),
        (
            "owner unknown: hold",
            {},
            replace(service(4), scalable_target_known=False),
            ScalerState(),
            NOW,
            (Action.HOLD, Reason.MISSING_DATA),
        ),
        (
            "min_max steers the bounds",
            {"manage": "min_max"},
            replace(service(4), scalable_target=ScalableTarget(2, 8)),
            ScalerState(),
            NOW,
            (Action.SCALE_OUT, Reason.LAG_ABOVE_TARGET),
        ),
        (
            "a count changed by someone else",
            {},
            service(7),
            ScalerState(known_desired={"consumer:orders-processor": 12}),
            NOW,
            (Action.HOLD, Reason.EXTERNAL_CHANGE),
        ),
        (
            "still respected inside the hold",
            {},
            service(7),
            ScalerState(
                known_desired={"consumer:orders-processor": 7},
                external_changes={"consumer:orders-processor": NOW - 3000},
            ),
            NOW,
            (Action.HOLD, Reason.EXTERNAL_CHANGE),
        ),
        (
            "resumed after the hold",
            {},
            service(7),
            ScalerState(
                known_desired={"consumer:orders-processor": 7},
                external_changes={"consumer:orders-processor": NOW - 3600},
            ),
            NOW,
            (Action.SCALE_OUT, Reason.LAG_ABOVE_TARGET),
        ),
        (
            "our own change being read back is not someone else's",
            {},
            service(12),
            ScalerState(
                known_desired={"consumer:orders-processor": 4},
                intents=(Intent("consumer:orders-processor", "consumers", "scale_out", 4, 12, NOW - 60),),
            ),
            NOW,
            (Action.SCALE_OUT, Reason.LAG_ABOVE_TARGET),
        ),
    ],
)
def test_owned_decision(
    why: str, ecs: dict[str, str], svc: object, state: ScalerState, now: float, expected: tuple[Action, Reason]
) -> None:
    consumer = binding(ecs={"cluster": "orders", "service": "orders-processor", **ecs})
    result = owned_decision(consumer, WANT_12, svc, state, now)  # type: ignore[arg-type]
    assert (result.action, result.reason) == expected, f"{why}: {result.message}"
    if ecs.get("manage") == "min_max":
        assert (result.details[MIN_CAPACITY], result.details[MAX_CAPACITY]) == (12, 20)


# ---------------------------------------------------------------- intents read back
INTENT = Intent("brokers", "brokers", "scale_out", 3, 6, NOW, previous_action_t=NOW - 7200)


@pytest.mark.parametrize(
    ("why", "cluster_state", "kept", "last_action", "flows"),
    [
        (
            "MSK lists the operation: it happened",
            cluster(
                "UPDATING",
                "UPDATE_BROKER_COUNT",
                operations=(ClusterOperation("op-1", "UPDATE_BROKER_COUNT", "PENDING", NOW + 1),),
            ),
            0,
            NOW,
            1,
        ),
        ("ACTIVE and nothing listed: it did not happen", cluster(), 0, NOW - 7200, 0),
        (
            "an older operation does not count",
            cluster(
                operations=(ClusterOperation("op-0", "UPDATE_BROKER_COUNT", "UPDATE_COMPLETE", NOW - 3600, NOW - 1800),)
            ),
            0,
            NOW - 7200,
            0,
        ),
        ("MSK not read: kept", None, 1, NOW, 0),
        ("busy with another change: kept", cluster("UPDATING", "UPDATE_BROKER_STORAGE"), 1, NOW, 0),
    ],
)
def test_resolve_msk_intents(
    why: str, cluster_state: ClusterState | None, kept: int, last_action: float, flows: int
) -> None:
    state = ScalerState(last_action_t={"brokers": NOW}, intents=(INTENT,))
    resolved = resolve_intents(state, cluster_state, {}).state
    assert len(resolved.intents) == kept, why
    assert resolved.last_action_t.get("brokers") == last_action, why
    assert len(resolved.workflows) == flows, why


def test_resolve_consumer_intent_from_the_service_count() -> None:
    intent = Intent("consumer:orders-processor", "consumers", "scale_out", 4, 12, NOW, None)
    state = ScalerState(last_action_t={intent.key: NOW}, intents=(intent,))
    happened = resolve_intents(state, None, {"orders-processor": service(12)}).state
    assert (
        happened.intents == ()
        and happened.known_desired[intent.key] == 12
        and happened.last_action_t[intent.key] == NOW
    )
    not_sent = resolve_intents(state, None, {"orders-processor": service(4)}).state
    assert not_sent.intents == () and intent.key not in not_sent.last_action_t
