"""Where every partition replica should live: a pure, minimal-move placement.

Input: the current assignment ``{(topic, partition): (broker, ...)}`` in Kafka's
order (the first broker is the preferred leader), the rack of every broker that
may hold replicas, and the brokers to drain. Output: the target assignment and
the moves that get there.

Rules, hardest first:

1. No replica on a drained broker or on a broker the cluster does not list.
2. Replicas of one partition on distinct brokers and spread over racks: with
   ``RF <= racks`` every replica sits in its own rack; with fewer racks no rack
   holds more than ``ceil(RF / racks)`` and as many racks as possible are used.
3. Replicas per broker differ by at most one.
4. Preferred leaders per broker differ by at most one.

Rules 3 and 4 hold whenever rule 2 allows them; racks of unequal size (say
two brokers in one AZ and one in each other) can make an even spread impossible,
and the result is then the most even spread the greedy search reaches.

Algorithm (greedy, deterministic, as few replica copies as it can):

* **forced moves**: a replica on a drained or unknown broker goes to the eligible
  broker in the least-used rack of that partition, then with the fewest replicas;
  a partition that breaks rule 2 has a replica of its most crowded rack moved the
  same way.
* **replica balance**: while the fullest and the emptiest broker differ by two or
  more, move one replica along the shortest path from a fullest broker to an
  emptiest one (usually a direct move; a chain of moves only when rule 2 blocks
  every direct one). Each step lowers the sum of squared counts, so it ends.
  Among candidate replicas it prefers ones that already move in this plan (free),
  then followers over leaders, then the topic least present on the receiver.
* **leader balance**: the same search over preferred leaders; a leader change is a
  reorder of the replica list (no data copied), undone by preferring partitions
  whose leader already changes.

Costs count replica copies against the *current* assignment, so a replica moved
twice within the plan is still one copy, and moving one back costs nothing.

MSK's own canary topics stay where they are and count for nothing: "move all partitions except
the ones for topics __amazon_msk_canary and __amazon_msk_canary_state" before removing a broker
(https://docs.aws.amazon.com/msk/latest/developerguide/msk-remove-broker.html).
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

PartitionId = tuple[str, int]
Assignment = Mapping[PartitionId, Sequence[int]]
RackSignature = tuple[str, ...]  # sorted racks of one partition's replicas
Preference = tuple[int | str, ...]  # lower is better; compared position by position
Candidate = tuple[Preference, PartitionId]
CandidateFinder = Callable[[int, int, set[PartitionId]], Candidate | None]


# Internal topics MSK creates for its health and diagnostic metrics; never moved by the scaler.
MSK_CANARY_TOPICS = frozenset({"__amazon_msk_canary", "__amazon_msk_canary_state"})


def is_canary(topic: str) -> bool:
    return topic in MSK_CANARY_TOPICS


class PlacementError(ValueError):
    """The assignment cannot be placed (too few brokers, mixed racks, bad replica lists)."""


@dataclass(frozen=True)
class Move:
    """One partition whose replica list changes."""

    topic: str
    partition: int
    current: tuple[int, ...]
    target: tuple[int, ...]

    @property
    def adding(self) -> tuple[int, ...]:
        """Brokers that receive a copy of the partition."""
        return tuple(b for b in self.target if b not in self.current)

    @property
    def removing(self) -> tuple[int, ...]:
        return tuple(b for b in self.current if b not in self.target)

    @property
    def copies_data(self) -> bool:
        return bool(self.adding)

    @property
    def leader_changes(self) -> bool:
        return self.current[0] != self.target[0]


@dataclass(frozen=True)
class Placement:
    """The target assignment and the moves from the current one, sorted by partition."""

    target: dict[PartitionId, tuple[int, ...]]
    moves: tuple[Move, ...]
    brokers: tuple[int, ...]  # brokers that may hold replicas

    @property
    def replica_copies(self) -> int:
        """Replicas created on a new broker: the data the plan copies, in replicas."""
        return sum(len(m.adding) for m in self.moves)

    @property
    def leader_changes(self) -> int:
        return sum(1 for m in self.moves if m.leader_changes)

    def summary(self) -> str:
        counts = replica_counts(self.target, self.brokers)
        return (
            f"{len(self.moves)} partitions change: {self.replica_copies} replica copies, "
            f"{self.leader_changes} preferred-leader changes; replicas per broker "
            f"{min(counts.values(), default=0)}-{max(counts.values(), default=0)}"
        )


def replica_counts(assignment: Assignment, brokers: Iterable[int]) -> dict[int, int]:
    """Replicas held by each of ``brokers`` (zero included), MSK's canary topics left out."""
    counts = dict.fromkeys(brokers, 0)
    for (topic, _), replicas in assignment.items():
        if is_canary(topic):
            continue
        for broker in replicas:
            if broker in counts:
                counts[broker] += 1
    return counts


def leader_counts(assignment: Assignment, brokers: Iterable[int]) -> dict[int, int]:
    """Preferred leaders (first replicas) held by each of ``brokers``."""
    counts = dict.fromkeys(brokers, 0)
    for replicas in assignment.values():
        if replicas and replicas[0] in counts:
            counts[replicas[0]] += 1
    return counts


def plan_placement(
    current: Assignment,
    racks: Mapping[int, str | None],
    exclude: Collection[int] = (),
) -> Placement:
    """The target assignment and the moves to reach it.

    ``racks`` lists every broker that may hold replicas (its rack, or None when the
    cluster has no racks); brokers in ``exclude`` are drained.

    >>> plan_placement({("t", 0): (1, 2)}, {1: None, 2: None, 3: None}, exclude={1}).target
    {('t', 0): (3, 2)}
    """
    movable = {pid: replicas for pid, replicas in current.items() if not is_canary(pid[0])}
    placement = _Planner(movable, racks, frozenset(exclude)).plan()
    kept = {pid: tuple(replicas) for pid, replicas in current.items() if is_canary(pid[0])}
    if not kept:
        return placement
    return Placement(dict(sorted({**placement.target, **kept}.items())), placement.moves, placement.brokers)


class _Planner:
    """Mutable working state of one plan; `plan()` runs the three phases once."""

    def __init__(self, current: Assignment, racks: Mapping[int, str | None], exclude: frozenset[int]) -> None:
        self.brokers = tuple(sorted(b for b in racks if b not in exclude))
        if not self.brokers:
            raise PlacementError(f"no broker can hold replicas: brokers {sorted(racks)}, excluded {sorted(exclude)}")
        self.rack = _rack_keys(racks, current)
        self.rack_count = len({self.rack[b] for b in self.brokers})
        self.original = {pid: _checked(pid, replicas) for pid, replicas in current.items()}
        self.replicas = {pid: list(replicas) for pid, replicas in self.original.items()}
        self.eligible = frozenset(self.brokers)
        self.load = Counter(dict.fromkeys(self.brokers, 0))
        self.topic_load: Counter[tuple[str, int]] = Counter()
        # Partitions on each broker, grouped by the racks of their replicas: whether a
        # move keeps rule 2 depends only on that group, so a blocked group is skipped whole.
        self.groups: dict[int, dict[RackSignature, set[PartitionId]]] = {b: {} for b in self.brokers}
        self.rack_moves: dict[tuple[RackSignature, str, str], bool] = {}
        self.leaders: Counter[int] = Counter()
        self.led: dict[int, set[PartitionId]] = {b: set() for b in self.brokers}
        self.topic_leaders: Counter[tuple[str, int]] = Counter()
        for pid, replicas in self.replicas.items():
            if len(replicas) > len(self.brokers):
                raise PlacementError(
                    f"{pid[0]}-{pid[1]} has {len(replicas)} replicas but only {len(self.brokers)} brokers "
                    f"{list(self.brokers)} can hold them"
                )
            for broker in replicas:
                if broker in self.eligible:
                    self._count(pid, broker, 1)

    # ------------------------------------------------------------------ phases
    def plan(self) -> Placement:
        for pid in sorted(self.replicas):
            self._place_forced(pid)
        for pid in sorted(self.replicas):
            self._spread_racks(pid)
        self._index_groups()
        self._balance(self.load, self._replica_candidates, self._move_replica)
        self._count_leaders()
        self._balance(self.leaders, self._leader_candidates, self._move_leader)
        target = {pid: tuple(replicas) for pid, replicas in sorted(self.replicas.items())}
        moves = tuple(
            Move(pid[0], pid[1], self.original[pid], replicas)
            for pid, replicas in target.items()
            if replicas != self.original[pid]
        )
        return Placement(target, moves, self.brokers)

    def _place_forced(self, pid: PartitionId) -> None:
        """Replace every replica on a drained or unknown broker."""
        replicas = self.replicas[pid]
        for index, broker in enumerate(replicas):
            if broker not in self.eligible:
                others = [b for b in replicas if b in self.eligible]
                replicas[index] = self._best_destination(others)
                self._count(pid, replicas[index], 1)

    def _spread_racks(self, pid: PartitionId) -> None:
        """Move replicas out of over-used racks while that lowers the rack excess."""
        replicas = self.replicas[pid]
        while (excess := self._rack_excess(replicas)) > 0:
            per_rack = Counter(self.rack[b] for b in replicas)
            crowded = [b for b in replicas if per_rack[self.rack[b]] > 1]
            # Why: move a follower off the fullest broker first; leadership stays put.
            source = max(crowded, key=lambda b: (b != replicas[0], self.load[b], -b))
            others = [b for b in replicas if b != source]
            destination = self._best_destination(others)
            trial = [destination if b == source else b for b in replicas]
            if self._rack_excess(trial) >= excess:
                return
            replicas[replicas.index(source)] = destination
            self._count(pid, source, -1)
            self._count(pid, destination, 1)

    def _best_destination(self, others: Sequence[int]) -> int:
        used = Counter(self.rack[b] for b in others)
        free = [b for b in self.brokers if b not in others]
        return min(free, key=lambda b: (used[self.rack[b]], self.load[b], b))

    # ------------------------------------------------------------------ balancing
    def _balance(
        self, weight: Counter[int], candidates: CandidateFinder, apply: Callable[[PartitionId, int, int], None]
    ) -> None:
        """Shift units from the heaviest to the lightest broker until they differ by at most one.

        ``candidates(u, v, used)`` gives the best partition to shift from u to v
        (with its preference key) or None; ``apply`` shifts it and updates ``weight``.
        """
        while (path := self._improving_path(weight, candidates)) is not None:
            for pid, source, destination in path:
                apply(pid, source, destination)

    def _improving_path(
        self, weight: Counter[int], candidates: CandidateFinder
    ) -> list[tuple[PartitionId, int, int]] | None:
        """A path that shifts one unit from a broker to one at least two lighter.

        Heaviest sources and lightest sinks first; lighter sources only when rule 2
        blocks every path out of the heaviest. None: no step is left (balanced, or
        the most even spread rule 2 allows).
        """
        low = min(weight.values())
        lightest = {b for b in self.brokers if weight[b] == low}
        for level in sorted({w for w in weight.values() if w >= low + 2}, reverse=True):
            sources = [b for b in self.brokers if weight[b] == level]
            lighter = {b for b in self.brokers if weight[b] <= level - 2}
            path = (
                self._direct_step(sources, lightest, candidates)
                or self._shortest_path(sources, lightest, candidates)
                or self._shortest_path(sources, lighter, candidates)
            )
            if path:
                return path
        return None

    def _direct_step(
        self, sources: Sequence[int], sinks: set[int], candidates: CandidateFinder
    ) -> list[tuple[PartitionId, int, int]] | None:
        """The most preferred single move from the first source that has one to a sink."""
        for source in sources:
            best: tuple[Preference, PartitionId, int] | None = None
            for sink in sorted(sinks):
                found = candidates(source, sink, set())
                if found is not None and (best is None or found[0] < best[0]):
                    best = (found[0], found[1], sink)
            if best is not None:
                return [(best[1], source, best[2])]
        return None

    def _shortest_path(
        self, sources: Sequence[int], sinks: set[int], candidates: CandidateFinder
    ) -> list[tuple[PartitionId, int, int]] | None:
        """Breadth-first search from ``sources`` to a sink: a chain of moves, each on another partition."""
        parent: dict[int, tuple[int, PartitionId] | None] = dict.fromkeys(sources)
        queue = deque(sources)
        while queue:
            source = queue.popleft()
            used = {pid for pid, _, _ in self._trace(parent, source)}
            found: dict[int, Candidate] = {}
            for destination in self.brokers:
                if destination not in parent and (best := candidates(source, destination, used)) is not None:
                    found[destination] = best
            ranked = sorted(found, key=lambda b: (b not in sinks, found[b][0], b))
            for destination in ranked:
                parent[destination] = (source, found[destination][1])
                if destination in sinks:
                    return self._trace(parent, destination)
                queue.append(destination)
        return None

    @staticmethod
    def _trace(parent: Mapping[int, tuple[int, PartitionId] | None], node: int) -> list[tuple[PartitionId, int, int]]:
        steps: list[tuple[PartitionId, int, int]] = []
        while (link := parent[node]) is not None:
            source, pid = link
            steps.append((pid, source, node))
            node = source
        return steps[::-1]

    # ------------------------------------------------------------------ replicas
    def _replica_candidates(self, source: int, destination: int, used: set[PartitionId]) -> Candidate | None:
        """The replica on ``source`` best moved to ``destination``: free moves, followers, spread topics."""
        best: Candidate | None = None
        from_rack, to_rack = self.rack[source], self.rack[destination]
        for signature, pids in self.groups[source].items():
            if not self._keeps_racks(signature, from_rack, to_rack):
                continue
            for pid in pids:
                replicas = self.replicas[pid]
                if pid in used or destination in replicas:
                    continue
                original = self.original[pid]
                cost = (destination not in original) - (source not in original)
                topic = pid[0]
                key: Preference = (
                    cost,
                    replicas[0] == source,
                    self.topic_load[topic, destination] - self.topic_load[topic, source],
                    pid[1],
                    topic,
                )
                if best is None or key < best[0]:
                    best = (key, pid)
        return best

    def _move_replica(self, pid: PartitionId, source: int, destination: int) -> None:
        replicas = self.replicas[pid]
        self._ungroup(pid)
        replicas[replicas.index(source)] = destination
        self._count(pid, source, -1)
        self._count(pid, destination, 1)
        self._group(pid)

    def _keeps_racks(self, signature: RackSignature, from_rack: str, to_rack: str) -> bool:
        """Whether moving a replica between racks keeps the partition's rack excess from growing."""
        if from_rack == to_rack:
            return True
        known = self.rack_moves.get((signature, from_rack, to_rack))
        if known is not None:
            return known
        n_from, n_to = signature.count(from_rack), signature.count(to_rack)
        cap = math.ceil(len(signature) / self.rack_count)
        crowding = max(0, n_to + 1 - cap) - max(0, n_to - cap) + max(0, n_from - 1 - cap) - max(0, n_from - cap)
        wanted = min(len(signature), self.rack_count)
        distinct = len(set(signature))
        after = distinct + (n_to == 0) - (n_from == 1)
        keeps = crowding + max(0, wanted - after) - max(0, wanted - distinct) <= 0
        self.rack_moves[signature, from_rack, to_rack] = keeps
        return keeps

    def _rack_excess(self, replicas: Sequence[int]) -> int:
        """How far a replica list is from rule 2: zero when it is spread as well as it can be."""
        per_rack = Counter(self.rack[b] for b in replicas)
        cap = math.ceil(len(replicas) / self.rack_count)
        crowding = sum(max(0, count - cap) for count in per_rack.values())
        return crowding + max(0, min(len(replicas), self.rack_count) - len(per_rack))

    def _count(self, pid: PartitionId, broker: int, step: int) -> None:
        self.load[broker] += step
        self.topic_load[pid[0], broker] += step

    def _signature(self, pid: PartitionId) -> RackSignature:
        return tuple(sorted(self.rack[b] for b in self.replicas[pid]))

    def _index_groups(self) -> None:
        for pid in self.replicas:
            self._group(pid)

    def _group(self, pid: PartitionId) -> None:
        signature = self._signature(pid)
        for broker in self.replicas[pid]:
            self.groups[broker].setdefault(signature, set()).add(pid)

    def _ungroup(self, pid: PartitionId) -> None:
        signature = self._signature(pid)
        for broker in self.replicas[pid]:
            group = self.groups[broker][signature]
            group.discard(pid)
            if not group:
                del self.groups[broker][signature]

    # ------------------------------------------------------------------ leaders
    def _count_leaders(self) -> None:
        self.leaders.update(dict.fromkeys(self.brokers, 0))
        for pid, replicas in self.replicas.items():
            self.leaders[replicas[0]] += 1
            self.led[replicas[0]].add(pid)
            self.topic_leaders[pid[0], replicas[0]] += 1

    def _leader_candidates(self, source: int, destination: int, used: set[PartitionId]) -> Candidate | None:
        """The partition led by ``source`` best led by ``destination`` (a replica there) instead."""
        best: Candidate | None = None
        for pid in self.led[source]:
            if pid in used or destination not in self.replicas[pid]:
                continue
            first = self.original[pid][0]
            cost = (destination != first) - (source != first)
            topic = pid[0]
            key: Preference = (
                cost,
                self.topic_leaders[topic, destination] - self.topic_leaders[topic, source],
                pid[1],
                topic,
            )
            if best is None or key < best[0]:
                best = (key, pid)
        return best

    def _move_leader(self, pid: PartitionId, source: int, destination: int) -> None:
        replicas = self.replicas[pid]
        replicas.remove(destination)
        replicas.insert(0, destination)
        self.leaders[source] -= 1
        self.leaders[destination] += 1
        self.led[source].discard(pid)
        self.led[destination].add(pid)
        self.topic_leaders[pid[0], source] -= 1
        self.topic_leaders[pid[0], destination] += 1


def _checked(pid: PartitionId, replicas: Sequence[int]) -> tuple[int, ...]:
    if not replicas:
        raise PlacementError(f"{pid[0]}-{pid[1]} has no replicas")
    if len(set(replicas)) != len(replicas):
        raise PlacementError(f"{pid[0]}-{pid[1]} lists a broker twice: {list(replicas)}")
    return tuple(replicas)


def _rack_keys(racks: Mapping[int, str | None], current: Assignment) -> dict[int, str]:
    """A rack key for every broker; without racks each broker is its own rack.

    Brokers only seen in the assignment (gone from the cluster) get a rack of their own.
    """
    named = {b for b, rack in racks.items() if rack is not None}
    if named and len(named) != len(racks):
        missing = sorted(b for b, rack in racks.items() if rack is None)
        raise PlacementError(f"brokers {missing} have no rack while others do: set broker.rack on all or none")
    keys = {b: (rack if rack is not None else f"broker-{b}") for b, rack in racks.items()}
    for replicas in current.values():
        for broker in replicas:
            keys.setdefault(broker, f"gone-{broker}")
    return keys
