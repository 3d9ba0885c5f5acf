"""Consumer-group model: assignors, and the pauses eager and cooperative rebalances cause."""

from __future__ import annotations

import numpy as np
import pytest
from kafka_autoscaler.sim.group import NO_OWNER, ConsumerGroup, range_assignment, sticky_assignment
from kafka_autoscaler.sim.settings import RebalanceProtocol


@pytest.mark.parametrize(
    ("partitions", "members", "expected"),
    [
        (6, [1, 2, 3], [1, 1, 2, 2, 3, 3]),
        (7, [1, 2, 3], [1, 1, 1, 2, 2, 3, 3]),  # the first member takes the extra one
        (2, [1, 2, 3], [1, 2]),  # more members than partitions: the last idles
        (3, [], [NO_OWNER] * 3),
    ],
)
def test_range_assignment(partitions: int, members: list[int], expected: list[int]) -> None:
    assert range_assignment(partitions, members) == expected


def test_sticky_assignment_moves_only_what_balance_needs() -> None:
    before = [1, 1, 1, 2, 2, 2]
    after = sticky_assignment(before, [1, 2, 3])
    assert sorted(after.count(m) for m in (1, 2, 3)) == [2, 2, 2]
    moved = sum(a != b for a, b in zip(before, after, strict=True))
    assert moved == 2  # one partition from each old member to the new one


def test_sticky_assignment_hands_a_leavers_partitions_out() -> None:
    after = sticky_assignment([1, 1, 2, 2, 3, 3], [1, 3])
    assert after[:2] == [1, 1] and after[4:] == [3, 3]
    assert sorted(after[2:4]) == [1, 3]


def test_eager_rebalance_pauses_every_partition() -> None:
    group = ConsumerGroup(4, RebalanceProtocol.EAGER, pause_s=10)
    group.settle([1, 2])
    group.change(100, joined=[3], left=[])
    idle = len(group.members)
    assert np.all(group.slots(105) == idle)
    assert group.state(105) == "PreparingRebalance"
    assert group.state(110) == "Stable"
    assert np.all(group.slots(110) < idle)
    assert group.rebalances == 1


def test_cooperative_rebalance_pauses_only_moved_partitions() -> None:
    group = ConsumerGroup(6, RebalanceProtocol.COOPERATIVE, pause_s=10)
    group.settle([1, 2])
    group.change(100, joined=[3], left=[])
    paused = group.slots(105) == len(group.members)
    assert paused.sum() == 2


def test_changes_during_a_rebalance_fold_into_it() -> None:
    group = ConsumerGroup(4, RebalanceProtocol.EAGER, pause_s=10)
    group.settle([1])
    group.change(100, joined=[2], left=[])
    group.change(105, joined=[3], left=[])  # still rebalancing: extended, not counted
    assert group.state(114) == "PreparingRebalance"
    assert group.state(115) == "Stable"
    group.change(200, joined=[], left=[2])
    assert group.rebalances == 2


@pytest.mark.parametrize("protocol", list(RebalanceProtocol))
def test_when_the_last_member_leaves_every_partition_is_idle(protocol: RebalanceProtocol) -> None:
    group = ConsumerGroup(6, protocol, pause_s=10)
    group.settle([1, 2, 3])
    assert group.slots(5).tolist() == [0, 0, 1, 1, 2, 2]
    group.change(20, [], [1, 2, 3])
    assert group.state(20) == "Empty"
    assert group.slots(20).tolist() == [0] * 6  # the idle slot of an empty group, not the leavers' slots
