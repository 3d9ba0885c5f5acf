"""Property: no sequence of missing or partial lag reads ever lowers a service's desired count.

Every tick goes through `tick()` with a lag source that computes what the policy sees the one
way every runner does (`build_observation` over an `OffsetsRead`). Between ordinary reads,
some are what Kafka answers when it cannot show a group whole: the group unknown, its topic
deleted, a partition without a leader, an end offset not returned, a group with no member and
no commit, Kafka unreachable. On those ticks the desired count may rise (it never does here, but
the promise is only about falling) and must never fall.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from builders import binding, config, service
from fakes import FakeWorld, ports_for
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka_autoscaler.config import ConsumerBinding
from kafka_autoscaler.engine import tick
from kafka_autoscaler.lag.observation import GroupOffsets, OffsetsRead, build_observation
from kafka_autoscaler.model import ScalerState
from kafka_autoscaler.ports import LagObservation
from kafka_autoscaler.state.memory import MemoryStateStore

GROUP, TOPIC, PARTITIONS = "orders-processor", "orders", 8
NOW = 1_700_000_000.0
STEP_S = 30.0
KINDS = ("full", "unknown-group", "deleted-topic", "leaderless", "no-end-offset", "nobody-no-commit", "unreachable")


def read_of(kind: str, produced: int, lags: Sequence[int]) -> OffsetsRead:
    """What one read returns: `produced` records per partition so far, `lags` behind it."""
    tps = [(TOPIC, p) for p in range(PARTITIONS)]
    committed = {tp: max(0, produced - lags[tp[1] % len(lags)]) for tp in tps}
    group = GroupOffsets(GROUP, "Stable", 4, frozenset(tps), committed)
    read = OffsetsRead(
        groups={GROUP: group},
        topics={GROUP: (TOPIC,)},
        partitions={TOPIC: tuple(range(PARTITIONS))},
        end=dict.fromkeys(tps, produced),
        start=dict.fromkeys(tps, 0),
    )
    if kind == "unknown-group":
        return replace(read, groups={GROUP: GroupOffsets(GROUP, "Dead", 0, frozenset(), {})})
    if kind == "deleted-topic":
        return replace(read, partitions={}, end={}, topic_errors={TOPIC: "UnknownTopicOrPartitionError"})
    if kind == "leaderless":
        return replace(
            read, leaderless=frozenset({(TOPIC, 3)}), end={tp: o for tp, o in read.end.items() if tp[1] != 3}
        )
    if kind == "no-end-offset":
        return replace(read, end={tp: o for tp, o in read.end.items() if tp[1] != 5})
    if kind == "nobody-no-commit":
        return replace(read, groups={GROUP: GroupOffsets(GROUP, "Empty", 0, frozenset(), {})})
    if kind == "unreachable":
        return OffsetsRead({}, {}, {}, {}, {}, ("Kafka could not be read: KafkaConnectionError",))
    return read


@dataclass
class ScriptedLag:
    """ports.LagSource returning the next scripted read through build_observation."""

    reads: list[OffsetsRead] = field(default_factory=list)

    def read(self, bindings: Sequence[ConsumerBinding], state: ScalerState, now: float) -> LagObservation:
        return build_observation(self.reads.pop(0), state, now)


STEPS = st.lists(
    st.tuples(st.sampled_from(KINDS), st.lists(st.integers(0, 20_000), min_size=1, max_size=PARTITIONS)),
    min_size=2,
    max_size=14,
)


@settings(max_examples=80, deadline=None)
@given(STEPS, st.integers(1, 20), st.integers(50, 400))
def test_missing_or_partial_reads_never_lower_the_desired_count(
    steps: list[tuple[str, list[int]]], desired: int, rate: int
) -> None:
    cfg = config(
        brokers={"enabled": False},
        storage={"mode": "off"},
        consumers=[binding(scale_in_stabilization_s=0, cooldown_s=0).model_dump(mode="json")],
    )
    world = FakeWorld(cluster=None, groups={}, services={GROUP: service(desired)})
    lag, store = ScriptedLag(), MemoryStateStore()
    ports = replace(ports_for(world, store), lag=lag)
    produced = 100_000
    for i, (kind, lags) in enumerate(steps):
        produced += int(rate * STEP_S)
        lag.reads.append(read_of(kind, produced, lags))
        before = world.services[GROUP].desired
        tick(cfg, ports, NOW + i * STEP_S, "test")
        after = world.services[GROUP].desired
        if kind != "full":
            assert after >= before, f"step {i} ({kind}) lowered {before} -> {after}"


def test_the_partial_kinds_are_each_missing_data() -> None:
    for kind in KINDS[1:]:
        observed = build_observation(read_of(kind, 1000, [10]), ScalerState(), NOW)
        assert GROUP not in observed.groups and observed.problems, kind
    assert GROUP in build_observation(read_of("full", 1000, [10]), ScalerState(), NOW).groups
