"""Broker policy: one row per case, with the expected decisions and why."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka_autoscaler.config import BrokerPolicy
from kafka_autoscaler.model import Action, BrokerLoad, ClusterState, Reason, Sample, ScalerState, Workflow
from kafka_autoscaler.policy.brokers import brokers_to_drain, decide_brokers

NOW = 1_700_000_000.0
RACKS = ("az-1", "az-2", "az-3")


def series(value: float, minutes: int = 20) -> tuple[Sample, ...]:
    return tuple(Sample(NOW - 60 * m, value) for m in range(minutes, -1, -1))


def cluster(
    count: int = 3,
    cpu: float | None = 30.0,
    bytes_in: float = 1e6,
    partitions: int | None = 300,
    state: str = "ACTIVE",
    operation: str | None = None,
    per_broker: dict[int, dict[str, Any]] | None = None,
    instance_type: str = "kafka.m5.large",
    kafka_version: str | None = "3.6.0",
) -> ClusterState:
    brokers = []
    for i in range(1, count + 1):
        load = BrokerLoad(
            broker_id=i,
            rack=RACKS[(i - 1) % 3],
            cpu_pct=series(cpu) if cpu is not None else (),
            bytes_in_per_s=series(bytes_in),
            partition_count=partitions,
        )
        brokers.append(replace(load, **(per_broker or {}).get(i, {})))
    return ClusterState(
        "arn",
        state,
        "K3AEGXETSR30VB",
        count,
        3,
        instance_type,
        1000,
        operation,
        None,
        tuple(brokers),
        kafka_version=kafka_version,
    )


@dataclass(frozen=True)
class Case:
    name: str
    why: str
    cluster: ClusterState | None
    expected: list[tuple[str, Action, int, Reason]]  # (target, action, desired, reason) per decision
    policy: dict[str, Any] = field(default_factory=dict)
    state: ScalerState = field(default_factory=ScalerState)
    reassignments: int | None = 0
    replicas: dict[int, int] | str | None = "from partition counts"  # Kafka metadata; the string: as counted


CASES = [
    Case("normal", "30% CPU, 300 partitions per broker", cluster(), [("brokers", Action.HOLD, 3, Reason.LOAD_NORMAL)]),
    Case(
        "cpu high",
        "75% on 3 brokers at 60% target -> 3.75 -> 4 -> next multiple of 3 = 6",
        cluster(cpu=75.0),
        [("brokers", Action.SCALE_OUT, 6, Reason.CPU_HIGH)],
    ),
    Case(
        "cpu spike is not sustained",
        "one minute at 95% inside 15 of 40%",
        cluster(per_broker={i: {"cpu_pct": (*series(40.0)[:-1], Sample(NOW, 95.0))} for i in (1, 2, 3)}),
        [("brokers", Action.HOLD, 3, Reason.LOAD_NORMAL)],
    ),
    Case(
        "cpu window not covered",
        "two minutes of data cannot show 15 minutes above target",
        cluster(per_broker={i: {"cpu_pct": series(90.0, minutes=2)} for i in (1, 2, 3)}),
        [("brokers", Action.HOLD, 3, Reason.LOAD_NORMAL)],
    ),
    Case(
        "bytes in",
        "3 x 50 MB/s over a 40 MB/s limit -> 150/40 = 3.75 -> 6",
        cluster(bytes_in=50e6),
        [("brokers", Action.SCALE_OUT, 6, Reason.BYTES_IN_HIGH)],
        policy={"max_bytes_in_per_broker": 40e6},
    ),
    Case(
        "partitions",
        "1,500 per m5.large broker, 1,000 recommended -> 4.5 -> 6",
        cluster(partitions=1500),
        [("brokers", Action.SCALE_OUT, 6, Reason.PARTITIONS_HIGH)],
    ),
    Case(
        "at max",
        "wants 6, max is 3",
        cluster(cpu=90.0),
        [("brokers", Action.HOLD, 3, Reason.AT_MAX)],
        policy={"max_brokers": 3},
    ),
    Case(
        "max caps to a multiple",
        "wants 12, max 9",
        cluster(cpu=99.0, count=6),
        [("brokers", Action.SCALE_OUT, 9, Reason.CPU_HIGH)],
        policy={"max_brokers": 9},
    ),
    Case(
        "not active",
        "MSK is updating",
        cluster(cpu=90.0, state="UPDATING"),
        [("brokers", Action.HOLD, 3, Reason.CLUSTER_BUSY)],
    ),
    Case(
        "operation running",
        "a storage update is in flight",
        cluster(cpu=90.0, operation="UPDATE_BROKER_STORAGE"),
        [("brokers", Action.HOLD, 3, Reason.OPERATION_IN_PROGRESS)],
    ),
    Case(
        "cooldown",
        "last broker change 10 min ago",
        cluster(cpu=90.0),
        [("brokers", Action.HOLD, 3, Reason.COOLDOWN)],
        state=ScalerState(last_action_t={"brokers": NOW - 600}),
    ),
    Case("missing cluster", "MSK unreadable", None, [("brokers", Action.HOLD, 0, Reason.MISSING_DATA)]),
    Case(
        "new brokers are empty",
        "after a scale-out, brokers 4-6 hold nothing",
        cluster(count=6, per_broker={i: {"partition_count": 0} for i in (4, 5, 6)}),
        [
            ("brokers", Action.HOLD, 6, Reason.LOAD_NORMAL),
            ("rebalance", Action.REBALANCE, 0, Reason.PARTITIONS_UNBALANCED),
        ],
    ),
    Case(
        "no rebalance while moves run",
        "Kafka reports reassignments",
        cluster(count=6, per_broker={i: {"partition_count": 0} for i in (4, 5, 6)}),
        [("brokers", Action.HOLD, 6, Reason.LOAD_NORMAL)],
        reassignments=12,
    ),
    Case(
        "no rebalance when cpu is high",
        "moving data above 70% CPU adds load",
        cluster(count=6, cpu=72.0, per_broker={i: {"partition_count": 0} for i in (4, 5, 6)}),
        [("brokers", Action.HOLD, 6, Reason.LOAD_NORMAL), ("rebalance", Action.HOLD, 0, Reason.PARTITIONS_UNBALANCED)],
        policy={"cpu_target_pct": 80.0},
    ),
    Case(
        "scale in off by default",
        "low load for days, but scale-in is not enabled",
        cluster(count=6, cpu=5.0),
        [("brokers", Action.HOLD, 6, Reason.LOAD_NORMAL)],
        state=ScalerState(low_load_since=NOW - 10 * 86400),
    ),
    Case(
        "drain after a long low window",
        "6 brokers at 5% for a day: drain one per AZ",
        cluster(count=6, cpu=5.0),
        [("brokers", Action.DRAIN, 3, Reason.LOAD_LOW)],
        policy={"scale_in": {"enabled": True}},
        state=ScalerState(low_load_since=NOW - 86400),
    ),
    Case(
        "drain waits",
        "brokers 4-6 still hold partitions",
        cluster(count=6, cpu=5.0),
        [("brokers", Action.HOLD, 6, Reason.DRAIN_PENDING)],
        policy={"scale_in": {"enabled": True}},
        state=ScalerState(workflows=(Workflow("broker_drain", NOW - 300, 6, 3, None, (4, 5, 6)),)),
    ),
    Case(
        "a stalled drain is asked for again",
        "10 min and nothing moving, replicas still on 4-6",
        cluster(count=6, cpu=5.0),
        [("brokers", Action.DRAIN, 3, Reason.DRAIN_PENDING)],
        policy={"scale_in": {"enabled": True}},
        state=ScalerState(
            last_action_t={"brokers": NOW - 700},
            workflows=(Workflow("broker_drain", NOW - 700, 6, 3, None, (4, 5, 6)),),
        ),
    ),
    Case(
        "a moving drain is left alone",
        "reassignments under way",
        cluster(count=6, cpu=5.0),
        [("brokers", Action.HOLD, 6, Reason.DRAIN_PENDING)],
        policy={"scale_in": {"enabled": True}},
        reassignments=4,
        state=ScalerState(
            last_action_t={"brokers": NOW - 700},
            workflows=(Workflow("broker_drain", NOW - 700, 6, 3, None, (4, 5, 6)),),
        ),
    ),
    Case(
        "scale in once empty",
        "brokers 4-6 hold no partitions",
        cluster(count=6, cpu=5.0, per_broker={i: {"partition_count": 0} for i in (4, 5, 6)}),
        [("brokers", Action.SCALE_IN, 3, Reason.LOAD_LOW)],
        policy={"scale_in": {"enabled": True}},
        state=ScalerState(workflows=(Workflow("broker_drain", NOW - 600, 6, 3, None, (4, 5, 6)),)),
    ),
    Case(
        "only canaries left",
        "CloudWatch counts the canary partitions MSK keeps on every broker; Kafka's metadata without them is 0",
        cluster(count=6, cpu=5.0, per_broker={i: {"partition_count": 2} for i in (4, 5, 6)}),
        [("brokers", Action.SCALE_IN, 3, Reason.LOAD_LOW)],
        policy={"scale_in": {"enabled": True}},
        state=ScalerState(workflows=(Workflow("broker_drain", NOW - 600, 6, 3, None, (4, 5, 6)),)),
        replicas={1: 300, 2: 300, 3: 300, 4: 0, 5: 0, 6: 0},
    ),
    Case(
        "emptiness unknown",
        "Kafka's metadata could not be read: a broker is never judged empty from CloudWatch",
        cluster(count=6, cpu=5.0, per_broker={i: {"partition_count": 0} for i in (4, 5, 6)}),
        [("brokers", Action.HOLD, 6, Reason.DRAIN_PENDING)],
        policy={"scale_in": {"enabled": True}},
        state=ScalerState(workflows=(Workflow("broker_drain", NOW - 600, 6, 3, None, (4, 5, 6)),)),
        replicas=None,
    ),
    Case(
        "no removal on t3",
        "MSK removes brokers only from M5 and M7g brokers",
        cluster(count=6, cpu=5.0, partitions=50, instance_type="kafka.t3.small"),
        [("brokers", Action.HOLD, 6, Reason.SCALE_IN_UNSUPPORTED)],
        policy={"scale_in": {"enabled": True}},
        state=ScalerState(low_load_since=NOW - 86400),
    ),
    Case(
        "no removal before Kafka 2.8.1",
        "MSK removes brokers only on Kafka 2.8.1 or later",
        cluster(count=6, cpu=5.0, kafka_version="2.6.2"),
        [("brokers", Action.HOLD, 6, Reason.SCALE_IN_UNSUPPORTED)],
        policy={"scale_in": {"enabled": True}},
        state=ScalerState(low_load_since=NOW - 86400),
    ),
    Case(
        "removal on a 3.7.x cluster",
        "MSK's 3.7.x version reads as 3.7.0, past 2.8.1",
        cluster(count=6, cpu=5.0, kafka_version="3.7.x.kraft"),
        [("brokers", Action.DRAIN, 3, Reason.LOAD_LOW)],
        policy={"scale_in": {"enabled": True}},
        state=ScalerState(low_load_since=NOW - 86400),
    ),
    Case(
        "express scales in without a drain",
        "MSK's intelligent rebalancing moves partitions off the brokers it removes",
        cluster(count=6, cpu=5.0, instance_type="express.m7g.large"),
        [("brokers", Action.SCALE_IN, 3, Reason.LOAD_LOW)],
        policy={"scale_in": {"enabled": True}},
        state=ScalerState(low_load_since=NOW - 86400),
    ),
    Case(
        "express is not rebalanced",
        "uneven partitions on Express: MSK rebalances them itself",
        cluster(count=6, per_broker={i: {"partition_count": 0} for i in (4, 5, 6)}, instance_type="express.m7g.large"),
        [("brokers", Action.HOLD, 6, Reason.LOAD_NORMAL)],
    ),
    Case(
        "express bytes-in limit",
        "express.m7g.large sustains 15.6 MBps per broker; 3 x 20 MB/s -> 60/15.6 = 3.8 -> 6",
        cluster(bytes_in=20e6, instance_type="express.m7g.large"),
        [("brokers", Action.SCALE_OUT, 6, Reason.BYTES_IN_HIGH)],
    ),
    Case(
        "metrics failed",
        "GetMetricData failed: no limit can be judged, which is missing data, not a normal load",
        replace(cluster(cpu=None, partitions=None), metrics_error="ThrottlingException"),
        [("brokers", Action.HOLD, 3, Reason.MISSING_DATA)],
    ),
    Case(
        "never below min",
        "3 brokers at 1% but min is 3",
        cluster(cpu=1.0),
        [("brokers", Action.HOLD, 3, Reason.LOAD_NORMAL)],
        policy={"scale_in": {"enabled": True}},
        state=ScalerState(low_load_since=NOW - 10 * 86400),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_broker_decisions(case: Case) -> None:
    policy = BrokerPolicy.model_validate(case.policy)
    replicas = case.replicas
    if isinstance(replicas, str):  # as the snapshot does without a reader: the partition counts
        brokers = case.cluster.brokers if case.cluster else ()
        replicas = {b.broker_id: b.partition_count or 0 for b in brokers}
    result = decide_brokers(case.cluster, policy, case.state, case.reassignments, NOW, replicas=replicas)
    got = [(d.target.value, d.action, d.desired, d.reason) for d in result.decisions]
    assert got == case.expected, f"{case.why}: {[d.message for d in result.decisions]}"


def test_low_load_stretch_starts_and_ends() -> None:
    policy = BrokerPolicy.model_validate({"scale_in": {"enabled": True}})
    low = decide_brokers(cluster(count=6, cpu=5.0), policy, ScalerState(), None, NOW)
    assert low.low_load_since == NOW
    kept = decide_brokers(cluster(count=6, cpu=5.0), policy, ScalerState(low_load_since=NOW - 50), None, NOW)
    assert kept.low_load_since == NOW - 50
    ended = decide_brokers(cluster(count=6, cpu=None), policy, ScalerState(low_load_since=NOW - 50), None, NOW)
    assert ended.low_load_since is None, "missing CPU data must end the low-load stretch"


def test_drain_picks_one_broker_per_rack() -> None:
    assert brokers_to_drain(cluster(count=6)) == (4, 5, 6)
    assert brokers_to_drain(cluster(count=9)) == (7, 8, 9)


@settings(max_examples=300, deadline=None)
@given(
    azs=st.integers(1, 3),
    multiple=st.integers(1, 6),
    cpu=st.floats(0, 100),
    partitions=st.integers(0, 5000),
    max_multiple=st.integers(1, 8),
    bytes_in=st.floats(0, 2e8),
)
def test_counts_are_multiples_of_the_az_count(
    azs: int, multiple: int, cpu: float, partitions: int, max_multiple: int, bytes_in: float
) -> None:
    count = azs * multiple
    policy = BrokerPolicy(
        min_brokers=azs, max_brokers=azs * max(max_multiple, multiple), az_count=azs, max_bytes_in_per_broker=50e6
    )
    c = replace(cluster(count=count, cpu=cpu, partitions=partitions, bytes_in=bytes_in), az_count=azs)
    for d in decide_brokers(c, policy, ScalerState(), 0, NOW).decisions:
        if d.target.value == "brokers" and d.action is not Action.HOLD:
            assert d.desired % azs == 0
            assert policy.min_brokers <= d.desired <= policy.max_brokers
