"""The rate history `record` keeps for the forecaster, and the lead times it measures. Pure.

Per consumer group the produce rate, per cluster the bytes in and the CPU summed over
brokers, each in one-minute buckets for FINE_KEEP_MIN (at least 14 days), then in
15-minute buckets for COARSE_KEEP (8 weeks more): at most about 26,000 numbers, about
100 KB as float32, per series. A minute in which nothing was seen stays NaN.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import numpy as np

from kafka_autoscaler.config import AutoscalerConfig
from kafka_autoscaler.model import (
    Action,
    ClusterState,
    GroupLag,
    Outcome,
    OutcomeStatus,
    RateHistory,
    RateSeries,
    ServiceState,
    Target,
    Workflow,
)
from kafka_autoscaler.policy.forecast import BYTES_IN_KEY, CPU_KEY, OPERATION_KEY, find_periods

MINUTE_S = 60.0
COARSE_STEP_MIN = 15
FINE_KEEP_MIN = 14 * 1440 + COARSE_STEP_MIN
COARSE_KEEP = 8 * 7 * 96
# Weight of the newest lead-time measurement; older ones fade.
LEAD_SMOOTHING = 0.5
# Tasks not all running this long after a scale-out measure a failure, not a start-up delay.
START_MEASURE_LIMIT_S = 600.0


def add_sample(series: RateSeries | None, t: float, value: float) -> RateSeries:
    """The series with `value` averaged into the minute of `t`; older minutes than the newest are ignored."""
    minute = math.floor(t / MINUTE_S) * MINUTE_S
    if series is None or not series.values:
        return RateSeries(minute, (value,), 1, minute)
    newest = series.start_t + MINUTE_S * (len(series.values) - 1)
    if minute < newest:
        return series
    if minute == newest:
        last = series.values[-1]
        mean = value if not math.isfinite(last) else last + (value - last) / (series.count + 1)
        return dataclasses.replace(series, values=(*series.values[:-1], mean), count=series.count + 1)
    gap = round((minute - newest) / MINUTE_S) - 1
    if gap >= FINE_KEEP_MIN:  # nothing seen for two weeks: what was known is too old to learn from
        return RateSeries(minute, (value,), 1, minute)
    values = (*series.values, *([math.nan] * gap), value)
    return compacted(dataclasses.replace(series, values=values, count=1))


def compacted(series: RateSeries) -> RateSeries:
    """Minutes beyond FINE_KEEP_MIN folded into 15-minute means; the oldest of those dropped."""
    excess = len(series.values) - FINE_KEEP_MIN
    if excess < COARSE_STEP_MIN:
        return series
    folded = excess - excess % COARSE_STEP_MIN
    old = np.asarray(series.values[:folded], dtype=np.float64).reshape(-1, COARSE_STEP_MIN)
    known = np.isfinite(old).sum(axis=1)
    means = np.where(known > 0, np.nansum(old, axis=1) / np.maximum(known, 1), np.nan)
    coarse = (*series.coarse, *(float(m) for m in means))
    start = series.start_t + MINUTE_S * folded
    dropped = max(0, len(coarse) - COARSE_KEEP)
    return dataclasses.replace(
        series,
        start_t=start,
        values=series.values[folded:],
        coarse=coarse[dropped:],
        coarse_start_t=start - MINUTE_S * COARSE_STEP_MIN * (len(coarse) - dropped),
    )


def refresh_interval_min(minutes: int) -> int:
    """How often the rhythm is looked for again: a twentieth of the history, 10 to 60 minutes."""
    return max(10, min(60, minutes // 20))


def with_periods(series: RateSeries, now: float, min_cycles: int) -> RateSeries:
    """The series with its periods looked for again when the last look is old enough."""
    if series.periods_t is not None and now - series.periods_t < MINUTE_S * refresh_interval_min(len(series.values)):
        return series
    return dataclasses.replace(series, periods_min=find_periods(series, min_cycles), periods_t=now)


def _smoothed(previous: float | None, sample: float) -> float:
    return sample if previous is None else previous + LEAD_SMOOTHING * (sample - previous)


def _cluster_samples(cluster: ClusterState, pick: str) -> list[tuple[float, float]]:
    """Per timestamp, the metric summed over brokers (scaled up when some did not report)."""
    by_time: dict[float, list[float]] = {}
    for broker in cluster.brokers:
        for sample in getattr(broker, pick):
            by_time.setdefault(sample.t, []).append(sample.value)
    return [(t, sum(vs) * cluster.broker_count / len(vs)) for t, vs in sorted(by_time.items())]


def record_rates(
    history: RateHistory,
    config: AutoscalerConfig,
    groups: Mapping[str, GroupLag],
    services: Mapping[str, ServiceState],
    cluster: ClusterState | None,
    finished: Sequence[Workflow],
    outcomes: Sequence[Outcome],
    now: float,
) -> RateHistory:
    """The next history: this tick's rates added, lead times measured, scale-outs noted."""
    series = dict(history.series)
    leads = dict(history.lead_times_s)
    scaled_out_at = dict(history.scaled_out_at)
    starting = dict(history.starting_since)
    for binding in config.consumers:
        group = groups.get(binding.group_id)
        if group is not None and group.produce_rate is not None:  # missing stays missing
            series[binding.key] = add_sample(series.get(binding.key), now, group.produce_rate)
        if binding.key in series and binding.forecast.enabled:
            series[binding.key] = with_periods(series[binding.key], now, binding.forecast.min_cycles)
        service = services.get(binding.group_id)
        since = starting.get(binding.key)
        if since is not None and service is not None and service.running >= service.desired and not service.pending:
            # Measured at the first tick that sees every task running: at most one tick late.
            leads[binding.key] = _smoothed(leads.get(binding.key), now - since)
            del starting[binding.key]
        elif since is not None and now - since > START_MEASURE_LIMIT_S:
            del starting[binding.key]
    if cluster is not None:
        for key, pick in ((BYTES_IN_KEY, "bytes_in_per_s"), (CPU_KEY, "cpu_pct")):
            current = series.get(key)
            for t, value in _cluster_samples(cluster, pick):
                current = add_sample(current, t, value)
            if current is not None:
                forecast = config.brokers.forecast
                series[key] = with_periods(current, now, forecast.min_cycles) if forecast.enabled else current
    for flow in finished:
        if flow.kind == "broker_scale_out":
            leads[OPERATION_KEY] = _smoothed(leads.get(OPERATION_KEY), now - flow.started_at)
    for outcome in outcomes:
        d = outcome.decision
        if outcome.status is not OutcomeStatus.APPLIED or d.action is not Action.SCALE_OUT:
            continue
        scaled_out_at[d.key] = now
        if d.target is Target.CONSUMERS:
            starting[d.key] = now
    return RateHistory(series, leads, scaled_out_at, starting)
