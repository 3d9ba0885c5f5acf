"""The consumer steps that look ahead: a floor before forecast load, and a pause after a scale-out.

Both are named steps of the consumer pipeline (`(Situation, Proposal) -> Proposal`).
The floor only ever raises the count: reactive sizing stays in charge above it, it never
causes a scale-in, and it ends with the forecast peak, so it never holds a scale-in after.
"""

from __future__ import annotations

from dataclasses import replace

from kafka_autoscaler.config import ConsumerBinding, ConsumerMode
from kafka_autoscaler.model import Reason, ScalerState
from kafka_autoscaler.policy.consumer_demand import label, partition_tasks, task_count
from kafka_autoscaler.policy.consumer_steps import DEFAULT_START_DELAY_S, Proposal, Situation
from kafka_autoscaler.policy.forecast import CYCLES_USED, RateForecast, forecast_rate, moment


def start_delay_s(binding: ConsumerBinding, state: ScalerState) -> float:
    """The group's measured task start-up delay, else the usual ECS figure."""
    return state.rate_history.lead_times_s.get(binding.key, DEFAULT_START_DELAY_S)


def consumer_forecast(binding: ConsumerBinding, state: ScalerState, now: float, lead_s: float) -> RateForecast | None:
    """The produce-rate forecast over the lead; None when forecasting is off for the binding."""
    if not binding.forecast.enabled:
        return None
    series = state.rate_history.series.get(binding.key)
    return forecast_rate(series, now, lead_s, binding.forecast.min_cycles, binding.forecast.max_error)


def floor_tasks(s: Situation, rate: float) -> int:
    """Tasks for a produce rate spread over the partitions as the present rate is."""
    active = [p for p in s.group.partitions if label(p) not in s.stuck]
    rates = [p.produce_rate or 0.0 for p in active]
    total = sum(rates)
    if active:
        shares = [r / total for r in rates] if total > 0 else [1.0 / len(active)] * len(active)
        raw, _, _ = partition_tasks([rate * share for share in shares], s.per_task)
    else:
        raw = rate / s.per_task
    return task_count(raw, s.group, s.binding)[0]


def forecast_floor(s: Situation, p: Proposal) -> Proposal:
    """Raise the count to what the forecast peak over the lead needs (time_lag mode only)."""
    f = s.forecast
    if f is None or s.binding.mode is not ConsumerMode.TIME_LAG:
        return p
    shown = {**f.as_dict(), "lead_s": round(s.lead_s, 1)}
    details = {**p.details, "forecast": shown}
    if not f.trusted or f.peak is None or f.peak_t is None:
        notes = (*p.notes, f"forecast {f.why}") if f.status == "off" else p.notes
        return replace(p, details=details, notes=notes)
    floor = floor_tasks(s, f.peak)
    shown["floor_tasks"] = floor
    if floor <= p.desired:
        return replace(p, details=details, recommendation=max(p.recommendation, floor))
    cycles = min(f.cycles, CYCLES_USED)
    reached = f.reached_in_each if f.reached_in_each is not None else f.peak
    ahead = max(0.0, f.peak_t - s.now)
    spread = f" ± {f.spread:,.0f}" if f.spread else ""
    note = (
        f"ForecastFloor: in each of the last {cycles} cycles the rate reached {reached:,.0f} msg/s "
        f"{moment(f.peak_t, f.periods_min[0])}; {floor} tasks asked for {ahead / 60:.0f} minutes ahead "
        f"(forecast {f.peak:,.0f}{spread} msg/s, error {f.error or 0.0:.0%} over the last cycle)"
    )
    # Not remembered for the scale-in window: once the peak passes, the floor is gone.
    return replace(
        p,
        desired=floor,
        raw_tasks=max(p.raw_tasks, float(floor)),
        reason=Reason.FORECAST_FLOOR,
        recommendation=max(p.recommendation, floor),
        notes=(*p.notes, note),
        details=details,
    )


def settle_after_scale_out(s: Situation, p: Proposal) -> Proposal:
    """No scale-in within one task start-up delay of a scale-out.

    Why: each change stops the group for a rebalance; a count that is lowered before the
    tasks just asked for have even started pays two rebalances for nothing.
    """
    last = s.state.rate_history.scaled_out_at.get(s.binding.key)
    if last is None or s.now - last >= s.start_delay_s:
        return p
    return p.hold(
        s,
        Reason.SETTLING_AFTER_SCALE_OUT,
        f"{s.name}: {p.desired} tasks would do, but the last scale-out was {s.now - last:.0f}s ago, within one "
        f"task start-up ({s.start_delay_s:.0f}s); keeping {s.current}{p.suffix}.",
    )
