"""One run: a trace, a policy and settings in; metrics and a per-minute timeline out."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from kafka_autoscaler.config import ConsumerMode
from kafka_autoscaler.sim.baselines.clairvoyant import Clairvoyant
from kafka_autoscaler.sim.baselines.keda import KedaHpa
from kafka_autoscaler.sim.baselines.static import Static
from kafka_autoscaler.sim.baselines.target_tracking import TargetTracking
from kafka_autoscaler.sim.controller import Controller
from kafka_autoscaler.sim.metrics import RunMetrics, measure
from kafka_autoscaler.sim.model import MinuteSample, World
from kafka_autoscaler.sim.scaler import OurScaler
from kafka_autoscaler.sim.settings import SimSettings
from kafka_autoscaler.sim.trace import Trace

POLICIES: dict[str, Callable[[World], Controller]] = {
    "time-lag": lambda world: OurScaler(world, ConsumerMode.TIME_LAG),
    "lag-threshold": lambda world: OurScaler(world, ConsumerMode.LAG_THRESHOLD),
    "keda": KedaHpa,
    "target-tracking": TargetTracking,
    "static": Static,
    "clairvoyant": Clairvoyant,
}
# The policies whose one setting is a lag threshold: bench sweeps it, --lag-threshold sets it.
THRESHOLD_POLICIES = ("lag-threshold", "keda", "target-tracking")


class UnknownPolicyError(ValueError):
    """The policy name is not one the simulator knows."""


@dataclass(frozen=True)
class RunResult:
    trace: str
    policy: str
    settings: SimSettings
    metrics: RunMetrics
    timeline: tuple[MinuteSample, ...]
    elapsed_s: float  # wall-clock time the simulation took


def run(trace: Trace, policy: str, settings: SimSettings, per_second: bool = False) -> RunResult:
    """Simulate `trace` under `policy`.

    The world advances to each second the policy wakes at (Controller.next_wakeup) in one
    go; `per_second` steps the world and calls the policy every second instead, the
    reference the default must match exactly.
    """
    if policy not in POLICIES:
        raise UnknownPolicyError(f"unknown policy '{policy}'; choose from {', '.join(POLICIES)}")
    started = time.perf_counter()
    world = World(trace, settings)
    controller = POLICIES[policy](world)
    world.start(controller.initial_tasks())
    end = world.duration_s
    if per_second:
        for now in range(1, end + 1):
            world.step(now)
            controller.on_second(now)
    else:
        now = 0
        while now < end:
            now = min(max(controller.next_wakeup(now), now + 1), end)
            world.advance(now)
            controller.on_second(now)
    metrics = measure(world)
    return RunResult(trace.name, policy, settings, metrics, tuple(world.timeline), time.perf_counter() - started)
