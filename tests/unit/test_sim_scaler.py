"""Our autoscaler in the simulator: the real tick() through simulated ports, on schedule and on alarm."""

from __future__ import annotations

from kafka_autoscaler.config import ConsumerMode
from kafka_autoscaler.model import Action
from kafka_autoscaler.sim.adapters import MemoryNotifier
from kafka_autoscaler.sim.model import World
from kafka_autoscaler.sim.scaler import ALARM_EVALUATION_OFFSET_S, OurScaler
from kafka_autoscaler.sim.settings import SimSettings
from kafka_autoscaler.sim.trace import Trace
from kafka_autoscaler.state.memory import MemoryStateStore

SPIKE = Trace.from_rows([(0, 1000.0), (300, 1000.0), (330, 9000.0), (900, 9000.0), (930, 1000.0), (2400, 1000.0)])


def run_scaler(mode: ConsumerMode) -> tuple[World, OurScaler, list[int]]:
    world = World(SPIKE, SimSettings(partitions=16))
    scaler = OurScaler(world, mode)
    world.start(scaler.initial_tasks())
    tick_times: list[int] = []
    for now in range(1, world.duration_s + 1):
        world.step(now)
        before = scaler.ticks
        scaler.on_second(now)
        if scaler.ticks > before:
            tick_times.append(now)
    return world, scaler, tick_times


def test_time_lag_mode_scales_out_for_the_spike_and_back_in_after() -> None:
    world, scaler, tick_times = run_scaler(ConsumerMode.TIME_LAG)
    store = scaler.ports.state
    assert isinstance(store, MemoryStateStore)
    actions = [o.decision.action for _, o in store.log if o.decision.key == "consumer:events-consumer"]
    assert Action.SCALE_OUT in actions and Action.SCALE_IN in actions
    assert world.peak_tasks >= 9  # 9000 msgs/s at 1000 per task
    assert world.ecs.desired < world.peak_tasks
    notifier = scaler.ports.notifier
    assert isinstance(notifier, MemoryNotifier) and notifier.messages
    # Every minute on the schedule, plus at least one tick the lag alarm triggered.
    assert all(t % 60 == 0 for t in tick_times if t % 60 != ALARM_EVALUATION_OFFSET_S)
    assert any(t % 60 == ALARM_EVALUATION_OFFSET_S for t in tick_times)


def test_lag_threshold_mode_runs_through_the_same_tick() -> None:
    world, scaler, _ = run_scaler(ConsumerMode.LAG_THRESHOLD)
    assert scaler.config.consumers[0].mode is ConsumerMode.LAG_THRESHOLD
    assert world.ecs.changes > 0
