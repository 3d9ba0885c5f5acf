"""The scaler Lambda under AWS's rules, end to end through the handler.

ECS, SNS (into SQS), DynamoDB and Application Auto Scaling are moto; MSK is tests/msk_model.py
answering the real MSK adapters through botocore. Kafka cannot run under moto, so the lag,
broker-metric and replica ports are fakes fed by the test; the clock is the test's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from builders import CLUSTER_ARN, binding, config, group
from fakes import FakeLag, FakeWorld
from kafka_autoscaler.act.msk import MskClusterControl
from kafka_autoscaler.config import AutoscalerConfig
from kafka_autoscaler.engine import FUNCTION_TIMEOUT_S
from kafka_autoscaler.handlers import scaler
from kafka_autoscaler.handlers.wiring import AwsClients, HandlerEnv, build_aws_ports
from kafka_autoscaler.model import BrokerLoad, ClusterState, Sample, ScalerState, Workflow
from kafka_autoscaler.ports import ActionError, Ports
from kafka_autoscaler.state.dynamodb import DynamoStateStore
from moto import mock_aws
from moto_tables import create_state_table
from msk_model import MskModel
from test_handler_scaler import LambdaContext

REGION = "eu-west-1"
TABLE = "kafka-autoscaler-state"
T0 = 1_800_000_000.0
SCHEDULE = {
    "version": "0",
    "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2027-01-15T08:00:00Z",
    "region": REGION,
    "resources": ["arn:aws:events:eu-west-1:123456789012:rule/kafka-autoscaler-orders-schedule"],
    "detail": {},
}


class Crash(BaseException):
    """The invocation dies here (a timeout, an out-of-memory kill): nothing after it runs."""


@dataclass
class Clock:
    now: float = T0

    def __call__(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now


@dataclass
class BrokerMetrics:
    """ports.BrokerMetricsSource: every broker at `cpu` and `disk` for the last 20 minutes."""

    clock: Clock
    cpu: float = 30.0
    disk: float = 40.0
    disk_growth_per_h: float = 0.0
    bytes_in: float = 1e6

    def read(self, cluster: ClusterState, now: float, lookback_s: float) -> tuple[BrokerLoad, ...]:
        times = [now - 60 * m for m in range(20, -1, -1)]
        return tuple(
            dataclasses.replace(
                broker,
                cpu_pct=tuple(Sample(t, self.cpu) for t in times),
                bytes_in_per_s=tuple(Sample(t, self.bytes_in) for t in times),
                disk_used_pct=tuple(Sample(t, self.disk - self.disk_growth_per_h * (now - t) / 3600) for t in times),
                partition_count=300,
            )
            for broker in cluster.brokers
        )


@dataclass
class Replicas:
    counts: dict[int, int] = field(default_factory=dict)

    def replicas_per_broker(self) -> dict[int, int]:
        return dict(self.counts)


@dataclass
class Aws:
    clock: Clock
    msk: MskModel
    metrics: BrokerMetrics
    world: FakeWorld
    ecs: Any
    sqs: Any
    queue: str
    dynamodb: Any
    autoscaling: Any
    task_root: Path
    store_hooks: dict[str, Callable[[], None]] = field(default_factory=dict)
    failures: dict[str, BaseException] = field(default_factory=dict)  # by operation name: raised by the call
    options: dict[str, bool] = field(default_factory=dict)  # "real_metrics", "no_msk_model"
    replicas: Replicas = field(default_factory=Replicas)  # Kafka's metadata, canaries left out

    def write_config(self, **overrides: Any) -> None:
        values = base_config().model_dump(mode="json") | overrides
        (self.task_root / "autoscaler.yaml").write_text(yaml.safe_dump(values))
        scaler.runtime.cache_clear()

    def tick(self, after_s: float = 60.0) -> dict[str, Any]:
        self.clock.now += after_s
        result: dict[str, Any] = scaler.handler(SCHEDULE, LambdaContext())
        return result

    def desired(self, service: str = "orders-processor") -> int:
        return int(self.ecs.describe_services(cluster="orders", services=[service])["services"][0]["desiredCount"])

    def told(self) -> list[dict[str, Any]]:
        messages = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10).get("Messages", [])
        for m in messages:
            self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=m["ReceiptHandle"])
        return [json.loads(m["Body"]) for m in messages]

    def state(self) -> ScalerState:
        return DynamoStateStore(self.dynamodb, TABLE, CLUSTER_ARN).load()


def base_config() -> AutoscalerConfig:
    return config(
        consumers=[binding(max_tasks=20).model_dump(mode="json")],
        brokers={"max_brokers": 12},
        storage={"mode": "scaler"},
        retry={"initial_backoff_s": 3600, "max_backoff_s": 4 * 3600},
    )


def decisions(response: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    return {d["key"]: (d["action"], d["reason"], d["status"]) for d in response["decisions"]}


class HookedStore(DynamoStateStore):
    """The DynamoDB store, with a crash point before each save and before the release."""

    def __init__(self, hooks: dict[str, Callable[[], None]], *args: Any) -> None:
        super().__init__(*args)
        self._hooks = hooks
        self._saves = 0

    def save(self, state: ScalerState, outcomes: Any, now: float) -> None:
        self._saves += 1
        if hook := self._hooks.get(f"save{self._saves}"):
            hook()
        super().save(state, outcomes, now)

    def release_lease(self, owner: str) -> None:
        if hook := self._hooks.get("release"):
            hook()
        super().release_lease(owner)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Aws]:
    for name, value in {
        "MOTO_ECS_SERVICE_RUNNING": "4",
        "POWERTOOLS_TRACE_DISABLED": "1",
        "LAMBDA_TASK_ROOT": str(tmp_path),
        "AUTOSCALER_CONFIG_FILE": "autoscaler.yaml",
        "STATE_TABLE_NAME": TABLE,
    }.items():
        monkeypatch.setenv(name, value)
    clock = Clock()
    monkeypatch.setattr(scaler, "time", clock)
    with mock_aws():
        ecs = boto3.client("ecs", region_name=REGION)
        ecs.create_cluster(clusterName="orders")
        ecs.register_task_definition(family="c", containerDefinitions=[{"name": "c", "image": "c", "memory": 256}])
        ecs.create_service(cluster="orders", serviceName="orders-processor", taskDefinition="c", desiredCount=4)
        sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
        topic = sns.create_topic(Name="kafka-autoscaler-decisions")["TopicArn"]
        queue = sqs.create_queue(QueueName="decisions")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        monkeypatch.setenv("SNS_TOPIC_ARN", topic)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_state_table(dynamodb, TABLE)
        msk = MskModel(clock=clock)
        metrics = BrokerMetrics(clock)
        world = FakeWorld(cluster=None, services={}, groups={"orders-processor": group(produce=40.0, lag=0)})
        hooks: dict[str, Callable[[], None]] = {}
        replicas = Replicas()

        failures: dict[str, BaseException] = {}
        options: dict[str, bool] = {}

        def inject(model: Any, **_: Any) -> None:
            if (failure := failures.get(model.name)) is not None:
                raise failure

        def factory(cfg: AutoscalerConfig, clients: AwsClients, env: HandlerEnv) -> Ports:
            for client in (
                clients.ecs,
                clients.sns,
                clients.dynamodb,
                clients.kafka,
                clients.kafka_changes,
                clients.cloudwatch,
                clients.autoscaling,
            ):
                client.meta.events.register_first("before-call.*.*", inject)
            if not options.get("no_msk_model"):
                for client in (clients.kafka, clients.kafka_changes):
                    msk.attach(client)
            ports = build_aws_ports(cfg, clients, env)
            store = HookedStore(hooks, clients.dynamodb, env.state_table_name, cfg.cluster.arn)
            return dataclasses.replace(
                ports,
                metrics=ports.metrics if options.get("real_metrics") else metrics,
                lag=FakeLag(world),
                replicas=replicas,
                state=store,
            )

        monkeypatch.setattr(scaler, "PORTS_FACTORY", factory)
        autoscaling = boto3.client("application-autoscaling", region_name=REGION)
        state = Aws(
            clock,
            msk,
            metrics,
            world,
            ecs,
            sqs,
            queue,
            dynamodb,
            autoscaling,
            tmp_path,
            hooks,
            failures,
            options,
            replicas,
        )
        state.write_config()
        yield state
        scaler.runtime.cache_clear()


# ---------------------------------------------------------------- one MSK change at a time
def test_disk_and_cpu_high_together_send_one_change_the_disk_first_and_nothing_while_updating(aws: Aws) -> None:
    aws.metrics.cpu, aws.metrics.disk = 85.0, 80.0

    first = aws.tick()
    assert decisions(first)["storage"] == ("expand", "DiskAboveTarget", "applied")
    assert decisions(first)["brokers"] == ("hold", "OneMskChangeAtATime", "applied")
    assert [c for c, _ in aws.msk.calls] == ["update_broker_storage"]
    assert aws.msk.state == "UPDATING"

    aws.msk.running()
    second = aws.tick()
    assert decisions(second)["brokers"][1] == "OperationInProgress"
    assert decisions(second)["storage"][0] == "hold"
    assert len(aws.msk.calls) == 1, "nothing is sent while MSK runs an operation"

    aws.msk.finish()
    third = aws.tick()
    assert decisions(third)["brokers"] == ("scale_out", "CpuAboveTarget", "applied")
    assert [c for c, _ in aws.msk.calls] == ["update_broker_storage", "update_broker_count"]
    # Sent with the version MSK gave the cluster when it accepted the storage change, read this tick.
    assert aws.msk.sent("update_broker_count")[0]["CurrentVersion"] == "K000000000001"


def test_the_storage_cool_down_runs_from_the_last_completed_storage_operation(aws: Aws) -> None:
    aws.metrics.disk = 80.0
    aws.tick()
    aws.clock.now += 3 * 3600  # MSK takes three hours to finish the operation
    aws.msk.finish()

    early = aws.tick(after_s=3 * 3600)  # six hours after sending, three after it completed
    assert decisions(early)["storage"][:2] == ("hold", "StorageChangeTooSoon")
    assert len(aws.msk.calls) == 1

    later = aws.tick(after_s=3 * 3600 + 60)  # six hours after it completed
    assert decisions(later)["storage"][:2] == ("expand", "DiskAboveTarget")
    assert len(aws.msk.sent("update_broker_storage")) == 2


# ---------------------------------------------------------------- failure memory
def test_a_repeated_refusal_backs_off_doubling_and_is_told_once(aws: Aws) -> None:
    aws.metrics.disk = 80.0
    aws.tick()
    aws.msk.finish()
    aws.told()
    aws.msk.storage_cooldown_s = 30 * 3600  # MSK's cool-down here runs longer than six hours

    refused = aws.tick(after_s=6 * 3600 + 60)
    assert decisions(refused)["storage"] == ("expand", "DiskAboveTarget", "failed")
    [message] = aws.told()
    assert "FAILED" in message["Message"] and "cool-down" in message["Message"]

    held = aws.tick()
    assert decisions(held)["storage"][:2] == ("hold", "RetryBackoff")
    assert len(aws.msk.sent("update_broker_storage")) == 2, "no call during the back-off"
    assert aws.told() == []

    again = aws.tick(after_s=3600)
    assert decisions(again)["storage"][2] == "failed"
    assert aws.told() == [], "the same refusal again is not told again"
    failure = aws.state().failures["storage"]
    assert failure.attempts == 2 and failure.retry_at == pytest.approx(aws.clock.now + 2 * 3600)

    aws.msk.storage_cooldown_s = 6 * 3600
    cleared = aws.tick(after_s=2 * 3600)
    assert decisions(cleared)["storage"] == ("expand", "DiskAboveTarget", "applied")
    assert "storage" not in aws.state().failures
    assert len(aws.told()) == 1


# ---------------------------------------------------------------- write-ahead intent
@pytest.mark.parametrize(
    "point", ["before MSK applies it", "after MSK accepted", "before the record", "before the release"]
)
def test_a_crash_at_any_point_neither_repeats_the_change_nor_skips_its_cooldown(aws: Aws, point: str) -> None:
    aws.metrics.cpu = 85.0

    def crash(*_: Any) -> None:
        raise Crash(point)

    if point == "before MSK applies it":
        aws.msk.before_change = crash
    elif point == "after MSK accepted":
        aws.msk.after_change = crash
    elif point == "before the record":
        aws.store_hooks["save2"] = crash
    else:
        aws.store_hooks["release"] = crash
    with pytest.raises(Crash):
        aws.tick()
    aws.msk.before_change = aws.msk.after_change = None
    aws.store_hooks.clear()
    scaler.runtime.cache_clear()  # a new container
    crashed_at = aws.clock.now
    accepted = aws.msk.state == "UPDATING"
    assert accepted is (point != "before MSK applies it")

    aws.msk.finish()
    nxt = aws.tick(after_s=120)  # past the lease of the crashed invocation
    counts = aws.msk.sent("update_broker_count")
    if accepted:
        assert len(counts) == 1, "the change that happened is not sent again"
        assert decisions(nxt)["brokers"][:2] in {("hold", "Cooldown"), ("hold", "LoadNormal")}
        assert aws.state().last_action_t["brokers"] == crashed_at, "the cooldown runs from the first send"
        assert aws.state().intents == ()
    else:
        assert len(counts) == 2 and decisions(nxt)["brokers"][:2] == ("scale_out", "CpuAboveTarget")
        assert aws.state().last_action_t["brokers"] == aws.clock.now

    later = aws.tick(after_s=1800)  # still inside the 3600 s cooldown of whichever change went out
    assert len(aws.msk.sent("update_broker_count")) == len(counts)
    assert decisions(later)["brokers"][0] == "hold"


def test_a_lost_reply_is_read_back_from_the_operation_list(aws: Aws) -> None:
    aws.metrics.cpu = 85.0

    def lost(*_: Any) -> None:
        raise ReadTimeoutError(endpoint_url="https://kafka.eu-west-1.amazonaws.com")

    aws.msk.after_change = lost
    first = aws.tick()
    assert decisions(first)["brokers"] == ("scale_out", "CpuAboveTarget", "unknown")
    assert [i.key for i in aws.state().intents] == ["brokers"]
    aws.msk.after_change = None

    aws.msk.finish()
    second = aws.tick()
    assert aws.state().intents == () and "brokers" not in aws.state().failures
    assert any("AWS shows it happened" in p for p in second["problems"])
    assert len(aws.msk.sent("update_broker_count")) == 1


# ---------------------------------------------------------------- drains as MSK documents them
def test_a_drained_broker_holding_only_canaries_is_removed(aws: Aws) -> None:
    aws.msk.broker_count = 6
    aws.write_config(brokers={"max_brokers": 12, "scale_in": {"enabled": True}})
    drain = Workflow("broker_drain", T0 - 600, 6, 3, None, (4, 5, 6))
    DynamoStateStore(aws.dynamodb, TABLE, CLUSTER_ARN).save(ScalerState(workflows=(drain,)), (), T0)
    aws.metrics.cpu = 5.0  # CloudWatch's PartitionCount still says 300 on every broker: canaries included
    aws.replicas.counts = {1: 300, 2: 300, 3: 300, 4: 2, 5: 0, 6: 0}

    waiting = aws.tick()
    assert decisions(waiting)["brokers"][:2] == ("hold", "DrainPending")
    assert aws.msk.sent("update_broker_count") == []

    aws.replicas.counts[4] = 0  # only MSK's canary partitions are left, which Kafka's count leaves out
    removed = aws.tick()
    assert decisions(removed)["brokers"] == ("scale_in", "LoadLow", "applied")
    assert aws.msk.sent("update_broker_count")[0]["TargetNumberOfBrokerNodes"] == 3


# ---------------------------------------------------------------- Express
def test_an_express_cluster_gets_no_storage_decision_and_scales_on_its_throughput(aws: Aws) -> None:
    aws.msk.instance_type = "express.m7g.large"
    aws.metrics.bytes_in, aws.metrics.disk = 20e6, 95.0

    response = aws.tick()
    assert "storage" not in decisions(response)
    assert decisions(response)["brokers"] == ("scale_out", "BytesInAboveLimit", "applied")
    assert aws.msk.sent("update_broker_count")[0]["TargetNumberOfBrokerNodes"] == 6
    assert aws.msk.sent("update_broker_storage") == []


# ---------------------------------------------------------------- one owner per desired count
def _lagging(aws: Aws) -> None:
    aws.world.groups["orders-processor"] = group(produce=40.0, lag=1200)


def register_target(aws: Aws) -> None:
    """Application Auto Scaling takes the service's desired count, between 2 and 8."""
    aws.autoscaling.register_scalable_target(
        ServiceNamespace="ecs",
        ResourceId="service/orders/orders-processor",
        ScalableDimension="ecs:service:DesiredCount",
        MinCapacity=2,
        MaxCapacity=8,
    )


def test_application_auto_scaling_owning_the_service_is_held_and_said_once(aws: Aws) -> None:
    _lagging(aws)
    register_target(aws)
    first = aws.tick()
    assert decisions(first)["consumer:orders-processor"][:2] == ("hold", "ApplicationAutoScalingOwns")
    assert aws.desired() == 4
    [message] = aws.told()
    assert "Application Auto Scaling manages service/orders/orders-processor (min 2, max 8)" in message["Message"]
    aws.tick()
    assert aws.told() == []


def test_min_max_mode_steers_the_scalable_target_instead_of_the_count(aws: Aws) -> None:
    _lagging(aws)
    consumer = binding(max_tasks=20, ecs={"cluster": "orders", "service": "orders-processor", "manage": "min_max"})
    aws.write_config(consumers=[consumer.model_dump(mode="json")])
    register_target(aws)
    response = aws.tick()
    assert decisions(response)["consumer:orders-processor"] == ("scale_out", "LagAboveTarget", "applied")
    [target] = aws.autoscaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (12, 20)
    assert aws.desired() == 4, "the count itself is left to Application Auto Scaling"


def test_a_count_set_by_hand_is_respected_for_the_hold_then_the_scaler_resumes(aws: Aws) -> None:
    _lagging(aws)
    aws.tick()
    assert aws.desired() == 12
    aws.told()
    aws.ecs.update_service(cluster="orders", service="orders-processor", desiredCount=7)

    seen = aws.tick(after_s=300)
    assert decisions(seen)["consumer:orders-processor"][:2] == ("hold", "ExternalChange")
    assert aws.desired() == 7
    [message] = aws.told()
    assert "set to 7 outside the scaler (it had set 12)" in message["Message"]
    held = aws.tick(after_s=1800)
    assert decisions(held)["consumer:orders-processor"][:2] == ("hold", "ExternalChange")
    assert aws.told() == [] and aws.desired() == 7

    resumed = aws.tick(after_s=1801)
    assert decisions(resumed)["consumer:orders-processor"][:2] == ("scale_out", "LagAboveTarget")
    assert aws.desired() == 12


# ---------------------------------------------------------------- notifications
def test_a_failed_publish_is_sent_on_the_next_tick(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    _lagging(aws)
    factory = scaler.PORTS_FACTORY
    failing = {"on": True}

    def flaky(cfg: AutoscalerConfig, clients: AwsClients, env: HandlerEnv) -> Ports:
        ports = factory(cfg, clients, env)
        notifier = ports.notifier

        class Flaky:
            def publish(self, message: Any) -> None:
                if failing["on"]:
                    raise ConnectionError("SNS unreachable")
                notifier.publish(message)

        return dataclasses.replace(ports, notifier=Flaky())

    monkeypatch.setattr(scaler, "PORTS_FACTORY", flaky)
    scaler.runtime.cache_clear()
    aws.tick()
    assert aws.told() == [] and len(aws.state().unsent) == 1
    failing["on"] = False
    aws.tick()
    [message] = aws.told()
    assert "consumer:orders-processor 4->12" in message["Subject"]
    assert aws.state().unsent == ()


def test_a_configuration_that_cannot_load_is_told_once_and_fails_the_invocation(aws: Aws) -> None:
    (aws.task_root / "autoscaler.yaml").write_text("cluster: {arn: not-an-arn}\n")
    scaler.runtime.cache_clear()
    scaler._told_setup_problem.clear()
    for _ in range(3):
        with pytest.raises(Exception, match=r"cluster\.arn"):
            aws.tick()
    [message] = aws.told()
    assert "cannot run" in message["Subject"] and "cluster.arn" in message["Message"]


# ---------------------------------------------------------------- time budgets
@pytest.fixture
def hung_endpoint() -> Iterator[str]:
    """An HTTP endpoint on loopback that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                held.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    server.close()


@pytest.mark.parametrize("service", ["kafka", "ecs", "sns"])
def test_a_hung_endpoint_ends_the_tick_inside_the_function_timeout(
    aws: Aws, hung_endpoint: str, service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws.metrics.cpu = 85.0
    _lagging(aws)
    monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service.upper()}", hung_endpoint)
    aws.options["no_msk_model"] = service == "kafka"
    scaler.runtime.cache_clear()

    started = time.monotonic()
    response = aws.tick()
    elapsed = time.monotonic() - started

    assert elapsed < FUNCTION_TIMEOUT_S, f"the tick took {elapsed:.1f} s against a {FUNCTION_TIMEOUT_S:.0f} s timeout"
    assert response["status"] == "ran"
    if service == "kafka":
        assert decisions(response)["brokers"][:2] == ("hold", "MissingData")
    if service == "ecs":
        assert decisions(response)["consumer:orders-processor"][:2] == ("hold", "MissingData")
    if service == "sns":
        assert len(aws.state().unsent) == 1
    print(f"{service} hung: tick ended after {elapsed:.1f} s")


# ---------------------------------------------------------------- each AWS operation failing in turn
def client_error(code: str, status: int, operation: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "injected"}, "ResponseMetadata": {"HTTPStatusCode": status}}, operation
    )


FAILURES: dict[str, Callable[[str], BaseException]] = {
    "throttling": lambda op: client_error("Throttling" if op == "Publish" else "ThrottlingException", 400, op),
    "access denied": lambda op: client_error(
        "AuthorizationError" if op == "Publish" else "AccessDeniedException", 403, op
    ),
    "500": lambda op: client_error("InternalFailure", 500, op),
    "connection error": lambda op: EndpointConnectionError(endpoint_url="https://aws.example"),
    "read timeout": lambda op: ReadTimeoutError(endpoint_url="https://aws.example"),
}
OPERATIONS = [
    "DescribeClusterV2",
    "ListClusterOperationsV2",
    "ListNodes",
    "GetMetricData",
    "UpdateBrokerCount",
    "UpdateBrokerStorage",
    "DescribeServices",
    "DescribeScalableTargets",
    "UpdateService",
    "Publish",
    "GetItem",
    "PutItem",
    "DeleteItem",
]
TABLE_ROWS: list[str] = []


@pytest.mark.parametrize("failure", list(FAILURES))
@pytest.mark.parametrize("operation", OPERATIONS)
def test_each_operation_failing_in_turn(aws: Aws, operation: str, failure: str) -> None:
    aws.metrics.cpu = 85.0
    if operation == "UpdateBrokerStorage":
        aws.metrics.cpu, aws.metrics.disk = 30.0, 80.0
    _lagging(aws)
    aws.options["real_metrics"] = operation == "GetMetricData"
    scaler.runtime.cache_clear()
    aws.failures[operation] = FAILURES[failure](operation)

    try:
        response: dict[str, Any] = aws.tick()
        does = "runs"
    except Exception as error:
        response, does = {}, f"invocation fails ({type(error).__name__})"
    aws.failures.clear()
    told = aws.told()
    state = aws.state()
    changes = sorted(c for c, _ in aws.msk.calls if aws.msk.state == "UPDATING") + (
        [f"desired {aws.desired()}"] if aws.desired() != 4 else []
    )
    affected = {
        d["key"]: f"{d['action']}/{d['reason']}/{d['status']}"
        for d in response.get("decisions", [])
        if d["status"] != "applied" or (d["action"] == "hold" and d["reason"] == "MissingData")
    }
    said = "; ".join(
        line.strip("- ")[:60]
        for m in told
        for line in m["Message"].splitlines()
        if "FAILED" in line or "unknown" in line
    ) or ("a message" if told else "nothing")
    recorded = (
        f"v{state.version}, failures {sorted(state.failures)}, intents {[i.key for i in state.intents]}, "
        f"unsent {len(state.unsent)}"
    )
    TABLE_ROWS.append(
        f"| {operation} | {failure} | {does}; {affected or 'no decision affected'}; changed {changes or 'nothing'} "
        f"| {said} | {recorded} |"
    )
    if out := os.environ.get("FAILURE_TABLE_OUT"):
        Path(out).write_text("\n".join(TABLE_ROWS) + "\n")

    # What must hold whatever fails: no change is half-done, and what was done is recorded or told.
    if operation in {"GetItem", "PutItem"}:
        assert does.startswith("invocation fails") and aws.desired() == 4 and aws.msk.calls == []
        return
    assert does == "runs"
    if operation in {"DescribeClusterV2", "ListClusterOperationsV2", "ListNodes", "GetMetricData"}:
        assert aws.msk.calls == [], "nothing is changed on MSK when it could not be read"
        assert decisions(response)["brokers"][:2] == ("hold", "MissingData")
    if operation in {"DescribeServices", "DescribeScalableTargets"}:
        assert aws.desired() == 4 and decisions(response)["consumer:orders-processor"][:2] == ("hold", "MissingData")
    if operation in {"UpdateBrokerCount", "UpdateBrokerStorage", "UpdateService"}:
        key = {"UpdateBrokerCount": "brokers", "UpdateBrokerStorage": "storage"}.get(
            operation, "consumer:orders-processor"
        )
        if failure == "read timeout":
            assert [i.key for i in state.intents] == [key], "a lost reply is read back next tick"
        else:
            assert key in state.failures and state.intents == ()
            assert any("FAILED" in m["Message"] for m in told)
    if operation == "Publish":
        assert len(state.unsent) == 1 and told == []


def test_the_msk_model_refuses_as_documented(aws: Aws) -> None:
    """The model itself: a stale CurrentVersion and a change while UPDATING are refused."""
    client = boto3.client("kafka", region_name=REGION)
    aws.msk.attach(client)
    control = MskClusterControl(client, CLUSTER_ARN)
    with pytest.raises(ActionError, match="CurrentVersion does not match"):
        control.update_broker_count("stale-version", 6)
    control.update_broker_count(aws.msk.version, 6)
    assert aws.msk.state == "UPDATING"
    with pytest.raises(ActionError, match=r"BadRequestException: .* UPDATING state"):
        control.update_broker_storage(aws.msk.version, 1100)
