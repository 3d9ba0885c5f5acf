"""A modelled consumer group: who owns which partition, and the pauses rebalances cause.

Eager (RangeAssignor, the classic protocol): any join or leave stops every partition
for the rebalance. Cooperative (CooperativeStickyAssignor): partitions stay with their
owner where the balance allows, and only the ones that move stop.
Joins or leaves while a rebalance is under way fold into it (one rebalance, extended).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kafka_autoscaler.sim.settings import RebalanceProtocol

IntArray = npt.NDArray[np.int64]
NO_OWNER = -1


def range_assignment(partitions: int, members: list[int]) -> list[int]:
    """Contiguous blocks, the first `partitions % n` members one partition more (Kafka's RangeAssignor)."""
    if not members:
        return [NO_OWNER] * partitions
    share, extra = divmod(partitions, len(members))
    owners: list[int] = []
    for index, member in enumerate(members):
        owners += [member] * (share + (1 if index < extra else 0))
    return owners


def sticky_assignment(previous: list[int], members: list[int]) -> list[int]:
    """Balanced counts (floor or ceil of partitions / members), moving as few partitions as possible."""
    partitions = len(previous)
    if not members:
        return [NO_OWNER] * partitions
    share, extra = divmod(partitions, len(members))
    held: dict[int, list[int]] = {m: [] for m in members}
    for partition, owner in enumerate(previous):
        if owner in held:
            held[owner].append(partition)
    free: list[int] = [p for p, owner in enumerate(previous) if owner not in held]
    # Members holding the most keep one extra first, so the fewest partitions move.
    for member in sorted(members, key=lambda m: -len(held[m])):
        allowed = share + (1 if extra > 0 and len(held[member]) > share else 0)
        if allowed > share:
            extra -= 1
        free += held[member][allowed:]
        held[member] = held[member][:allowed]
    free.sort()
    for member in sorted(members, key=lambda m: len(held[m])):
        while len(held[member]) < share and free:
            held[member].append(free.pop(0))
    for member in sorted(members, key=lambda m: len(held[m])):
        if not free:
            break
        if extra > 0 and len(held[member]) == share:
            held[member].append(free.pop(0))
            extra -= 1
    owners = [NO_OWNER] * partitions
    for member, owned in held.items():
        for partition in owned:
            owners[partition] = member
    return owners


class ConsumerGroup:
    def __init__(self, partitions: int, protocol: RebalanceProtocol, pause_s: int) -> None:
        self.partitions = partitions
        self.protocol = protocol
        self.pause_s = pause_s
        self.members: list[int] = []  # task ids, in join order
        self.owners: list[int] = [NO_OWNER] * partitions  # task id per partition
        self.owner_ids: IntArray = np.full(partitions, NO_OWNER, dtype=np.int64)  # the same, as an array
        self.paused_until = np.zeros(partitions, dtype=np.float64)
        self.rebalancing_until = -1.0
        self.rebalances = 0
        self._slots: IntArray = np.full(partitions, 0, dtype=np.int64)
        self._next_refresh = 0.0

    def state(self, now: float) -> str:
        if not self.members:
            return "Empty"
        return "PreparingRebalance" if now < self.rebalancing_until else "Stable"

    def settle(self, members: list[int]) -> None:
        """Start with these members and partitions spread over them, nothing paused."""
        self.members = list(members)
        self.owners = range_assignment(self.partitions, self.members)
        self.owner_ids = np.array(self.owners, dtype=np.int64)
        self._next_refresh = 0.0

    def change(self, now: int, joined: list[int], left: list[int]) -> None:
        """Members joined or left: reassign, pause what the protocol stops, count the rebalance."""
        if not joined and not left:
            return
        gone = set(left)
        stopped: npt.NDArray[np.bool_]
        self.members = [m for m in self.members if m not in gone] + joined
        if self.protocol is RebalanceProtocol.EAGER:
            new = range_assignment(self.partitions, self.members)
            stopped = np.ones(self.partitions, dtype=bool)
        else:
            new = sticky_assignment(self.owners, self.members)
            stopped = np.array([a != b for a, b in zip(self.owners, new, strict=True)], dtype=bool)
        self.owners = new
        self.owner_ids = np.array(new, dtype=np.int64)
        self._next_refresh = now  # the slots follow the new owners (all idle when the last member left)
        if not self.members:
            return
        until = now + self.pause_s
        if now >= self.rebalancing_until:
            self.rebalances += 1
        self.rebalancing_until = max(self.rebalancing_until, until)
        self.paused_until[stopped] = np.maximum(self.paused_until[stopped], until)

    @property
    def next_refresh(self) -> float:
        """After slots(now): the first time the slots change without a join or leave (a pause ends)."""
        return self._next_refresh

    def slots(self, now: float) -> IntArray:
        """Per partition, the index of its consuming member in `members`, or len(members) when none.

        Paused and unowned partitions point at the extra slot, whose capacity is zero.
        """
        if now >= self._next_refresh:
            index = {member: i for i, member in enumerate(self.members)}
            idle = len(self.members)
            slots: IntArray = np.array([index.get(owner, idle) for owner in self.owners], dtype=np.int64)
            slots[self.paused_until > now] = idle
            self._slots = slots
            later = self.paused_until[self.paused_until > now]
            self._next_refresh = float(later.min()) if later.size else float("inf")
        return self._slots
