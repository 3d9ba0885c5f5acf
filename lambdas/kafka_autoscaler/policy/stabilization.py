"""Small pure rules that turn a raw recommendation into a safe desired count.

Each returns the value and a reason, in the manner of the Kubernetes HPA's
`convertDesiredReplicasWithRules`.
"""

from __future__ import annotations

import math

from kafka_autoscaler.model import Reason

Recommendations = tuple[tuple[float, int], ...]


def within_tolerance(raw_desired: float, current: int, tolerance: float) -> bool:
    """True when the change asked for is inside the dead band.

    Why: metrics are noisy; without a dead band a steady load makes the count flap.
    Never true when current is 0: from zero any demand must start a task.
    """
    if current == 0:
        return False
    return abs(raw_desired / current - 1.0) <= tolerance + 1e-9  # 11 vs 10 at 10% is inside


def clamp(desired: int, minimum: int, maximum: int) -> tuple[int, Reason | None]:
    """Keep desired inside [minimum, maximum]; say which bound bit."""
    if desired > maximum:
        return maximum, Reason.AT_MAX
    if desired < minimum:
        return minimum, Reason.AT_MIN
    return desired, None


def limit_scale_out(current: int, desired: int, max_step: int | None) -> tuple[int, Reason | None]:
    """Add at most max_step at once (None: no limit).

    Why a user may set one: a burst measured over one interval should not buy a fleet
    they cannot afford; the next tick adds more if the demand is real.
    """
    if max_step is not None and desired - current > max_step:
        return current + max_step, Reason.SCALE_OUT_LIMITED
    return desired, None


def keep_window(history: Recommendations, now: float, window_s: float) -> Recommendations:
    """History pruned to the window, plus the last entry before it (it was in force at the window's start)."""
    start = now - window_s
    inside = tuple(entry for entry in history if entry[0] >= start)
    before = [entry for entry in history if entry[0] < start]
    return ((before[-1],) if before else ()) + inside


def stabilized_scale_in(
    history: Recommendations, recommendation: int, now: float, window_s: float
) -> tuple[int | None, str]:
    """The count a scale-in may go down to, or None while the window is not yet covered.

    Why: scale in only when every recommendation over the window was lower; take the
    highest of them so a brief dip never removes capacity that is needed a minute later.
    """
    if window_s <= 0:
        return recommendation, "no stabilization window"
    kept = keep_window(history, now, window_s)
    if not kept or kept[0][0] > now - window_s:
        covered = 0.0 if not kept else now - kept[0][0]
        return None, f"only {covered:.0f}s of the {window_s:.0f}s stabilization window is recorded"
    highest = max([recommendation, *(count for _, count in kept)])
    return highest, f"highest recommendation over the last {window_s:.0f}s is {highest}"


def even_spread(desired: int, partitions: int) -> int:
    """The fewest tasks that give the busiest task as few partitions as `desired` tasks do.

    With 12 partitions, 5 tasks leave the busiest with 3 partitions, and so do 4:
    the fifth task adds cost and no throughput.
    """
    if desired <= 0 or partitions <= 0:
        return desired
    per_task = math.ceil(partitions / desired)
    return math.ceil(partitions / per_task)
