"""Storage policy: one row per case, with the expected decision and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka_autoscaler.config import StoragePolicy
from kafka_autoscaler.model import Action, BrokerLoad, ClusterState, Reason, Sample, ScalerState
from kafka_autoscaler.policy.storage import decide_storage

NOW = 1_700_000_000.0
HOUR = 3600.0


def disk(start_pct: float, per_hour: float, minutes: int = 60) -> tuple[Sample, ...]:
    return tuple(Sample(NOW - 60 * m, start_pct + per_hour * (minutes - m) / 60) for m in range(minutes, -1, -1))


def cluster(
    used: float = 40.0, per_hour: float = 0.0, volume: int = 1000, last_update: float | None = None, brokers: int = 3
) -> ClusterState:
    loads = tuple(BrokerLoad(i, disk_used_pct=disk(used - per_hour, per_hour)) for i in range(1, brokers + 1))
    return ClusterState("arn", "ACTIVE", "V1", 3, 3, "kafka.m5.large", volume, None, last_update, loads)


@dataclass(frozen=True)
class Case:
    name: str
    why: str
    cluster: ClusterState | None
    expected: tuple[Action, int, Reason]
    policy: dict[str, Any] = field(default_factory=dict)
    state: ScalerState = field(default_factory=ScalerState)


CASES = [
    Case("fine", "40% and flat", cluster(), (Action.HOLD, 1000, Reason.DISK_OK)),
    Case(
        "above target",
        "75% > 70%: grow to 75/70 x 1000 = 1072 GiB (more than +10%? no: 1100)",
        cluster(used=75.0),
        (Action.EXPAND, 1100, Reason.DISK_ABOVE_TARGET),
    ),
    Case(
        "far above target",
        "90%: 900 GiB used must be 70% -> 1286 GiB",
        cluster(used=90.0),
        (Action.EXPAND, 1286, Reason.DISK_ABOVE_TARGET),
    ),
    Case(
        "will fill",
        "60% growing 5 points/h reaches 90% in 6 h -> 900/0.7 = 1286",
        cluster(used=60.0, per_hour=5.0),
        (Action.EXPAND, 1286, Reason.DISK_WILL_FILL),
    ),
    Case(
        "slow growth is fine",
        "60% growing 1 point/h reaches 66% in 6 h",
        cluster(used=60.0, per_hour=1.0),
        (Action.HOLD, 1000, Reason.DISK_OK),
    ),
    Case(
        "small volume gets +10 GiB",
        "75% of 50 GiB: +10% is 55, +10 GiB is 60",
        cluster(used=75.0, volume=50),
        (Action.EXPAND, 60, Reason.DISK_ABOVE_TARGET),
    ),
    Case(
        "too soon after MSK's last change",
        "changed 2 h ago; MSK allows one per 6 h",
        cluster(used=80.0, last_update=NOW - 2 * HOUR),
        (Action.HOLD, 1000, Reason.STORAGE_CHANGE_TOO_SOON),
    ),
    Case(
        "too soon after our own change",
        "we changed it 5 h ago",
        cluster(used=80.0),
        (Action.HOLD, 1000, Reason.STORAGE_CHANGE_TOO_SOON),
        state=ScalerState(last_action_t={"storage": NOW - 5 * HOUR}),
    ),
    Case(
        "at the maximum",
        "16384 GiB is MSK's limit",
        cluster(used=80.0, volume=16384),
        (Action.HOLD, 16384, Reason.AT_MAX_VOLUME),
    ),
    Case(
        "capped at the maximum",
        "would want 17,000",
        cluster(used=80.0, volume=15000),
        (Action.EXPAND, 16384, Reason.DISK_ABOVE_TARGET),
    ),
    Case(
        "missing disk data",
        "no samples for the brokers",
        ClusterState("arn", "ACTIVE", "V1", 3, 3, "t", 1000),
        (Action.HOLD, 1000, Reason.MISSING_DATA),
    ),
    Case("missing cluster", "MSK unreadable", None, (Action.HOLD, 0, Reason.MISSING_DATA)),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_storage_decision(case: Case) -> None:
    d = decide_storage(case.cluster, StoragePolicy.model_validate(case.policy), case.state, NOW)
    assert d is not None
    assert (d.action, d.desired, d.reason) == case.expected, f"{case.why}: {d.message}"


def test_other_modes_leave_storage_alone() -> None:
    for mode in ("aws_target_tracking", "off"):
        assert (
            decide_storage(cluster(used=99.0), StoragePolicy.model_validate({"mode": mode}), ScalerState(), NOW) is None
        )


@settings(max_examples=300, deadline=None)
@given(used=st.floats(0, 100), per_hour=st.floats(-5, 20), volume=st.integers(1, 16384))
def test_storage_never_shrinks_and_respects_the_limit(used: float, per_hour: float, volume: int) -> None:
    d = decide_storage(cluster(used=used, per_hour=per_hour, volume=volume), StoragePolicy(), ScalerState(), NOW)
    assert d is not None
    assert d.desired >= volume or d.action is Action.HOLD
    assert d.desired <= 16384
    if d.action is Action.EXPAND:
        assert d.desired >= min(16384, volume + 10, round(volume * 1.1))
