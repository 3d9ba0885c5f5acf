"""The rebalancer Lambda: event shapes, deadline from the remaining time, Cruise Control hand-off."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kafka_autoscaler.handlers.rebalancer as rebalancer_lambda
import pytest
import yaml
from builders import config
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

    def put(kafka: FakeKafkaAdmin, cruise: FakeCruiseControl | None = None, cpu: float | None = None) -> None:
        runtime = rebalancer_lambda.RebalancerRuntime(
            config(),
            lambda: kafka,
            (lambda: cpu) if cpu is not None else None,
            cruise,
            ExecutorSettings(poll_interval_s=0.001),
        )
        monkeypatch.setattr(rebalancer_lambda, "RUNTIME_FACTORY", lambda: runtime)
        rebalancer_lambda.runtime.cache_clear()

    yield put
    rebalancer_lambda.runtime.cache_clear()


@pytest.mark.parametrize("event", [REBALANCE.as_dict(), {"decision": REBALANCE.as_dict()}], ids=["bare", "wrapped"])
def test_either_event_shape_runs_the_rebalance(install: Any, event: dict[str, Any]) -> None:
    kafka = scaled_out()
    install(kafka)

    summary = rebalancer_lambda.handler(event, LambdaContext())

    assert summary["status"] == "complete", summary
    assert summary["request"] == "rebalance"
    assert summary["replicas_per_broker"] == {str(b): 6 for b in SIX_AZ}
    assert summary["execution"]["throttle_cleared"] is True


def test_drain_event_empties_the_brokers(install: Any) -> None:
    kafka = scaled_out()
    install(kafka)
    rebalancer_lambda.handler(REBALANCE.as_dict(), LambdaContext())

    summary = rebalancer_lambda.handler({"decision": DRAIN.as_dict()}, LambdaContext())

    assert summary["status"] == "complete", summary
    assert summary["request"] == "drain of brokers [4, 5, 6]"
    assert [summary["replicas_per_broker"][b] for b in ("4", "5", "6")] == [0, 0, 0]


def test_little_time_left_starts_nothing_and_the_next_invocation_resumes(install: Any) -> None:
    kafka = scaled_out()
    install(kafka)

    cut_short = rebalancer_lambda.handler(REBALANCE.as_dict(), LambdaContext(remaining_ms=0))
    again = rebalancer_lambda.handler(REBALANCE.as_dict(), LambdaContext())

    assert cut_short["status"] == "incomplete"
    assert cut_short["execution"]["stopped"] == "time is up"
    assert again["status"] == "complete"


def test_high_cpu_is_refused_with_the_reason(install: Any) -> None:
    kafka = scaled_out()
    install(kafka, cpu=91.0)

    summary = rebalancer_lambda.handler(REBALANCE.as_dict(), LambdaContext())

    assert summary["status"] == "refused"
    assert "broker CPU is 91.0%, above the 70% limit" in summary["message"]
    assert kafka.log == []


def test_cruise_control_gets_the_decision_when_configured(install: Any) -> None:
    kafka, cruise = scaled_out(), FakeCruiseControl()
    install(kafka, cruise)

    summary = rebalancer_lambda.handler({"decision": DRAIN.as_dict()}, LambdaContext())

    assert summary == {
        "status": "handed_off",
        "request": "drain of brokers [4, 5, 6]",
        "message": "Cruise Control started remove_broker for brokers [4, 5, 6] (task t-1)",
    }
    assert cruise.started == [DRAIN]
    assert kafka.log == []


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        ([1, 2], "must be a decision as a JSON object, not list"),
        ({"decision": {"target": "rebalance", "action": "explode"}}, "'explode' is not a valid Action"),
        ({"target": "brokers", "action": "scale_out", "details": {}}, "not brokers/scale_out"),
        ({"target": "brokers", "action": "drain", "details": {"broker_ids": "4"}}, "must be a list of broker ids"),
    ],
)
def test_malformed_events_are_answered_without_touching_kafka(install: Any, event: Any, problem: str) -> None:
    kafka = scaled_out()
    install(kafka)

    summary = rebalancer_lambda.handler(event, LambdaContext())

    assert summary["status"] == "error"
    assert problem in summary["reason"]
    assert kafka.log == []


def test_an_impossible_drain_is_answered_not_retried(install: Any) -> None:
    kafka = scaled_out()
    install(kafka)
    too_many = Decision(
        Target.BROKERS, "brokers", Action.DRAIN, 6, 2, Reason.LOAD_LOW, "low", {"broker_ids": [3, 4, 5, 6]}
    )

    summary = rebalancer_lambda.handler(too_many.as_dict(), LambdaContext())

    assert summary["status"] == "error"
    assert summary["reason"].startswith("no valid placement: orders-0 has 3 replicas but only 2 brokers [1, 2]")
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
