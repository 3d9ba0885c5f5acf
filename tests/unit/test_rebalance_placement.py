"""Partition placement: balance rules, rack spread, minimal moves, clear errors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka_autoscaler.rebalance.placement import (
    Assignment,
    Move,
    PartitionId,
    PlacementError,
    leader_counts,
    plan_placement,
    replica_counts,
)

THREE_AZS = {1: "az-1", 2: "az-2", 3: "az-3"}
SIX_IN_THREE_AZS = {**THREE_AZS, 4: "az-1", 5: "az-2", 6: "az-3"}
NO_RACKS_3 = {1: None, 2: None, 3: None}
NO_RACKS_4 = {**NO_RACKS_3, 4: None}


def rotated(partitions: int, rf: int, brokers: int = 3, topic: str = "t") -> dict[PartitionId, tuple[int, ...]]:
    """A balanced assignment: partition p on brokers p, p+1, ... (mod ``brokers``)."""
    return {(topic, p): tuple((p + i) % brokers + 1 for i in range(rf)) for p in range(partitions)}


def spread(counts: Mapping[int, int]) -> int:
    return max(counts.values()) - min(counts.values())


@dataclass(frozen=True)
class Case:
    why: str
    current: Assignment
    racks: Mapping[int, str | None]
    exclude: tuple[int, ...]
    copies: int  # replicas created on new brokers
    replicas_per_broker: tuple[int, int]  # (min, max) over the brokers that stay


CASES = [
    Case("balanced cluster: nothing moves", rotated(12, 3), THREE_AZS, (), 0, (12, 12)),
    Case("4th broker, no racks: a quarter of 36 replicas move", rotated(12, 3), NO_RACKS_4, (), 9, (9, 9)),
    Case(
        "one broker per AZ added, RF 3: half the replicas move, each within its AZ",
        rotated(12, 3),
        SIX_IN_THREE_AZS,
        (),
        18,
        (6, 6),
    ),
    Case(
        "RF 2 over 3 AZs, 4th broker in az-1: even spread is still possible",
        rotated(12, 2),
        {**THREE_AZS, 4: "az-1"},
        (),
        6,
        (6, 6),
    ),
    Case(
        "drain broker 4: only its replicas move",
        rotated(12, 2, brokers=4),
        NO_RACKS_4,
        (4,),
        6,
        (8, 8),
    ),
    Case(
        "drain one broker per AZ after a scale-out",
        rotated(12, 3, brokers=6),
        SIX_IN_THREE_AZS,
        (4, 5, 6),
        18,
        (12, 12),
    ),
    Case(
        "replica on a broker the cluster no longer lists is replaced",
        {("t", 0): (1, 9), ("t", 1): (2, 3), ("t", 2): (3, 1)},
        NO_RACKS_3,
        (),
        1,
        (2, 2),
    ),
    Case(
        "two replicas in one AZ are split over AZs",
        {("t", 0): (1, 4), ("t", 1): (2, 5), ("t", 2): (3, 6)},
        SIX_IN_THREE_AZS,
        (),
        3,
        (1, 1),
    ),
    Case(
        "every leader on broker 1: leaders spread by reordering, no copy",
        {("t", p): (1, 2, 3) for p in range(6)},
        THREE_AZS,
        (),
        0,
        (6, 6),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.why for c in CASES])
def test_placement_table(case: Case) -> None:
    placement = plan_placement(case.current, case.racks, case.exclude)

    counts = replica_counts(placement.target, placement.brokers)
    assert placement.replica_copies == case.copies
    assert (min(counts.values()), max(counts.values())) == case.replicas_per_broker
    assert spread(leader_counts(placement.target, placement.brokers)) <= 1
    assert not any(b in case.exclude for replicas in placement.target.values() for b in replicas)
    if all(rack is not None for rack in case.racks.values()):
        assert all(len({case.racks[b] for b in r}) == len(r) for r in placement.target.values())
    assert placement.target.keys() == case.current.keys()
    assert all(len(placement.target[pid]) == len(case.current[pid]) for pid in case.current)


def test_moves_list_only_changed_partitions_with_their_copies() -> None:
    current = rotated(12, 3)
    placement = plan_placement(current, NO_RACKS_4)

    assert {(m.topic, m.partition) for m in placement.moves} == {
        pid for pid in current if placement.target[pid] != current[pid]
    }
    for move in placement.moves:
        assert move.current == current[move.topic, move.partition]
        assert move.target == placement.target[move.topic, move.partition]
        assert set(move.adding) == set(move.target) - set(move.current)
        assert set(move.removing) == set(move.current) - set(move.target)
    assert sum(len(m.adding) for m in placement.moves) == placement.replica_copies
    assert "9 replica copies" in placement.summary()


def test_leader_only_move_copies_nothing() -> None:
    move = Move("t", 0, (1, 2, 3), (2, 1, 3))
    assert (move.copies_data, move.leader_changes, move.adding, move.removing) == (False, True, (), ())


def test_uneven_azs_keep_replicas_in_distinct_azs_at_the_cost_of_balance() -> None:
    # az-1 has two brokers, az-2 and az-3 one each: with RF 3 every partition needs
    # one replica in each AZ, so brokers 2 and 3 must hold every partition.
    placement = plan_placement(rotated(12, 3), {**THREE_AZS, 4: "az-1"})

    counts = replica_counts(placement.target, placement.brokers)
    assert counts == {1: 6, 2: 12, 3: 12, 4: 6}
    assert all(len({THREE_AZS.get(b, "az-1") for b in r}) == 3 for r in placement.target.values())
    assert placement.replica_copies == 6


@pytest.mark.parametrize(
    ("current", "racks", "exclude", "message"),
    [
        ({("t", 0): (1, 2, 3)}, NO_RACKS_3, (3,), r"t-0 has 3 replicas but only 2 brokers \[1, 2\]"),
        ({("t", 0): (1, 2)}, {1: "az-1", 2: None}, (), r"brokers \[2\] have no rack"),
        ({("t", 0): (1, 1)}, NO_RACKS_3, (), r"t-0 lists a broker twice: \[1, 1\]"),
        ({("t", 0): ()}, NO_RACKS_3, (), "t-0 has no replicas"),
        ({("t", 0): (1,)}, NO_RACKS_3, (1, 2, 3), "no broker can hold replicas"),
    ],
)
def test_bad_input_names_the_problem(
    current: Assignment, racks: Mapping[int, str | None], exclude: Sequence[int], message: str
) -> None:
    with pytest.raises(PlacementError, match=message):
        plan_placement(current, racks, exclude)


# ---------------------------------------------------------------------- properties
@st.composite
def clusters(draw: st.DrawFn, rack_layout: str) -> tuple[dict[PartitionId, tuple[int, ...]], dict[int, str | None]]:
    """A random assignment over 1-9 brokers; racks 'equal' (MSK-like), 'uneven' or 'none'."""
    if rack_layout == "equal":
        zones, per_zone = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        racks: dict[int, str | None] = {b: f"az-{(b - 1) % zones}" for b in range(1, zones * per_zone + 1)}
    elif rack_layout == "uneven":
        racks = {b: f"az-{draw(st.integers(0, 2))}" for b in range(1, draw(st.integers(1, 8)) + 1)}
    else:
        racks = dict.fromkeys(range(1, draw(st.integers(1, 8)) + 1))
    brokers = sorted(racks)
    rf = draw(st.integers(1, min(3, len(brokers))))
    current = {
        (f"t{t}", p): tuple(draw(st.permutations(brokers))[:rf])
        for t in range(draw(st.integers(1, 3)))
        for p in range(draw(st.integers(1, 12)))
    }
    return current, racks


def _racks_distinct(target: Mapping[PartitionId, Sequence[int]], racks: Mapping[int, str | None]) -> bool:
    zones = {rack for rack in racks.values()}
    return all(len({racks[b] for b in r}) == len(r) for r in target.values() if len(r) <= len(zones))


@settings(max_examples=150, deadline=None)
@given(clusters("equal"))
def test_equal_azs_balance_replicas_and_leaders_in_distinct_azs(
    cluster: tuple[dict[PartitionId, tuple[int, ...]], dict[int, str | None]],
) -> None:
    current, racks = cluster
    placement = plan_placement(current, racks)

    assert spread(replica_counts(placement.target, placement.brokers)) <= 1
    assert spread(leader_counts(placement.target, placement.brokers)) <= 1
    assert _racks_distinct(placement.target, racks)
    assert {pid: len(r) for pid, r in placement.target.items()} == {pid: len(r) for pid, r in current.items()}
    assert plan_placement(placement.target, racks).moves == ()


@settings(max_examples=150, deadline=None)
@given(clusters("none"))
def test_without_racks_copies_are_the_fewest_that_balance(
    cluster: tuple[dict[PartitionId, tuple[int, ...]], dict[int, str | None]],
) -> None:
    current, racks = cluster
    placement = plan_placement(current, racks)

    before = sorted(replica_counts(current, racks).values(), reverse=True)
    total, brokers = sum(before), len(before)
    targets = [total // brokers + (1 if i < total % brokers else 0) for i in range(brokers)]
    fewest = sum(max(0, count - target) for count, target in zip(before, targets, strict=True))
    assert placement.replica_copies == fewest
    assert spread(leader_counts(placement.target, placement.brokers)) <= 1


@settings(max_examples=150, deadline=None)
@given(clusters("equal"), st.data())
def test_drained_brokers_end_empty_and_the_rest_balanced(
    cluster: tuple[dict[PartitionId, tuple[int, ...]], dict[int, str | None]], data: st.DataObject
) -> None:
    current, racks = cluster
    rf = max(len(r) for r in current.values())
    zones = sorted({rack for rack in racks.values() if rack is not None})
    # Drain whole "layers" (one broker per AZ), as MSK scale-in does, keeping at least RF brokers.
    layers = len(racks) // len(zones)
    keep = data.draw(st.integers(min_value=max(1, -(-rf // len(zones))), max_value=layers))
    exclude = {b for b in racks if b > keep * len(zones)}
    placement = plan_placement(current, racks, exclude)

    assert not any(b in exclude for r in placement.target.values() for b in r)
    assert spread(replica_counts(placement.target, placement.brokers)) <= 1
    assert _racks_distinct(placement.target, {b: racks[b] for b in placement.brokers})
    held = sum(1 for r in current.values() for b in r if b in exclude)
    assert placement.replica_copies >= held


@settings(max_examples=150, deadline=None)
@given(clusters("uneven"))
def test_uneven_azs_still_spread_replicas_and_settle(
    cluster: tuple[dict[PartitionId, tuple[int, ...]], dict[int, str | None]],
) -> None:
    current, racks = cluster
    placement = plan_placement(current, racks)

    assert _racks_distinct(placement.target, racks)
    assert all(sorted(set(r)) == sorted(r) for r in placement.target.values())
    assert plan_placement(placement.target, racks).moves == ()
