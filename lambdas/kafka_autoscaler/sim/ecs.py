"""A modelled ECS service: a desired count, and tasks that take a while to start consuming.

A task is billed from the moment it is asked for (Fargate bills from the image pull)
until it stops. Scale-in stops pending tasks first, then the newest running ones.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class EcsCounts:
    desired: int
    running: int
    pending: int


class EcsService:
    def __init__(self, start_delay_s: tuple[int, int], rng: random.Random) -> None:
        self._delay = start_delay_s
        self._rng = rng
        self._next_id = 0
        self._pending: list[tuple[int, int]] = []  # heap of (ready_at, task id)
        self.running: list[int] = []  # task ids, oldest first
        self.desired = 0
        self.changes = 0  # how many times the desired count was changed

    @property
    def counts(self) -> EcsCounts:
        return EcsCounts(self.desired, len(self.running), len(self._pending))

    @property
    def billed(self) -> int:
        return len(self.running) + len(self._pending)

    def start_running(self, count: int) -> list[int]:
        """Tasks already consuming when the run begins; returns their ids."""
        ids = [self._new_id() for _ in range(count)]
        self.running.extend(ids)
        self.desired = count
        return ids

    def set_desired(self, count: int, now: int) -> list[int]:
        """Ask for `count` tasks; returns the ids of running tasks stopped (they leave the group)."""
        if count < 0:
            raise ValueError(f"desired count cannot be negative ({count})")
        if count != self.desired:
            self.changes += 1
        self.desired = count
        live = self.billed
        for _ in range(count - live):
            ready_at = now + self._rng.randint(*self._delay)
            heapq.heappush(self._pending, (ready_at, self._new_id()))
        stopped: list[int] = []
        surplus = live - count
        if surplus > 0 and self._pending:
            keep = sorted(self._pending, key=lambda item: item[1])[: max(0, len(self._pending) - surplus)]
            surplus -= len(self._pending) - len(keep)
            self._pending = keep
            heapq.heapify(self._pending)
        if surplus > 0:
            stopped = self.running[-surplus:]
            del self.running[-surplus:]
        return stopped

    def next_start(self) -> int | None:
        """The second the next pending task starts consuming, if any is pending."""
        return self._pending[0][0] if self._pending else None

    def advance(self, now: int) -> list[int]:
        """Tasks whose start-up finished by `now`; they are running from now on."""
        started: list[int] = []
        while self._pending and self._pending[0][0] <= now:
            started.append(heapq.heappop(self._pending)[1])
        self.running.extend(started)
        return started

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id
