"""Brokers ahead of a forecast peak: scale out one operation early; no scale-in across a peak."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from kafka_autoscaler.config import BrokerPolicy
from kafka_autoscaler.model import (
    Action,
    BrokerLoad,
    ClusterState,
    RateHistory,
    RateSeries,
    Reason,
    Sample,
    ScalerState,
)
from kafka_autoscaler.policy.brokers import decide_brokers
from kafka_autoscaler.policy.forecast import CPU_KEY, find_periods

DAY_MIN = 1440
NOW = 1_700_000_000.0
RACKS = ("az-1", "az-2", "az-3")


def cluster(count: int, cpu: float) -> ClusterState:
    samples = tuple(Sample(NOW - 60 * m, cpu) for m in range(20, -1, -1))
    brokers = tuple(BrokerLoad(i, RACKS[(i - 1) % 3], samples, (), (), 300) for i in range(1, count + 1))
    return ClusterState(
        "arn", "ACTIVE", "K1", count, 3, "kafka.m5.large", 1000, None, None, brokers, kafka_version="3.6.0"
    )


def history(minutes_to_peak: int, peak_sum: float, low_sum: float = 60.0, days: int = 4) -> ScalerState:
    """CPU summed over brokers: `low_sum` at night, a daily hump to `peak_sum`, `minutes_to_peak` from now."""
    total = days * DAY_MIN
    m = np.arange(total) - (total - 1 + minutes_to_peak)
    values = low_sum + (peak_sum - low_sum) * np.exp(
        -((((m % DAY_MIN + DAY_MIN / 2) % DAY_MIN - DAY_MIN / 2) / 90) ** 2)
    )
    start = math.floor(NOW / 60) * 60 - 60 * (total - 1)
    plain = RateSeries(start, tuple(float(v) for v in values))
    s = dataclasses.replace(plain, periods_min=find_periods(plain, 3), periods_t=NOW)
    return ScalerState(rate_history=RateHistory(series={CPU_KEY: s}))


def brokers_decision(c: ClusterState, policy: BrokerPolicy, state: ScalerState) -> tuple[Action, int, Reason, str]:
    d = decide_brokers(c, policy, state, 0, NOW).decisions[0]
    return d.action, d.desired, d.reason, d.message


def test_scale_out_starts_one_operation_before_the_peak() -> None:
    """A daily peak of 3 x 90% CPU in 20 minutes; an operation takes 30: six brokers asked for now."""
    action, desired, reason, message = brokers_decision(cluster(3, 30.0), BrokerPolicy(), history(20, 270.0))
    assert (action, desired, reason) == (Action.SCALE_OUT, 6, Reason.FORECAST_PEAK), message
    assert "forecast: CPU peaks in 20 minutes" in message


def test_a_peak_beyond_the_operation_waits() -> None:
    """The same peak 3 hours away: nothing yet (the reactive rules still watch the present)."""
    action, _, reason, message = brokers_decision(cluster(3, 30.0), BrokerPolicy(), history(180, 270.0))
    assert (action, reason) == (Action.HOLD, Reason.LOAD_NORMAL), message


def test_without_forecast_nothing_happens_before_the_load() -> None:
    policy = BrokerPolicy(forecast={"enabled": False})  # type: ignore[arg-type]
    action, _, reason, _ = brokers_decision(cluster(3, 30.0), policy, history(20, 270.0))
    assert (action, reason) == (Action.HOLD, Reason.LOAD_NORMAL)


def test_a_measured_operation_time_sets_the_lead() -> None:
    """Operations here took 2 hours: a peak 90 minutes away already asks for brokers."""
    state = history(90, 270.0)
    state = dataclasses.replace(
        state, rate_history=dataclasses.replace(state.rate_history, lead_times_s={"brokers": 7200.0})
    )
    action, desired, reason, _ = brokers_decision(cluster(3, 30.0), BrokerPolicy(), state)
    assert (action, desired, reason) == (Action.SCALE_OUT, 6, Reason.FORECAST_PEAK)


def test_no_scale_in_across_a_forecast_peak() -> None:
    """Six brokers idle at 10% all night, low for the whole window; a peak of 6 x 45% comes in 20 minutes:
    three brokers could not carry it (90% each), so no drain starts."""
    policy = BrokerPolicy(scale_in={"enabled": True, "window_s": 3600})  # type: ignore[arg-type]
    state = dataclasses.replace(history(20, 270.0), low_load_since=NOW - 7200)
    action, _, reason, message = brokers_decision(cluster(6, 10.0), policy, state)
    assert (action, reason) == (Action.HOLD, Reason.FORECAST_PEAK), message
    quiet = dataclasses.replace(history(600, 270.0), low_load_since=NOW - 7200)
    assert brokers_decision(cluster(6, 10.0), policy, quiet)[0] is Action.DRAIN
