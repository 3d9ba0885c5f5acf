"""The modelled MSK cluster under our tick: CPU from throughput, a slow broker operation, then partition moves."""

from __future__ import annotations

import pytest
from kafka_autoscaler.config import ConsumerMode
from kafka_autoscaler.model import Action, Decision, Reason, Target
from kafka_autoscaler.ports import ActionError
from kafka_autoscaler.sim.model import World
from kafka_autoscaler.sim.scaler import OurScaler
from kafka_autoscaler.sim.settings import SimSettings
from kafka_autoscaler.sim.trace import Trace

BUSY = Trace.from_rows([(0, 10_000.0), (3 * 3600, 10_000.0)])
# 10,000 msgs/s of 1 KiB, 3 replicas over 3 brokers: 10.24 MB/s in per broker, 70 % CPU at 15 MB/s for 100 %.
HOT_BROKERS = SimSettings(partitions=12, broker_bytes_per_s_at_full_cpu=15e6)


def test_broker_cpu_follows_throughput_and_is_seen_late() -> None:
    world = World(BUSY, HOT_BROKERS)
    world.start(10)
    for now in range(1, 301):
        world.step(now)
    loads = world.msk.loads(now=300, lookback_s=600)
    cpu = [s.value for s in loads[0].cpu_pct]
    assert cpu and all(v == pytest.approx(5 + 95 * 10_000 * 1024 / 15e6, rel=1e-3) for v in cpu)
    assert all(s.t <= 300 - 60 - 60 for s in loads[0].cpu_pct)  # a minute's datapoint shows 1-2 min after it ends


def test_our_tick_scales_brokers_out_then_spreads_partitions_onto_them() -> None:
    world = World(BUSY, HOT_BROKERS)
    scaler = OurScaler(world, ConsumerMode.TIME_LAG)
    world.start(scaler.initial_tasks())
    states: set[str] = set()
    for now in range(1, world.duration_s + 1):
        world.step(now)
        scaler.on_second(now)
        states.add(world.msk.describe().state)
    cluster = world.msk.describe()
    assert "UPDATING" in states  # UpdateBrokerCount took its tens of minutes
    assert cluster.broker_count == 6  # ceil(3 * 70 / 60) = 4, rounded up to a multiple of 3 AZs
    assert set(world.msk.replicas.values()) == {12 * 3 // 6}  # the new brokers got their share


def test_operations_refuse_a_stale_version_and_overlap() -> None:
    world = World(BUSY, HOT_BROKERS)
    msk = world.msk
    with pytest.raises(ActionError, match="not current"):
        msk.update_broker_count("K0", 6)
    msk.update_broker_count("K1", 6)
    with pytest.raises(ActionError, match="in progress"):
        msk.update_broker_storage("K1", 2000)
    drain = Decision(Target.BROKERS, "brokers", Action.DRAIN, 3, 3, Reason.LOAD_LOW, "", {"broker_ids": [1, 2, 3]})
    with pytest.raises(ActionError, match="no broker would be left"):
        msk.start_moves(drain)
