"""The simulator's lag source goes through production's lag arithmetic: the same offsets give the same lag."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kafka.structs import OffsetAndMetadata, OffsetAndTimestamp, TopicPartition
from kafka_autoscaler.config import ConsumerMode
from kafka_autoscaler.observe.kafka_lag import KafkaLagSource
from kafka_autoscaler.sim.adapters import SimLagSource
from kafka_autoscaler.sim.model import GROUP_ID, TOPIC, World
from kafka_autoscaler.sim.scaler import OurScaler
from kafka_autoscaler.sim.settings import SimSettings
from kafka_autoscaler.sim.trace import Trace

RISING = Trace.from_rows([(0, 2000.0), (600, 2000.0), (660, 9000.0), (1500, 9000.0)])


class WorldAsKafka:
    """Answers like kafka-python 3's KafkaAdminClient, from the simulated world's offsets and group."""

    def __init__(self, world: World) -> None:
        self.world = world

    def describe_groups(self, ids: list[str]) -> dict[str, Any]:
        group = self.world.group
        members = []
        for member in group.members:
            owned = [p for p, owner in enumerate(group.owners) if owner == member]
            assignment = {"assigned_partitions": [{"topic": TOPIC, "partitions": owned}]}
            members.append({"member_id": str(member), "member_assignment": assignment})
        return {g: {"group_state": group.state(self.world.now), "error": None, "members": members} for g in ids}

    def list_group_offsets(self, specs: Mapping[str, None]) -> dict[str, Any]:
        committed = self.world.offsets_now().committed.tolist()
        return {
            g: {TopicPartition(TOPIC, p): OffsetAndMetadata(c, "", -1) for p, c in enumerate(committed)} for g in specs
        }

    def describe_topics(self, topics: list[str]) -> list[dict[str, Any]]:
        partitions = [{"partition_index": p, "leader_id": 1} for p in range(self.world.settings.partitions)]
        return [{"name": t, "error_code": 0, "partitions": partitions} for t in topics]

    def list_partition_offsets(self, specs: Mapping[TopicPartition, Any]) -> dict[TopicPartition, Any]:
        end = self.world.offsets_now().end.tolist()
        return {tp: OffsetAndTimestamp(end[tp.partition], -1, None) for tp in specs}


def test_simulated_and_kafka_readers_give_equal_observations_after_a_run() -> None:
    world = World(RISING, SimSettings(partitions=12, seed=3))
    scaler = OurScaler(world, ConsumerMode.TIME_LAG)
    world.start(scaler.initial_tasks())
    kafka = KafkaLagSource(WorldAsKafka(world))
    simulated = SimLagSource(world)
    bindings = scaler.config.consumers
    compared = 0
    for now in range(1, world.duration_s + 1):
        world.step(now)
        scaler.on_second(now)
        if now % 150 == 0:  # between ticks, on the history the ticks kept
            state = scaler.ports.state.load()
            assert simulated.read(bindings, state, float(now)) == kafka.read(bindings, state, float(now))
            compared += 1
    state = scaler.ports.state.load()
    observed = simulated.read(bindings, state, float(world.duration_s)).groups[GROUP_ID]
    assert compared == 10 and len(state.end_offsets) == 12
    # The produce rate is measured from sampled end offsets over the rate window, as in production.
    assert observed.produce_rate is not None and 8000 < observed.produce_rate < 9500
    assert observed.max_time_lag_s is not None and observed.total_lag > 0
