"""A state store in memory: for the simulator and tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from kafka_autoscaler.model import Outcome, ScalerState
from kafka_autoscaler.ports import StateConflictError


class MemoryStateStore:
    def __init__(self, state: ScalerState | None = None) -> None:
        self.state = state or ScalerState()
        self.log: list[tuple[float, Outcome]] = []
        self._lease: tuple[str, float] | None = None

    def acquire_lease(self, owner: str, now: float, ttl_s: float) -> bool:
        if self._lease is not None and self._lease[0] != owner and self._lease[1] > now:
            return False
        self._lease = (owner, now + ttl_s)
        return True

    def release_lease(self, owner: str) -> None:
        if self._lease is not None and self._lease[0] == owner:
            self._lease = None

    def load(self) -> ScalerState:
        return self.state

    def save(self, state: ScalerState, outcomes: Sequence[Outcome], now: float) -> None:
        if state.version != self.state.version:
            raise StateConflictError(f"state version {state.version} is stale (store has {self.state.version})")
        self.state = dataclasses.replace(state, version=state.version + 1)
        self.log.extend((now, outcome) for outcome in outcomes)
