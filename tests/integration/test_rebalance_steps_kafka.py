"""The rebalance state machine's steps on a real KRaft cluster, run through the state machine's own
definition (tests/asl_runner.py): a rebalance onto a new broker and a drain back off it, each over
many submit / wait / poll steps under a tight replication throttle; a step failing and retried.

One cluster for the module (it gains a broker); the tests run in order on it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import kafka_autoscaler.handlers.rebalancer as rebalancer_runtime
import pytest
import test_rebalance_kafka
from asl_runner import REBALANCE as DEFINITION
from asl_runner import Run, run_definition
from builders import config
from kafka.admin import KafkaAdminClient
from kafka_autoscaler.handlers.rebalance_steps import handler
from kafka_autoscaler.local.cluster import LocalKafkaCluster
from kafka_autoscaler.model import Action, Decision, Reason, Target
from kafka_autoscaler.rebalance.executor import ExecutorSettings
from kafka_autoscaler.rebalance.layout import read_layout
from kafka_autoscaler.rebalance.placement import replica_counts
from test_rebalance_kafka import PARTITIONS, Ledger, assert_balanced, read_everything, throttle_settings

pytestmark = pytest.mark.integration

# The module's own cluster, admin client and produced records, made as test_rebalance_kafka makes them
# (module-scoped fixtures: set up anew for this module).
cluster = test_rebalance_kafka.cluster
admin = test_rebalance_kafka.admin
ledger = test_rebalance_kafka.ledger

# Two moves at a time, copied at 150 kB/s per broker: each batch takes a few seconds, so a run takes
# many submit steps of 1 s and waits of 0.5 s (30 s in AWS).
SLOW = ExecutorSettings(max_in_flight=2, poll_interval_s=0.2, throttle_bytes_per_s=150_000)
STEP_BUDGET_S = 1.0
WAIT_S = 0.5


@dataclass(frozen=True)
class Context:
    aws_request_id: str = "c0ffee00-0000-4000-8000-000000000000"
    function_name: str = "rebalance-steps"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:rebalance-steps"


@pytest.fixture
def steps(admin: KafkaAdminClient, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The steps function's runtime on the local cluster: real Kafka admin, no CPU guard, no Cruise Control."""
    runtime = rebalancer_runtime.RebalancerRuntime(config(), lambda: admin, None, None, SLOW, STEP_BUDGET_S)
    monkeypatch.setattr(rebalancer_runtime, "RUNTIME_FACTORY", lambda: runtime)
    rebalancer_runtime.runtime.cache_clear()
    yield
    rebalancer_runtime.runtime.cache_clear()


def execute(decision: Decision, failures: dict[str, int] | None = None) -> Run:
    failing = dict(failures or {})

    def invoke(payload: dict[str, Any]) -> dict[str, Any]:
        if failing.get(payload["step"], 0) > 0:
            failing[payload["step"]] -= 1
            raise ConnectionError("Lambda lost its connection to the brokers")
        return handler(payload, Context())

    return run_definition(DEFINITION, {"decision": decision.as_dict()}, invoke, lambda s: time.sleep(WAIT_S), 2000)


def decision(action: Action, **details: Any) -> Decision:
    target = Target.REBALANCE if action is Action.REBALANCE else Target.BROKERS
    return Decision(target, target.value, action, 0, 0, Reason.PARTITIONS_UNBALANCED, "test", details)


def test_a_rebalance_onto_a_new_broker_takes_many_steps_and_loses_nothing(
    cluster: LocalKafkaCluster, admin: KafkaAdminClient, ledger: Ledger, steps: None
) -> None:
    new_broker = cluster.add_broker()

    run = execute(decision(Action.REBALANCE, exclude_brokers=[]), failures={"poll": 1})

    assert run.output["status"] == "complete", run.output
    assert run.visited.count("Submit") >= 3, run.visited  # the moves outlived several steps
    assert run.errors == ["ConnectionError"]  # the failing poll was retried, the run went on
    assert run.visited[-3:] == ["ClearThrottles", "ElectLeaders", "Done"]
    assert replica_counts(read_layout(admin).assignment, [new_broker])[new_broker] == 2 * PARTITIONS * 2 // 4
    assert_balanced(admin, cluster.racks())
    assert throttle_settings(admin, list(cluster.racks())) == {}
    assert read_everything(cluster.bootstrap_servers) == ledger.sent


def test_a_drain_empties_the_broker_over_many_steps(
    cluster: LocalKafkaCluster, admin: KafkaAdminClient, ledger: Ledger, steps: None
) -> None:
    drained = max(cluster.racks())

    run = execute(decision(Action.DRAIN, broker_ids=[drained]))

    assert run.output["status"] == "complete", run.output
    assert run.visited.count("Submit") >= 2, run.visited  # more than one step
    assert replica_counts(read_layout(admin).assignment, [drained]) == {drained: 0}
    assert_balanced(admin, cluster.racks(), drained=(drained,))
    assert throttle_settings(admin, list(cluster.racks())) == {}
    assert read_everything(cluster.bootstrap_servers) == ledger.sent
