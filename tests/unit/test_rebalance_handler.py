"""The rebalancer function: its steps run through the state machine's own definition (tests/asl_runner.py)
on an in-memory Kafka: a whole run, a drain, refusals, Cruise Control, bad events, a failing step retried;
and its runtime (the CPU guard, the clients)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kafka_autoscaler.handlers.rebalancer as rebalancer_lambda
import pytest
import yaml
from asl_runner import REBALANCE as DEFINITION
from asl_runner import Run, StateMachineFailedError, run_definition
from builders import config
from kafka_autoscaler.handlers.rebalance_steps import handler
from kafka_autoscaler.model import Action, BrokerLoad, ClusterState, Decision, Reason, Sample, Target
from kafka_autoscaler.ports import ObserveError
from kafka_autoscaler.rebalance.executor import ExecutorSettings
from rebalance_fakes import FakeKafkaAdmin

SIX_AZ = {1: "az-1", 2: "az-2", 3: "az-3", 4: "az-1", 5: "az-2", 6: "az-3"}
DRAIN = Decision(Target.BROKERS, "brokers", Action.DRAIN, 6, 3, Reason.LOAD_LOW, "low", {"broker_ids": [4, 5, 6]})
REBALANCE = Decision(
    Target.REBALANCE,
    "rebalance",
    Action.REBALANCE,
    0,
    0,
    Reason.PARTITIONS_UNBALANCED,
    "uneven",
    {"exclude_brokers": []},
)


@dataclass(frozen=True)
class LambdaContext:
    remaining_ms: int = 900_000
    function_name: str = "kafka-autoscaler-rebalancer"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:kafka-autoscaler-rebalancer"
    aws_request_id: str = "0b6c3f5e-1d2a-4e8f-9c7b-5a4d3e2f1a0b"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@dataclass
class FakeCruiseControl:
    started: list[Decision] = field(default_factory=list)

    def in_progress(self) -> int | None:
        return 0

    def start(self, decision: Decision) -> str:
        self.started.append(decision)
        return "Cruise Control started remove_broker for brokers [4, 5, 6] (task t-1)"


def scaled_out() -> FakeKafkaAdmin:
    assignment = {("orders", p): tuple((p + i) % 3 + 1 for i in range(3)) for p in range(12)}
    return FakeKafkaAdmin(assignment, SIX_AZ)


@pytest.fixture
def install(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Put a runtime with fakes behind the handler; the cached one is dropped after the test."""

    def put(
        kafka: FakeKafkaAdmin, cruise: FakeCruiseControl | None = None, cpu: float | None = None, budget_s: float = 5
    ) -> None:
        runtime = rebalancer_lambda.RebalancerRuntime(
            config(),
            lambda: kafka,
            (lambda: cpu) if cpu is not None else None,
            cruise,
            ExecutorSettings(poll_interval_s=0.001),
            budget_s,
        )
        monkeypatch.setattr(rebalancer_lambda, "RUNTIME_FACTORY", lambda: runtime)
        rebalancer_lambda.runtime.cache_clear()

    yield put
    rebalancer_lambda.runtime.cache_clear()


def execute(decision: Any, *, failures: dict[str, int] | None = None) -> Run:
    """One execution, as Step Functions would run it: the definition, its steps on this function."""
    failing = dict(failures or {})

    def invoke(payload: dict[str, Any]) -> dict[str, Any]:
        if failing.get(payload["step"], 0) > 0:
            failing[payload["step"]] -= 1
            raise ConnectionError("the controller moved")  # as a step that cannot reach Kafka
        return handler(payload, LambdaContext())

    return run_definition(DEFINITION, {"decision": decision}, invoke, lambda seconds: None, max_states=200)


def test_a_rebalance_runs_plan_submit_clear_and_elect(install: Any) -> None:
    kafka = scaled_out()
    install(kafka)

    run = execute(REBALANCE.as_dict())

    assert run.output["status"] == "complete", run.output
    assert run.visited[:3] == ["Plan", "Planned", "Submit"]
    assert run.visited[-3:] == ["ClearThrottles", "ElectLeaders", "Done"]
    assert run.output["moves_left"] == 0
    counts: dict[int, int] = {}
    for replicas in kafka.assignment.values():
        for broker in replicas:
            counts[broker] = counts.get(broker, 0) + 1
    assert counts == {b: 6 for b in SIX_AZ}
    assert not [k for k, v in kafka.configs.items() if v]  # no throttle left


def test_a_drain_empties_the_brokers(install: Any) -> None:
    kafka = scaled_out()
    install(kafka)
    execute(REBALANCE.as_dict())

    run = execute(DRAIN.as_dict())

    assert run.output["status"] == "complete", run.output
    assert not [r for r in kafka.assignment.values() if {4, 5, 6} & set(r)]


def test_moves_that_take_many_polls_wait_and_poll_until_done(install: Any) -> None:
    kafka = scaled_out()
    kafka.polls_per_move = 10**9  # nothing finishes until released
    install(kafka, budget_s=0.01)
    polls = {"n": 0}

    def wait(seconds: float) -> None:
        polls["n"] += 1
        if polls["n"] == 3:
            kafka.polls_per_move = 1
            for moving in kafka.moving.values():
                moving.polls_left = 1

    run = run_definition(
        DEFINITION, {"decision": REBALANCE.as_dict()}, lambda payload: handler(payload, LambdaContext()), wait, 500
    )
    assert run.visited.count("Wait") >= 3
    assert "Poll" in run.visited
    assert run.output["status"] in ("complete", "balanced"), run.output


def test_a_failing_step_is_retried_and_the_run_goes_on(install: Any) -> None:
    install(scaled_out())

    run = execute(REBALANCE.as_dict(), failures={"submit": 2, "clear": 1})

    assert run.errors == ["ConnectionError"] * 3
    assert run.output["status"] == "complete"


def test_a_step_failing_past_its_retries_fails_the_execution(install: Any) -> None:
    install(scaled_out())

    with pytest.raises(StateMachineFailedError, match="ConnectionError: the controller moved"):
        execute(REBALANCE.as_dict(), failures={"plan": 6})


def test_an_impossible_drain_fails_at_once_without_retries(install: Any) -> None:
    kafka = scaled_out()
    install(kafka)
    too_many = Decision(
        Target.BROKERS, "brokers", Action.DRAIN, 6, 2, Reason.LOAD_LOW, "low", {"broker_ids": [3, 4, 5, 6]}
    )
    with pytest.raises(StateMachineFailedError, match="PlacementError: orders-0 has 3 replicas but only 2 brokers"):
        execute(too_many.as_dict())
    assert kafka.log == []


def test_high_cpu_is_refused_with_the_reason_and_nothing_moves(install: Any) -> None:
    kafka = scaled_out()
    install(kafka, cpu=91.0)

    run = execute(REBALANCE.as_dict())

    assert run.visited == ["Plan", "Planned", "Done"]
    assert run.output["status"] == "refused"
    assert "broker CPU is 91.0%, above the 70% limit" in run.output["message"]
    assert kafka.log == []


def test_cpu_rising_after_the_plan_ends_the_run_refused_with_nothing_started(
    install: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan saw 40 %; by the first submit the brokers are at 95 %: nothing starts, the run ends."""
    kafka = scaled_out()
    install(kafka)
    probe = {"calls": 0}

    def cpu() -> float:
        probe["calls"] += 1
        return 40.0 if probe["calls"] == 1 else 95.0

    current = rebalancer_lambda.runtime()
    monkeypatch.setattr(rebalancer_lambda, "RUNTIME_FACTORY", lambda: dataclasses.replace(current, cpu=cpu))
    rebalancer_lambda.runtime.cache_clear()

    run = execute(REBALANCE.as_dict())

    assert run.visited[:4] == ["Plan", "Planned", "Submit", "Submitted"]
    assert run.output["status"] == "refused"
    assert "broker CPU is 95.0%" in run.output["message"]
    assert not [entry for entry in kafka.log if entry[0] == "reassign"]


def test_cruise_control_gets_the_decision_when_configured(install: Any) -> None:
    kafka, cruise = scaled_out(), FakeCruiseControl()
    install(kafka, cruise)

    run = execute(DRAIN.as_dict())

    assert run.output["status"] == "handed_off"
    assert run.output["message"] == "Cruise Control started remove_broker for brokers [4, 5, 6] (task t-1)"
    assert cruise.started == [DRAIN]
    assert kafka.log == []


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        ({"step": "explode"}, "unknown step 'explode'"),
        ({"step": "plan", "decision": [1, 2]}, "must be a decision as a JSON object, not list"),
        ({"step": "plan", "decision": {"target": "rebalance", "action": "explode"}}, "'explode' is not a valid Action"),
        (
            {"step": "submit", "state": {"decision": {"target": "brokers", "action": "scale_out"}}},
            "not brokers/scale_out",
        ),
        ({"step": "poll", "state": "x"}, "the event's state must be the object the previous step returned"),
    ],
)
def test_malformed_events_are_refused_without_touching_kafka(install: Any, event: Any, problem: str) -> None:
    kafka = scaled_out()
    install(kafka)

    with pytest.raises(rebalancer_lambda.RebalanceRequestError, match=problem):
        handler(event, LambdaContext())
    assert kafka.log == []


# ---------------------------------------------------------------------- AWS wiring
class StubReader:
    def describe(self) -> ClusterState:
        return ClusterState("arn", "ACTIVE", "K1", 3, 3, "kafka.m5.large", 100)


class StubMetrics:
    """CPU samples per broker, 4 and 1 minutes old (``None``: CloudWatch fails)."""

    def __init__(self, cpu: dict[int, tuple[float, ...]] | None) -> None:
        self._cpu = cpu

    def read(self, cluster: ClusterState, now: float, lookback_s: float) -> tuple[BrokerLoad, ...]:
        if self._cpu is None:
            raise ObserveError("CloudWatch GetMetricData failed: throttled")
        ages = (240, 60)
        return tuple(
            BrokerLoad(b, cpu_pct=tuple(Sample(now - age, v) for age, v in zip(ages[: len(vs)], vs, strict=True)))
            for b, vs in self._cpu.items()
        )


def test_cpu_probe_is_the_recent_mean_over_brokers_reused_for_a_minute() -> None:
    cpu = {1: (50.0, 70.0), 2: (90.0,)}
    metrics = StubMetrics(cpu)
    now = [1_700_000_000.0]
    probe = rebalancer_lambda.msk_cpu_probe(StubReader(), metrics, clock=lambda: now[0])

    first = probe()
    cpu[2] = (10.0,)
    within_a_minute = probe()
    now[0] += 61
    later = probe()

    assert first == pytest.approx((70.0 + 70.0) / 2)  # per time: (50+90)/2 and 70; then their mean
    assert within_a_minute == first
    assert later == pytest.approx((30.0 + 70.0) / 2)


def test_cpu_probe_is_unknown_when_cloudwatch_fails() -> None:
    assert rebalancer_lambda.msk_cpu_probe(StubReader(), StubMetrics(None))() is None


def test_runtime_is_built_from_the_config_file_without_reaching_aws(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = config(cruise_control={"url": "http://cruise-control.internal:9090"}).model_dump(mode="json")
    (tmp_path / "autoscaler.yaml").write_text(yaml.safe_dump(values))
    monkeypatch.setenv("AUTOSCALER_CONFIG_FILE", "autoscaler.yaml")
    monkeypatch.setenv("LAMBDA_TASK_ROOT", str(tmp_path))

    runtime = rebalancer_lambda.build_runtime()

    assert runtime.config.cluster.bootstrap_servers == "127.0.0.1:9092"
    assert runtime.cruise_control is not None
    assert runtime.cpu is not None
