"""When and how far to grow the brokers' EBS volumes.

MSK allows one storage change per 6 hours, only upwards, at most 16384 GiB per broker.
So expand when disk use is above target, or when at its present growth rate it will
cross the alarm level before the next change would be allowed.

The cool-down runs from the end of the last completed storage operation MSK lists
(ListClusterOperationsV2) and lasts "a minimum of 6 hours to over 24 hours, depending on
the cluster's storage size and utilization and on traffic"
(https://docs.aws.amazon.com/msk/latest/developerguide/msk-update-storage.html). The 6 hours
are waited here; MSK refusing a change after them is a failure that backs off (policy/failures.py).
Express brokers have no EBS volume: MSK manages their storage, and no storage decision is made.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from kafka_autoscaler.config import StorageMode, StoragePolicy
from kafka_autoscaler.model import Action, ClusterState, Decision, Reason, Sample, ScalerState, Target

STORAGE_KEY = "storage"


def growth_per_s(samples: Sequence[Sample], now: float, window_s: float) -> float | None:
    """Least-squares slope (percentage points per second) over the window, or None with too few points."""
    points = [s for s in samples if s.t >= now - window_s]
    if len(points) < 3:
        return None
    mean_t = sum(s.t for s in points) / len(points)
    mean_v = sum(s.value for s in points) / len(points)
    spread = sum((s.t - mean_t) ** 2 for s in points)
    if spread == 0:
        return None
    return sum((s.t - mean_t) * (s.value - mean_v) for s in points) / spread


def _hold(current: int, reason: Reason, message: str, **details: object) -> Decision:
    return Decision(Target.STORAGE, STORAGE_KEY, Action.HOLD, current, current, reason, message, dict(details))


def decide_storage(
    cluster: ClusterState | None, policy: StoragePolicy, state: ScalerState, now: float
) -> Decision | None:
    """The storage decision for this tick, or None when another mechanism owns storage."""
    if policy.mode is not StorageMode.SCALER or (cluster is not None and cluster.express):
        return None
    if cluster is None:
        return _hold(0, Reason.MISSING_DATA, "storage: the MSK cluster could not be read; no change.")
    size = cluster.volume_gib
    latest = [b.disk_used_pct[-1].value for b in cluster.brokers if b.disk_used_pct]
    if not latest or len(latest) < cluster.broker_count:
        return _hold(size, Reason.MISSING_DATA, "storage: disk use is not known for every broker; no change.")
    used_pct = max(latest)
    slopes = [
        g for b in cluster.brokers if (g := growth_per_s(b.disk_used_pct, now, policy.growth_window_s)) is not None
    ]
    growth = max(slopes, default=0.0)
    horizon = policy.min_interval_s
    projected_pct = used_pct + max(growth, 0.0) * horizon
    details = {
        "used_pct": round(used_pct, 2),
        "growth_pct_per_hour": round(growth * 3600, 4),
        "projected_pct": round(projected_pct, 2),
        "volume_gib": size,
    }

    if used_pct > policy.target_used_pct:
        reason = Reason.DISK_ABOVE_TARGET
        why = f"disk use {used_pct:.1f}% is above the {policy.target_used_pct:.0f}% target"
    elif projected_pct >= policy.alarm_used_pct:
        reason = Reason.DISK_WILL_FILL
        why = (
            f"at {growth * 3600:.2f} points/hour disk use reaches {projected_pct:.1f}% within "
            f"{horizon / 3600:.0f}h, past the {policy.alarm_used_pct:.0f}% alarm, before another change is allowed"
        )
    else:
        return _hold(
            size,
            Reason.DISK_OK,
            f"storage: disk use {used_pct:.1f}% is fine (projected {projected_pct:.1f}% in {horizon / 3600:.0f}h).",
            **details,
        )

    if size >= policy.max_volume_gib:
        return _hold(
            size,
            Reason.AT_MAX_VOLUME,
            f"storage: {why}, but volumes are at the "
            f"{policy.max_volume_gib} GiB maximum; add brokers or shorten retention.",
            **details,
        )
    last_change = max(
        (t for t in (cluster.last_storage_update_t, state.last_action_t.get(STORAGE_KEY)) if t), default=None
    )
    if last_change is not None and now - last_change < policy.min_interval_s:
        wait = policy.min_interval_s - (now - last_change)
        return _hold(
            size,
            Reason.STORAGE_CHANGE_TOO_SOON,
            f"storage: {why}, but MSK allows one change per "
            f"{policy.min_interval_s / 3600:.0f}h; next possible in {wait / 60:.0f} min.",
            **details,
        )

    # Enough that use stays at or under target until the next change is allowed.
    used_gib_then = projected_pct / 100 * size
    needed = math.ceil(used_gib_then / (policy.target_used_pct / 100))
    floor = max(math.ceil(size * (1 + policy.min_increase_pct / 100)), size + policy.min_increase_gib)
    desired = min(max(needed, floor), policy.max_volume_gib)
    return Decision(
        Target.STORAGE,
        STORAGE_KEY,
        Action.EXPAND,
        size,
        desired,
        reason,
        f"storage: expand volumes {size} -> {desired} GiB per broker: {why}.",
        details,
    )
