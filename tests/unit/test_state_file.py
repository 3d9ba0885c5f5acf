"""FileStateStore: lease by lock file, versioned saves, the same codec, a JSON-lines log."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from kafka_autoscaler.model import (
    Action,
    Decision,
    OffsetSample,
    Outcome,
    OutcomeStatus,
    Reason,
    ScalerState,
    Target,
    Workflow,
)
from kafka_autoscaler.ports import StateConflictError
from kafka_autoscaler.state.file import FileStateStore

NOW = 1_700_000_000.0


def outcome(action: Action, status: OutcomeStatus = OutcomeStatus.APPLIED) -> Outcome:
    decision = Decision(
        Target.CONSUMERS,
        "consumer:orders",
        action,
        2,
        4 if action is Action.SCALE_OUT else 2,
        Reason.LAG_ABOVE_TARGET if action is Action.SCALE_OUT else Reason.WITHIN_TOLERANCE,
        "m",
    )
    return Outcome(decision, status)


def test_a_fresh_store_loads_an_empty_state(tmp_path: Path) -> None:
    assert FileStateStore(tmp_path / "state.json").load() == ScalerState()


def test_saved_state_loads_back_with_the_next_version(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path / "nested" / "state.json")
    state = ScalerState(
        last_action_t={"consumer:orders": NOW},
        end_offsets={"orders:0": (OffsetSample(NOW - 60, 10), OffsetSample(NOW, 70))},
        workflows=(Workflow("broker_drain", NOW, 6, 3, None, (4, 5, 6)),),
    )
    store.save(state, [], NOW)
    assert store.load() == dataclasses.replace(state, version=1)


def test_a_save_over_a_newer_version_is_refused(tmp_path: Path) -> None:
    first, second = FileStateStore(tmp_path / "s.json"), FileStateStore(tmp_path / "s.json")
    loaded_by_first, loaded_by_second = first.load(), second.load()
    first.save(loaded_by_first, [], NOW)
    with pytest.raises(StateConflictError, match="version 1"):
        second.save(loaded_by_second, [], NOW)
    assert first.load().version == 1


def test_the_log_keeps_changes_and_failures_only(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path / "s.json")
    store.save(
        ScalerState(),
        [outcome(Action.SCALE_OUT), outcome(Action.HOLD), outcome(Action.SCALE_OUT, OutcomeStatus.FAILED)],
        NOW,
    )
    lines = [json.loads(line) for line in (tmp_path / "s.json.log").read_text().splitlines()]
    assert [(entry["action"], entry["status"], entry["decided_at"]) for entry in lines] == [
        ("scale_out", "applied", NOW),
        ("scale_out", "failed", NOW),
    ]


def test_the_lease_is_exclusive_until_released_or_expired(tmp_path: Path) -> None:
    a, b = FileStateStore(tmp_path / "s.json"), FileStateStore(tmp_path / "s.json")
    assert a.acquire_lease("a", NOW, 300)
    assert not b.acquire_lease("b", NOW + 10, 300)
    assert a.acquire_lease("a", NOW + 20, 300)  # the holder renews
    assert not b.acquire_lease("b", NOW + 319, 300)  # the renewal holds past the first expiry
    b.release_lease("b")  # not the holder: nothing happens
    assert not b.acquire_lease("b", NOW + 319, 300)
    a.release_lease("a")
    assert b.acquire_lease("b", NOW + 330, 300)
    assert not a.acquire_lease("a", NOW + 340, 300)
    assert a.acquire_lease("a", NOW + 631, 300)  # b's lease expired at NOW + 630


def test_an_unreadable_lock_file_is_taken_over(tmp_path: Path) -> None:
    (tmp_path / "s.json.lock").write_text("garbage")
    assert FileStateStore(tmp_path / "s.json").acquire_lease("a", NOW, 300)
    assert json.loads((tmp_path / "s.json.lock").read_text()) == {"owner": "a", "expires_at": NOW + 300}
