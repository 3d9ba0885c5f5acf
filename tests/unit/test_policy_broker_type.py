"""Broker size (UpdateBrokerType): one row per case, with the expected decision and why."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from kafka_autoscaler.config import BrokerPolicy
from kafka_autoscaler.instances import INSTANCES
from kafka_autoscaler.model import Action, BrokerLoad, ClusterState, Decision, Reason, Sample, ScalerState, Target
from kafka_autoscaler.policy.broker_type import BROKER_TYPE_KEY, adjacent_size, decide_broker_type
from kafka_autoscaler.policy.brokers import decide_brokers

NOW = 1_700_000_000.0
DAY = 86400.0


def series(value: float, minutes: int = 20) -> tuple[Sample, ...]:
    return tuple(Sample(NOW - 60 * m, value) for m in range(minutes, -1, -1))


def cluster(
    count: int = 6,
    cpu: float | None = 80.0,
    partitions: int | None = 500,
    instance_type: str = "kafka.m7g.xlarge",
    state: str = "ACTIVE",
    operation: str | None = None,
) -> ClusterState:
    brokers = tuple(
        BrokerLoad(
            broker_id=i,
            rack=f"az-{(i - 1) % 3 + 1}",
            cpu_pct=series(cpu) if cpu is not None else (),
            partition_count=partitions,
        )
        for i in range(1, count + 1)
    )
    return ClusterState("arn", state, "K3AEGXETSR30VB", count, 3, instance_type, 1000, operation, None, brokers)


VERTICAL = {"enabled": True}
AT_MAX = {"max_brokers": 6, "vertical": VERTICAL}
DOWN = {"max_brokers": 12, "vertical": {"enabled": True, "scale_down": True, "low_cpu_pct": 25, "window_s": 3600}}


@dataclass(frozen=True)
class Case:
    name: str
    why: str
    cluster: ClusterState
    policy: dict[str, Any]
    expected: tuple[Action, str, Reason] | None  # (action, target instance type, reason); None: no decision
    state: ScalerState = field(default_factory=ScalerState)


CASES = [
    Case(
        "cpu at max",
        "80% CPU for the whole window with 6 of 6 brokers: one size up",
        cluster(),
        AT_MAX,
        (Action.SCALE_OUT, "kafka.m7g.2xlarge", Reason.CPU_HIGH_AT_MAX_BROKERS),
    ),
    Case(
        "cpu below max",
        "adding brokers can help: the broker policy scales out, not the size",
        cluster(),
        {"max_brokers": 12, "vertical": VERTICAL},
        None,
    ),
    Case("off", "vertical scaling is off by default", cluster(), {"max_brokers": 6}, None),
    Case("normal cpu", "30% CPU at max_brokers: nothing asks for more", cluster(cpu=30.0), AT_MAX, None),
    Case(
        "partitions over updates",
        "1600 partitions per broker on m7g.xlarge (most for updates 1500): up, even below max_brokers",
        cluster(cpu=30.0, partitions=1600),
        {"max_brokers": 12, "vertical": VERTICAL},
        (Action.SCALE_OUT, "kafka.m7g.2xlarge", Reason.PARTITIONS_ABOVE_TYPE),
    ),
    Case(
        "partitions over recommended at max",
        "1200 > 1000 recommended with no broker to add",
        cluster(cpu=30.0, partitions=1200),
        AT_MAX,
        (Action.SCALE_OUT, "kafka.m7g.2xlarge", Reason.PARTITIONS_ABOVE_TYPE),
    ),
    Case(
        "largest",
        "the family has no larger size",
        cluster(instance_type="kafka.m7g.16xlarge"),
        AT_MAX,
        (Action.HOLD, "kafka.m7g.16xlarge", Reason.AT_LARGEST_TYPE),
    ),
    Case(
        "limit",
        "vertical.max_instance_type is the current size",
        cluster(),
        {"max_brokers": 6, "vertical": {"enabled": True, "max_instance_type": "kafka.m7g.xlarge"}},
        (Action.HOLD, "kafka.m7g.xlarge", Reason.AT_LARGEST_TYPE),
    ),
    Case(
        "cooldown",
        "a size change 1 h ago; the cooldown is 6 h",
        cluster(),
        AT_MAX,
        (Action.HOLD, "kafka.m7g.xlarge", Reason.COOLDOWN),
        ScalerState(last_action_t={BROKER_TYPE_KEY: NOW - 3600}),
    ),
    Case(
        "operation",
        "MSK runs one update at a time",
        cluster(state="UPDATING", operation="UPDATE_BROKER_TYPE"),
        AT_MAX,
        None,
    ),
    Case(
        "unknown type",
        "a size the table does not know has no next size",
        cluster(instance_type="kafka.x9.large"),
        AT_MAX,
        None,
    ),
    Case("no cpu data", "missing data asks for nothing", cluster(cpu=None), AT_MAX, None),
    Case(
        "down after window",
        "15% CPU for 2 h with a 1 h window: 4xlarge -> 2xlarge (30% projected)",
        cluster(cpu=15.0, instance_type="kafka.m7g.4xlarge"),
        DOWN,
        (Action.SCALE_IN, "kafka.m7g.2xlarge", Reason.LOAD_LOW),
        ScalerState(broker_type_low_since=NOW - 7200),
    ),
    Case(
        "down, window not over",
        "low for 10 minutes only",
        cluster(cpu=15.0, instance_type="kafka.m7g.4xlarge"),
        DOWN,
        None,
        ScalerState(broker_type_low_since=NOW - 600),
    ),
    Case(
        "down, too many partitions",
        "2500 per broker: above the 2000 the smaller size is recommended for",
        cluster(cpu=15.0, partitions=2500, instance_type="kafka.m7g.4xlarge"),
        DOWN,
        None,
        ScalerState(broker_type_low_since=NOW - 7200),
    ),
    Case(
        "down, cpu would be high",
        "35% is low (below 40) but 70% on half the vCPUs is above the 60% target",
        cluster(cpu=35.0, instance_type="kafka.m7g.4xlarge"),
        {**DOWN, "vertical": {**DOWN["vertical"], "low_cpu_pct": 40}},  # type: ignore[dict-item]
        None,
        ScalerState(broker_type_low_since=NOW - 7200),
    ),
    Case(
        "down, one size",
        "22% on 4 vCPUs is 44% on 2: below the 60% target",
        cluster(cpu=22.0, instance_type="kafka.m7g.xlarge"),
        DOWN,
        (Action.SCALE_IN, "kafka.m7g.large", Reason.LOAD_LOW),
        ScalerState(broker_type_low_since=NOW - 7200),
    ),
    Case(
        "down, smallest",
        "m7g.large has no smaller size",
        cluster(cpu=5.0, instance_type="kafka.m7g.large"),
        DOWN,
        None,
        ScalerState(broker_type_low_since=NOW - 7200),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_broker_type_decision(case: Case) -> None:
    policy = BrokerPolicy.model_validate(case.policy)
    result = decide_broker_type(case.cluster, policy, case.state, (), NOW)
    if case.expected is None:
        assert result.decision is None, case.why
        return
    decision = result.decision
    assert decision is not None, case.why
    assert decision.target is Target.BROKER_TYPE and decision.key == BROKER_TYPE_KEY
    action, to, reason = case.expected
    assert (decision.action, decision.details["target_instance_type"], decision.reason) == (action, to, reason), (
        case.why
    )


def test_up_says_why_up_rather_than_out() -> None:
    decision = decide_broker_type(cluster(), BrokerPolicy.model_validate(AT_MAX), ScalerState(), (), NOW).decision
    assert decision is not None
    assert "max_brokers (6)" in decision.message and "no broker can be added" in decision.message
    assert (decision.current, decision.desired) == (4, 8)  # vCPUs of m7g.xlarge and m7g.2xlarge


def test_low_load_stretch_starts_and_any_high_tick_ends_it() -> None:
    policy = BrokerPolicy.model_validate(DOWN)
    low = cluster(cpu=15.0, instance_type="kafka.m7g.4xlarge")
    started = decide_broker_type(low, policy, ScalerState(), (), NOW)
    assert started.decision is None and started.low_since == NOW
    kept = decide_broker_type(low, policy, ScalerState(broker_type_low_since=NOW - 60), (), NOW)
    assert kept.low_since == NOW - 60
    busy = replace(low, brokers=cluster(cpu=50.0, instance_type="kafka.m7g.4xlarge").brokers)
    assert decide_broker_type(busy, policy, ScalerState(broker_type_low_since=NOW - 60), (), NOW).low_since is None


def test_no_size_change_in_a_tick_that_changes_the_broker_count() -> None:
    scale_out = Decision(Target.BROKERS, "brokers", Action.SCALE_OUT, 6, 9, Reason.CPU_HIGH, "")
    policy = BrokerPolicy.model_validate(AT_MAX)
    assert decide_broker_type(cluster(), policy, ScalerState(), (scale_out,), NOW).decision is None


def test_broker_policy_at_max_and_size_up_agree() -> None:
    """The broker-count policy holds at its maximum; the size policy is what moves."""
    policy = BrokerPolicy.model_validate(AT_MAX)
    brokers = decide_brokers(cluster(), policy, ScalerState(), 0, NOW).decisions
    assert [d.reason for d in brokers] == [Reason.AT_MAX]
    decision = decide_broker_type(cluster(), policy, ScalerState(), brokers, NOW).decision
    assert decision is not None and decision.action is Action.SCALE_OUT


def test_adjacent_sizes_stay_in_the_family() -> None:
    assert adjacent_size(INSTANCES["kafka.m5.24xlarge"], +1) is None
    assert adjacent_size(INSTANCES["kafka.t3.small"], +1) is None  # t3 has one size; MSK moves t3 to m5 by hand
    smaller = adjacent_size(INSTANCES["kafka.m5.2xlarge"], -1)
    assert smaller is not None and smaller.name == "kafka.m5.xlarge"
