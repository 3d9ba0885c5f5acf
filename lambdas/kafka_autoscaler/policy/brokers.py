"""How many brokers the MSK cluster should have, and when partitions must move.

Scale out when CPU (user + system) stays above target, or bytes in or partitions per
broker exceed their limits. Counts are multiples of the AZ count. Scale in is off by
default; when on, it first drains one broker per AZ, then removes them once empty.

Broker removal as MSK documents it (https://docs.aws.amazon.com/msk/latest/developerguide/msk-remove-broker.html):
only M5 and M7g Standard brokers, Kafka 2.8.1 or later, one broker per Availability Zone per
operation; every partition except MSK's canary topics moves off first, and MSK itself picks
the brokers that hold none. Express brokers need no drain: MSK's intelligent rebalancing moves
partitions off brokers due for removal
(https://docs.aws.amazon.com/msk/latest/developerguide/intelligent-rebalancing.html).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from kafka_autoscaler.config import BrokerPolicy
from kafka_autoscaler.instances import instance, recommended_partitions
from kafka_autoscaler.model import (
    Action,
    BrokerLoad,
    ClusterState,
    Decision,
    Reason,
    Sample,
    ScalerState,
    Target,
    Workflow,
)
from kafka_autoscaler.policy.broker_forecast import forecast_peak_demand, peak_ahead

BROKERS_KEY = "brokers"
REBALANCE_KEY = "rebalance"
# Why: a window is only judged when samples cover most of it; a fresh metric stream
# with two points must not count as "stayed high for 15 minutes".
WINDOW_COVERAGE = 0.8
# How long a drain may sit with nothing moving before it is asked for again.
DRAIN_RETRY_S = 600.0
# MSK removes brokers only from these Standard families, on Kafka 2.8.1 or later.
REMOVAL_FAMILIES = ("kafka.m5", "kafka.m7g")
REMOVAL_MIN_KAFKA = (2, 8, 1)


@dataclass(frozen=True)
class BrokerResult:
    decisions: tuple[Decision, ...]
    low_load_since: float | None


def byte_rate(bytes_per_s: float) -> str:
    """A byte rate with four significant figures, so that a rate and its limit read apart."""
    for unit, size in (("MB/s", 1e6), ("kB/s", 1e3)):
        if bytes_per_s >= size:
            return f"{bytes_per_s / size:.4g} {unit}"
    return f"{bytes_per_s:.3g} B/s"


def round_up_to_multiple(value: int, step: int) -> int:
    return step * math.ceil(value / step) if step > 0 else value


def cluster_series(brokers: Sequence[BrokerLoad], pick: str, reduce: str) -> list[Sample]:
    """Combine one metric across brokers per timestamp (mean or sum), oldest first."""
    by_time: dict[float, list[float]] = {}
    for broker in brokers:
        for sample in getattr(broker, pick):
            by_time.setdefault(sample.t, []).append(sample.value)
    combine = (lambda vs: sum(vs) / len(vs)) if reduce == "mean" else sum
    return [Sample(t, combine(values)) for t, values in sorted(by_time.items())]


def sustained_minimum(series: Iterable[Sample], now: float, window_s: float) -> float | None:
    """Lowest value over the window, or None when the samples do not cover it."""
    inside = [s for s in series if s.t >= now - window_s]
    if not inside or now - inside[0].t < window_s * WINDOW_COVERAGE:
        return None
    return min(s.value for s in inside)


def latest_mean(series: Sequence[Sample], now: float, window_s: float) -> float | None:
    inside = [s.value for s in series if s.t >= now - window_s]
    return sum(inside) / len(inside) if inside else None


def bytes_in_limit(policy: BrokerPolicy, instance_type: str) -> float | None:
    """Bytes in per broker to stay under: configured, else the documented figure for Express brokers."""
    if policy.max_bytes_in_per_broker is not None:
        return policy.max_bytes_in_per_broker
    row = instance(instance_type)
    return row.ingress_bytes_per_s if row is not None and row.express else None


def kafka_version(text: str | None) -> tuple[int, ...] | None:
    """MSK's KafkaVersion ("3.6.0", "2.8.2.tiered", "3.7.x") as numbers; "x" reads as 0."""
    if not text:
        return None
    parts = re.findall(r"(\d+|x)(?:\.|$)", text)
    numbers = tuple(0 if p == "x" else int(p) for p in parts[:3])
    return numbers if len(numbers) >= 2 else None


def scale_in_unsupported(cluster: ClusterState) -> str | None:
    """Why MSK cannot remove brokers from this cluster, or None when it can."""
    if cluster.express:
        return None
    family = cluster.instance_type.rpartition(".")[0]
    if family not in REMOVAL_FAMILIES:
        return f"MSK removes brokers only from M5 and M7g Standard brokers; this cluster runs {cluster.instance_type}"
    version = kafka_version(cluster.kafka_version)
    if version is None:
        return f"the cluster's Kafka version ({cluster.kafka_version or 'unknown'}) could not be read"
    if version < REMOVAL_MIN_KAFKA:
        return f"MSK removes brokers only on Kafka 2.8.1 or later; this cluster runs {cluster.kafka_version}"
    return None


def partition_limit(policy: BrokerPolicy, instance_type: str) -> int:
    if policy.max_partitions_per_broker is not None:
        return policy.max_partitions_per_broker
    return recommended_partitions(instance_type)


def _decision(action: Action, current: int, desired: int, reason: Reason, message: str, **details: object) -> Decision:
    return Decision(Target.BROKERS, BROKERS_KEY, action, current, desired, reason, message, dict(details))


def scale_out_demand(cluster: ClusterState, policy: BrokerPolicy, now: float) -> tuple[int, list[tuple[Reason, str]]]:
    """Brokers each limit asks for, and the reasons that ask for more than there are."""
    count = cluster.broker_count
    demands: list[tuple[int, Reason, str]] = []
    cpu_floor = sustained_minimum(cluster_series(cluster.brokers, "cpu_pct", "mean"), now, policy.cpu_window_s)
    if cpu_floor is not None and cpu_floor > policy.cpu_target_pct:
        need = math.ceil(count * cpu_floor / policy.cpu_target_pct)
        demands.append(
            (
                need,
                Reason.CPU_HIGH,
                f"CPU (user+system) has stayed above {policy.cpu_target_pct:.0f}% for "
                f"{policy.cpu_window_s}s (lowest {cpu_floor:.1f}%)",
            )
        )
    in_limit = bytes_in_limit(policy, cluster.instance_type)
    if in_limit is not None:
        total_in = cluster_series(cluster.brokers, "bytes_in_per_s", "sum")
        in_floor = sustained_minimum(total_in, now, policy.cpu_window_s)
        if in_floor is not None and in_floor / count > in_limit:
            need = math.ceil(in_floor / in_limit)
            demands.append(
                (
                    need,
                    Reason.BYTES_IN_HIGH,
                    f"bytes in per broker {byte_rate(in_floor / count)} is above the {byte_rate(in_limit)} limit",
                )
            )
    counts = [b.partition_count for b in cluster.brokers if b.partition_count is not None]
    limit = partition_limit(policy, cluster.instance_type)
    if counts and len(counts) == count and sum(counts) / count > limit:
        need = math.ceil(sum(counts) / limit)
        demands.append(
            (
                need,
                Reason.PARTITIONS_HIGH,
                f"{sum(counts) / count:.0f} partitions per broker is above the {limit} "
                f"recommended for {cluster.instance_type}",
            )
        )
    wanted = max((need for need, _, _ in demands), default=count)
    return wanted, [(reason, text) for need, reason, text in demands if need > count]


def low_load(cluster: ClusterState, policy: BrokerPolicy, now: float) -> tuple[bool, str]:
    """Whether the cluster would still be within every limit with one broker per AZ fewer."""
    count, azs = cluster.broker_count, cluster.az_count
    smaller = count - azs
    if smaller < policy.min_brokers:
        return False, f"{smaller} brokers would be below min_brokers ({policy.min_brokers})"
    cpu = latest_mean(cluster_series(cluster.brokers, "cpu_pct", "mean"), now, policy.cpu_window_s)
    if cpu is None:
        return False, "no recent CPU data"
    if cpu >= policy.scale_in.low_cpu_pct or cpu * count / smaller >= policy.cpu_target_pct:
        return False, f"CPU {cpu:.1f}% is not low enough"
    in_limit = bytes_in_limit(policy, cluster.instance_type)
    if in_limit is not None:
        total_in = latest_mean(cluster_series(cluster.brokers, "bytes_in_per_s", "sum"), now, policy.cpu_window_s)
        if total_in is None or total_in / smaller >= in_limit * 0.5:
            return False, "bytes in would be too high on fewer brokers"
    counts = [b.partition_count for b in cluster.brokers if b.partition_count is not None]
    if len(counts) != count or sum(counts) / smaller > partition_limit(policy, cluster.instance_type):
        return False, "partitions per broker would be too high (or unknown)"
    return True, f"CPU {cpu:.1f}% is below {policy.scale_in.low_cpu_pct:.0f}%"


def brokers_to_drain(cluster: ClusterState) -> tuple[int, ...]:
    """One broker per AZ, the highest id in each: MSK removes empty brokers, one per AZ."""
    by_rack: dict[str, list[int]] = {}
    for broker in cluster.brokers:
        by_rack.setdefault(broker.rack or f"unknown-{broker.broker_id % cluster.az_count}", []).append(broker.broker_id)
    return tuple(sorted(max(ids) for ids in by_rack.values()))[: cluster.az_count]


def unbalanced(cluster: ClusterState, draining: Sequence[int]) -> str | None:
    """A sentence when partitions are spread unevenly over the brokers that stay."""
    counts = {b.broker_id: b.partition_count for b in cluster.brokers if b.broker_id not in draining}
    if not counts or any(c is None for c in counts.values()):
        return None
    values = [c for c in counts.values() if c is not None]
    mean = sum(values) / len(values)
    if max(values) - min(values) > max(2.0, 0.1 * mean):
        empty = sorted(b for b, c in counts.items() if c == 0)
        extra = f"; brokers {empty} hold none" if empty else ""
        return f"partitions per broker range from {min(values)} to {max(values)}{extra}"
    return None


def decide_rebalance(
    cluster: ClusterState, policy: BrokerPolicy, reassignments: int | None, draining: Sequence[int], now: float
) -> Decision | None:
    """Ask the rebalancer to move partitions when brokers are unbalanced."""
    if reassignments:
        return None  # moves are already under way; the rebalancer resumes them itself
    why = unbalanced(cluster, draining)
    if why is None:
        return None
    cpu = latest_mean(cluster_series(cluster.brokers, "cpu_pct", "mean"), now, 300)
    if cpu is not None and cpu > policy.rebalance_max_cpu_pct:
        # Why: reassignment copies data between brokers; AWS advises against it above 70% CPU.
        return Decision(
            Target.REBALANCE,
            REBALANCE_KEY,
            Action.HOLD,
            0,
            0,
            Reason.PARTITIONS_UNBALANCED,
            f"{why}, but CPU is {cpu:.0f}% (above {policy.rebalance_max_cpu_pct:.0f}%): "
            "moving partitions now would add load; waiting.",
            {"cpu_pct": cpu},
        )
    return Decision(
        Target.REBALANCE,
        REBALANCE_KEY,
        Action.REBALANCE,
        0,
        0,
        Reason.PARTITIONS_UNBALANCED,
        f"{why}: reassigning partitions evenly over the brokers.",
        {"exclude_brokers": list(draining)},
    )


def decide_brokers(
    cluster: ClusterState | None,
    policy: BrokerPolicy,
    state: ScalerState,
    reassignments: int | None,
    now: float,
    *,
    replicas: Mapping[int, int] | None = None,
) -> BrokerResult:
    """Broker-count and rebalance decisions for this tick.

    `replicas`: replicas per broker from Kafka's metadata, MSK's canary topics left out; None
    when unknown (a drained broker is then never judged empty).
    """
    if not policy.enabled:
        return BrokerResult((), None)
    if cluster is None:
        return BrokerResult(
            (
                _decision(
                    Action.HOLD, 0, 0, Reason.MISSING_DATA, "brokers: the MSK cluster could not be read; no change."
                ),
            ),
            None,
        )
    count = cluster.broker_count
    if cluster.state != "ACTIVE" or cluster.operation_in_progress:
        what = cluster.operation_in_progress or cluster.state
        reason = Reason.OPERATION_IN_PROGRESS if cluster.operation_in_progress else Reason.CLUSTER_BUSY
        return BrokerResult(
            (
                _decision(
                    Action.HOLD,
                    count,
                    count,
                    reason,
                    f"brokers: the cluster is {what}; nothing changes until it is ACTIVE.",
                ),
            ),
            state.low_load_since,
        )
    if cluster.metrics_error is not None:
        # Why: with no metrics every limit looks satisfied; that is missing data, not low load.
        return BrokerResult(
            (
                _decision(
                    Action.HOLD,
                    count,
                    count,
                    Reason.MISSING_DATA,
                    f"brokers: the broker metrics could not be read ({cluster.metrics_error}); no change.",
                ),
            ),
            None,
        )

    drain = next((w for w in state.workflows if w.kind == "broker_drain"), None)
    draining = drain.broker_ids if drain else ()
    decisions: list[Decision] = []
    wanted, reasons = scale_out_demand(cluster, policy, now)
    if not reasons and (ahead := forecast_peak_demand(cluster, policy, state, now)) is not None:
        wanted, reasons = ahead[0], [ahead[1:]]
    if reasons:
        desired = min(round_up_to_multiple(wanted, cluster.az_count), policy.max_brokers)
        desired = desired - desired % cluster.az_count
        text = "; ".join(t for _, t in reasons)
        if desired <= count:
            decisions.append(
                _decision(
                    Action.HOLD,
                    count,
                    count,
                    Reason.AT_MAX,
                    f"brokers: {text}, but the cluster is at max_brokers ({policy.max_brokers}).",
                )
            )
        elif _in_cooldown(state, policy, now):
            decisions.append(
                _decision(
                    Action.HOLD,
                    count,
                    count,
                    Reason.COOLDOWN,
                    f"brokers: {text}; waiting for the {policy.cooldown_s}s cooldown.",
                )
            )
        else:
            decisions.append(
                _decision(
                    Action.SCALE_OUT,
                    count,
                    desired,
                    reasons[0][0],
                    f"brokers: scale out {count} -> {desired} ({text}); partitions are "
                    "rebalanced onto the new brokers once MSK finishes.",
                )
            )
        return BrokerResult(tuple(decisions), None)

    low_since = _track_low_load(cluster, policy, state, now)
    # Express: MSK's intelligent rebalancing places partitions; no rebalancer runs.
    rebalance = None if cluster.express else decide_rebalance(cluster, policy, reassignments, draining, now)
    unsupported = scale_in_unsupported(cluster)
    if drain is not None:
        decisions.append(_scale_in_after_drain(cluster, drain, count, reassignments, state, now, replicas))
    elif policy.scale_in.enabled and low_since is not None and now - low_since >= policy.scale_in.window_s:
        targets = brokers_to_drain(cluster)
        if unsupported is not None:
            decisions.append(
                _decision(
                    Action.HOLD,
                    count,
                    count,
                    Reason.SCALE_IN_UNSUPPORTED,
                    f"brokers: load has been low, but {unsupported}; no scale-in.",
                )
            )
        elif (peak := peak_ahead(cluster, policy, state, now)) is not None:
            decisions.append(
                _decision(Action.HOLD, count, count, Reason.FORECAST_PEAK, f"brokers: load has been low, but {peak}.")
            )
        elif _in_cooldown(state, policy, now):
            decisions.append(
                _decision(
                    Action.HOLD,
                    count,
                    count,
                    Reason.COOLDOWN,
                    f"brokers: load has been low, waiting for the {policy.cooldown_s}s cooldown.",
                )
            )
        elif cluster.express:
            decisions.append(
                _decision(
                    Action.SCALE_IN,
                    count,
                    count - cluster.az_count,
                    Reason.LOAD_LOW,
                    f"brokers: load has been low for {now - low_since:.0f}s; scale in {count} -> "
                    f"{count - cluster.az_count}; MSK moves the partitions off the brokers it removes.",
                )
            )
        else:
            decisions.append(
                _decision(
                    Action.DRAIN,
                    count,
                    count - cluster.az_count,
                    Reason.LOAD_LOW,
                    f"brokers: load has been low for {now - low_since:.0f}s; moving partitions "
                    f"off brokers {list(targets)} (one per AZ, as MSK removes them) before removing them; "
                    "MSK's canary topics stay.",
                    broker_ids=list(targets),
                )
            )
            rebalance = None  # the drain is itself a reassignment
    else:
        decisions.append(
            _decision(
                Action.HOLD, count, count, Reason.LOAD_NORMAL, f"brokers: {count} brokers are within every limit."
            )
        )
    if rebalance is not None:
        decisions.append(rebalance)
    return BrokerResult(tuple(decisions), low_since)


def _in_cooldown(state: ScalerState, policy: BrokerPolicy, now: float) -> bool:
    last = state.last_action_t.get(BROKERS_KEY)
    return last is not None and now - last < policy.cooldown_s


def _track_low_load(cluster: ClusterState, policy: BrokerPolicy, state: ScalerState, now: float) -> float | None:
    """When the low-load stretch began; any tick that is not low (or has no data) ends it."""
    if not policy.scale_in.enabled:
        return None
    is_low, _ = low_load(cluster, policy, now)
    if not is_low:
        return None
    return state.low_load_since if state.low_load_since is not None else now


def _scale_in_after_drain(
    cluster: ClusterState,
    drain: Workflow,
    count: int,
    reassignments: int | None,
    state: ScalerState,
    now: float,
    replicas: Mapping[int, int] | None,
) -> Decision:
    ids = list(drain.broker_ids)
    if replicas is None:
        # Why: CloudWatch's PartitionCount counts MSK's canary partitions, which never move; only
        # Kafka's metadata tells whether a broker holds nothing else.
        return _decision(
            Action.HOLD,
            count,
            count,
            Reason.DRAIN_PENDING,
            f"brokers: waiting to see brokers {ids} empty; Kafka's replica metadata could not be read.",
            broker_ids=ids,
        )
    held = {b: replicas.get(b, 0) for b in drain.broker_ids}
    if all(c == 0 for c in held.values()):
        return _decision(
            Action.SCALE_IN,
            count,
            count - cluster.az_count,
            Reason.LOAD_LOW,
            f"brokers: brokers {ids} hold no partitions; scale in {count} -> {count - cluster.az_count}.",
            broker_ids=ids,
        )
    last = state.last_action_t.get(BROKERS_KEY, drain.started_at)
    if reassignments == 0 and now - last >= DRAIN_RETRY_S:
        # Why: a drain cut short (a Lambda timeout, CPU too high) leaves replicas behind with
        # nothing moving; ask again rather than wait for ever.
        return _decision(
            Action.DRAIN,
            count,
            count - cluster.az_count,
            Reason.DRAIN_PENDING,
            f"brokers: brokers {ids} still hold partitions ({held}) and nothing is moving; "
            "asking the rebalancer to drain them again.",
            broker_ids=ids,
        )
    return _decision(
        Action.HOLD,
        count,
        count,
        Reason.DRAIN_PENDING,
        f"brokers: waiting for brokers {ids} to hold no partitions (now {held}).",
        broker_ids=ids,
    )
