"""The fewest task-hours any policy could spend with no message later than the target.

Assumptions (stated in docs/bench.md), each one in the policy's favour, so that no real
run can go below the figure without late messages:
- tasks start the instant they are asked for and are billed only while they consume;
- rebalances are free: no pause, and any task can take any backlog (no partition
  assignment, no skew);
- every task consumes exactly its mean throughput `c` whenever there is work;
- at least `min_tasks` tasks run at every second.

Within those, a schedule consumes x_t messages in second t with cumulative X_t:
X_t <= produced by t (nothing is consumed before it exists) and X_t >= produced by
t - target - 1 (nothing waits longer than the target; a second of slack). Second t costs max(min_tasks, x_t / c)
task-seconds (fractional tasks, a further relaxation). The cheapest schedule consumes
for free with the `min_tasks` floor as early as it can and pays for more only when a
deadline forces it, as late as it can: paying early never frees later capacity, and the
floor's capacity is lost if not used when it is there. The sum of its costs is the bound.
"""

from __future__ import annotations

import math

import numpy as np

from kafka_autoscaler.sim.group import range_assignment
from kafka_autoscaler.sim.trace import FloatArray


def lower_bound_task_seconds(
    cumulative: FloatArray, target_s: float, task_capacity: float, min_tasks: int, partitions: int = 0
) -> float:
    """Task-seconds of the cheapest schedule with no late message, over seconds 1..end.

    `cumulative[t]` is the number of messages produced by the end of second t. Messages of
    second s are late after second s + floor(target); both relaxations favour the policy: the
    deadline is taken a second later than that, and lowered by `partitions` messages for the
    whole-message rounding of per-partition counts.
    """
    duration = len(cumulative) - 1
    wait = math.floor(target_s) + 1
    deadline = np.zeros(duration + 1)
    if duration >= wait:
        deadline[wait:] = np.maximum(cumulative[: duration + 1 - wait] - partitions, 0.0)
    free_per_s = min_tasks * task_capacity
    consumed = 0.0
    extra = 0.0  # messages consumed beyond the floor's capacity
    for produced_by, due in zip(cumulative[1:].tolist(), deadline[1:].tolist(), strict=True):
        consumed = min(produced_by, consumed + free_per_s)
        if consumed < due:
            extra += due - consumed
            consumed = due
    return duration * float(min_tasks) + extra / task_capacity


def lower_bound_task_hours(
    cumulative: FloatArray, target_s: float, task_capacity: float, min_tasks: int, partitions: int
) -> float:
    return lower_bound_task_seconds(cumulative, target_s, task_capacity, min_tasks, partitions) / 3600.0


def range_packing_task_hours(
    cumulative: FloatArray, shares: FloatArray, task_capacity: float, min_tasks: int, max_tasks: int
) -> float:
    """Task-hours of keeping up second by second under Kafka's RangeAssignor, on the run's own partition shares.

    A reference beside the bound, not a bound: with the bound's other relaxations (instant
    starts, free rebalances, every task at its mean throughput) each second gets the fewest
    tasks whose busiest member, given its partitions by count as RangeAssignor does, keeps up
    with what its partitions are produced that second (at least `min_tasks`, at most
    `max_tasks`). What no policy with count-based assignment escapes on skewed partitions;
    a policy may still spend a little less by holding a backlog within the target and
    draining it later, so a run below it is possible and is not an error.
    """
    partitions = len(shares)
    counts = np.arange(1, partitions + 1)
    busiest = np.array(
        [np.bincount(range_assignment(partitions, list(range(n))), weights=shares).max() for n in counts]
    )
    fewest_by = np.minimum.accumulate(busiest)  # the busiest share with at most n tasks, at their best n
    produced = np.diff(cumulative)
    # The fewest n with fewest_by[n] * produced <= capacity: fewest_by falls with n, so search its negation.
    allowed = task_capacity / np.maximum(produced, 1e-9)
    # Past the last count even one task per partition falls behind: more tasks would have no partition.
    needed = np.minimum(np.searchsorted(-fewest_by, -allowed, side="left") + 1, min(max_tasks, partitions))
    needed = np.maximum(np.where(produced > 0, needed, 0), min_tasks)
    return float(needed.sum()) / 3600.0
