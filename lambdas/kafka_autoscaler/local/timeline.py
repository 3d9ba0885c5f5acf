"""What the demo saw, tick by tick: the data behind the live view, the HTML report and the summary.

Pure values and arithmetic; times are seconds since the load profile started.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kafka_autoscaler.model import Decision


@dataclass(frozen=True)
class Point:
    """The world at one tick."""

    t: float
    phase: str
    planned_rate: float  # msg/s the load profile asks the producer for
    produce_rate: float | None  # msg/s into the topic, from end offsets since the previous tick
    total_lag: int | None
    max_time_lag_s: float | None
    consumers_desired: int
    consumers_running: int
    brokers: int
    cluster_state: str
    broker_cpu_pct: float | None  # mean over brokers
    bytes_in_per_broker: float | None
    forecast_rate: float | None = None  # msg/s the trusted forecast expected for this minute; None: no forecast


def forecast_for_now(decisions: Sequence[Decision], key: str) -> float | None:
    """The rate a trusted forecast expected for the present minute, from the decision for `key`."""
    for decision in decisions:
        shown = decision.details.get("forecast") if decision.key == key else None
        if isinstance(shown, dict) and shown.get("status") == "trusted" and shown.get("values"):
            return float(shown["values"][0])
    return None


@dataclass(frozen=True)
class Event:
    """A decision that changed something (or failed), with its reason."""

    t: float
    target: str
    action: str
    current: int
    desired: int
    reason: str
    message: str
    status: str


@dataclass
class Timeline:
    """Points and events of one demo run, appended as it goes."""

    profile: str
    duration_s: float
    ramp_start_s: float | None
    target_time_lag_s: float
    bytes_in_limit_per_broker: float | None = None  # the broker policy's limit, drawn on the load plot
    points: list[Point] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


@dataclass(frozen=True)
class Milestones:
    """The measured timeline: seconds from the start of the ramp, None when it did not happen."""

    ramp_start_s: float | None
    first_scale_out_s: float | None  # first consumer scale-out after the ramp began
    lag_over_target_s: float | None  # first tick after the ramp with time lag above target
    lag_back_under_target_s: float | None  # first tick after that with time lag back under target
    broker_scale_out_s: float | None
    broker_added_s: float | None  # first tick that counted more brokers than at the start
    rebalance_s: float | None  # first rebalance started after the broker scale-out
    peak_consumers: int
    peak_brokers: int


def _first(events: Sequence[Event], start: float, target: str, action: str) -> float | None:
    return next((e.t for e in events if e.t >= start and e.target == target and e.action == action), None)


def milestones(timeline: Timeline) -> Milestones:
    """Key moments of the run, measured from the start of the ramp."""
    ramp = timeline.ramp_start_s or 0.0
    points = [p for p in timeline.points if p.t >= ramp]
    over = next(
        (p.t for p in points if p.max_time_lag_s is not None and p.max_time_lag_s > timeline.target_time_lag_s),
        None,
    )
    under = None
    if over is not None:
        under = next(
            (
                p.t
                for p in points
                if p.t > over and p.max_time_lag_s is not None and p.max_time_lag_s <= timeline.target_time_lag_s
            ),
            None,
        )
    start_brokers = timeline.points[0].brokers if timeline.points else 0
    broker_decided = _first(timeline.events, ramp, "brokers", "scale_out")

    def since_ramp(t: float | None) -> float | None:
        return None if t is None else t - ramp

    return Milestones(
        ramp_start_s=timeline.ramp_start_s,
        first_scale_out_s=since_ramp(_first(timeline.events, ramp, "consumers", "scale_out")),
        lag_over_target_s=since_ramp(over),
        lag_back_under_target_s=since_ramp(under),
        broker_scale_out_s=since_ramp(broker_decided),
        broker_added_s=since_ramp(next((p.t for p in points if p.brokers > start_brokers), None)),
        rebalance_s=since_ramp(_first(timeline.events, broker_decided, "rebalance", "rebalance"))
        if broker_decided is not None
        else None,
        peak_consumers=max((p.consumers_running for p in timeline.points), default=0),
        peak_brokers=max((p.brokers for p in timeline.points), default=0),
    )


def describe_milestones(m: Milestones) -> list[str]:
    """The measured timeline in sentences, for the terminal and the report."""

    def seconds(value: float | None, missing: str) -> str:
        return missing if value is None else f"{value:+.0f}s"

    ramp = (
        "no ramp in this profile" if m.ramp_start_s is None else f"the ramp began {m.ramp_start_s:.0f}s into the load"
    )
    return [
        f"Times are from the start of the ramp ({ramp}).",
        f"First consumer scale-out: {seconds(m.first_scale_out_s, 'none')}.",
        f"Time lag first above target: {seconds(m.lag_over_target_s, 'never')}; "
        f"back under target: {seconds(m.lag_back_under_target_s, 'not within the run')}.",
        f"Broker scale-out decided: {seconds(m.broker_scale_out_s, 'no')}; new broker serving: "
        f"{seconds(m.broker_added_s, 'no')}; partitions rebalanced onto it: {seconds(m.rebalance_s, 'no')}.",
        f"Peak consumers running: {m.peak_consumers}; peak brokers: {m.peak_brokers}.",
    ]


def save_timeline(timeline: Timeline, path: Path) -> None:
    """The timeline and its milestones as JSON, for a later look or a comparison of runs."""
    data = {**dataclasses.asdict(timeline), "milestones": dataclasses.asdict(milestones(timeline))}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
