"""Brokers ahead of a forecast peak: two named steps for the broker policy.

A broker operation takes tens of minutes, so the count a peak needs must be asked for
one operation earlier: the CPU (summed over brokers) and bytes in forecast over the next
operation's duration (measured from the cluster's recorded operations, 30 minutes until
one is) say how many brokers the peak needs, and a scale-in is not started when the
brokers that would remain could not carry a peak within that time.
"""

from __future__ import annotations

import math

from kafka_autoscaler.config import BrokerPolicy
from kafka_autoscaler.model import ClusterState, Reason, ScalerState
from kafka_autoscaler.policy.forecast import BYTES_IN_KEY, CPU_KEY, OPERATION_KEY, RateForecast, forecast_rate, moment

# UpdateBrokerCount takes "tens of minutes"; the figure until one is measured.
DEFAULT_OPERATION_S = 1800.0


def operation_lead_s(policy: BrokerPolicy, state: ScalerState) -> float:
    """How far ahead brokers are asked for: the measured operation duration, at most `max_lead_s`."""
    measured = state.rate_history.lead_times_s.get(OPERATION_KEY, DEFAULT_OPERATION_S)
    return min(measured, float(policy.forecast.max_lead_s))


def _forecast(key: str, policy: BrokerPolicy, state: ScalerState, now: float) -> RateForecast | None:
    if not policy.forecast.enabled:
        return None
    lead = operation_lead_s(policy, state)
    series = state.rate_history.series.get(key)
    found = forecast_rate(series, now, lead, policy.forecast.min_cycles, policy.forecast.max_error)
    return found if found.trusted and found.peak is not None and found.peak_t is not None else None


def _when(f: RateForecast, now: float) -> str:
    assert f.peak_t is not None
    return f"in {max(0.0, f.peak_t - now) / 60:.0f} minutes ({moment(f.peak_t, f.periods_min[0])})"


def forecast_peak_demand(
    cluster: ClusterState, policy: BrokerPolicy, state: ScalerState, now: float
) -> tuple[int, Reason, str] | None:
    """Brokers a forecast peak within one operation's duration needs, when more than there are."""
    demands: list[tuple[int, str]] = []
    cpu = _forecast(CPU_KEY, policy, state, now)
    if cpu is not None and cpu.peak is not None:
        need = math.ceil(cpu.peak / policy.cpu_target_pct)
        demands.append(
            (
                need,
                f"forecast: CPU peaks {_when(cpu, now)} at {cpu.peak / cluster.broker_count:.0f}% on "
                f"{cluster.broker_count} brokers ({cpu.why}); {need} keep it under {policy.cpu_target_pct:.0f}%",
            )
        )
    bytes_in = _forecast(BYTES_IN_KEY, policy, state, now)
    if bytes_in is not None and bytes_in.peak is not None and policy.max_bytes_in_per_broker is not None:
        need = math.ceil(bytes_in.peak / policy.max_bytes_in_per_broker)
        demands.append((need, f"forecast: bytes in peak {_when(bytes_in, now)} at {bytes_in.peak / 1e6:.1f} MB/s"))
    need, text = max(demands, default=(0, ""))
    if need <= cluster.broker_count:
        return None
    return need, Reason.FORECAST_PEAK, text


def peak_ahead(cluster: ClusterState, policy: BrokerPolicy, state: ScalerState, now: float) -> str | None:
    """Why a scale-in would run across a forecast peak the remaining brokers cannot carry, or None."""
    smaller = cluster.broker_count - cluster.az_count
    cpu = _forecast(CPU_KEY, policy, state, now)
    if smaller <= 0 or cpu is None or cpu.peak is None or cpu.peak / smaller < policy.cpu_target_pct:
        return None
    return (
        f"a CPU peak is forecast {_when(cpu, now)}: {cpu.peak / smaller:.0f}% on {smaller} brokers, above "
        f"the {policy.cpu_target_pct:.0f}% target"
    )
