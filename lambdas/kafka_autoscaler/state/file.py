"""The state store in local files, for runs without AWS.

- `<path>`: the state document (the same JSON as the DynamoDB store, offsets included).
- `<path>.lock`: the lease, created atomically (a hard link fails if the lock exists) and
  holding its owner and expiry. An expired lock is taken over; that take-over is not atomic
  against a second process doing the same at the same moment, which local runs do not do.
- `<path>.log`: the decision log, one JSON object per line, changes and failures only.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from kafka_autoscaler.model import Outcome, OutcomeStatus, ScalerState
from kafka_autoscaler.ports import StateConflictError
from kafka_autoscaler.state.codec import dumps_state, loads_state


class FileStateStore:
    """ports.StateStore in a JSON file beside a lock file and a log."""

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)
        self._lock = self._path.with_name(self._path.name + ".lock")
        self._log = self._path.with_name(self._path.name + ".log")

    def acquire_lease(self, owner: str, now: float, ttl_s: float) -> bool:
        claim = json.dumps({"owner": owner, "expires_at": now + ttl_s})
        for _ in range(2):
            if self._create_lock(claim):
                return True
            holder = self._read_lock()
            if holder is not None and holder[0] == owner:
                self._write_atomically(self._lock, claim)
                return True
            if holder is not None and holder[1] >= now:
                return False
            self._lock.unlink(missing_ok=True)  # expired or unreadable: take it over
        return False

    def release_lease(self, owner: str) -> None:
        holder = self._read_lock()
        if holder is not None and holder[0] == owner:
            self._lock.unlink(missing_ok=True)

    def load(self) -> ScalerState:
        if not self._path.exists():
            return ScalerState()
        return loads_state(self._path.read_text(encoding="utf-8"))

    def save(self, state: ScalerState, outcomes: Sequence[Outcome], now: float) -> None:
        stored = self.load().version
        if stored != state.version:
            raise StateConflictError(f"state in {self._path} is at version {stored}; this tick loaded {state.version}")
        self._write_atomically(self._path, dumps_state(dataclasses.replace(state, version=state.version + 1)))
        logged = [o for o in outcomes if o.decision.changes_something or o.status is OutcomeStatus.FAILED]
        if logged:
            with self._log.open("a", encoding="utf-8") as handle:
                for outcome in logged:
                    handle.write(
                        json.dumps(outcome.as_dict() | {"decided_at": now}, sort_keys=True, default=str) + "\n"
                    )

    def _create_lock(self, claim: str) -> bool:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=self._path.parent, prefix=self._lock.name + ".")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(claim)
            os.link(temp, self._lock)  # atomic, with its content, and fails if the lock exists
        except FileExistsError:
            return False
        finally:
            Path(temp).unlink(missing_ok=True)
        return True

    def _read_lock(self) -> tuple[str, float] | None:
        try:
            holder = json.loads(self._lock.read_text(encoding="utf-8"))
            return str(holder["owner"]), float(holder["expires_at"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _write_atomically(self, target: Path, text: str) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=target.name + ".")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        Path(temp).replace(target)
