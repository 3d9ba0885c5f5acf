"""Container setup of the scaler Lambda: configuration, environment, the read-only wiring."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import yaml
from builders import binding, config
from kafka_autoscaler.act.console import ConsoleNotifier
from kafka_autoscaler.config import AutoscalerConfig, ConfigError
from kafka_autoscaler.handlers import scaler
from kafka_autoscaler.handlers.wiring import (
    AwsClients,
    HandlerEnv,
    HandlerEnvError,
    ObserveError,
    build_aws_ports,
    scram_credentials,
)
from kafka_autoscaler.model import ScalerState
from kafka_autoscaler.ports import ActionError, Ports
from kafka_autoscaler.report import Message
from kafka_autoscaler.state.dynamodb import DynamoStateStore
from moto import mock_aws
from moto_tables import create_state_table

REGION = "eu-west-1"
TABLE = "kafka-autoscaler-state"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:kafka-autoscaler-decisions"


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    for name, value in {
        "LAMBDA_TASK_ROOT": str(tmp_path),
        "AUTOSCALER_CONFIG_FILE": "config/autoscaler.yaml",
        "STATE_TABLE_NAME": TABLE,
        "SNS_TOPIC_ARN": TOPIC,
    }.items():
        monkeypatch.setenv(name, value)
    scaler.runtime.cache_clear()
    yield tmp_path
    scaler.runtime.cache_clear()


def write(root: Path, content: str) -> None:
    (root / "config").mkdir(exist_ok=True)
    (root / "config" / "autoscaler.yaml").write_text(content)


def test_a_relative_config_path_resolves_against_the_task_root() -> None:
    environ = {"AUTOSCALER_CONFIG_FILE": "config/autoscaler.yaml", "LAMBDA_TASK_ROOT": "/var/task"}
    assert scaler.config_path(environ) == Path("/var/task/config/autoscaler.yaml")
    assert scaler.config_path({"AUTOSCALER_CONFIG_FILE": "/opt/a.yaml"}) == Path("/opt/a.yaml")


def test_an_unset_config_variable_is_named(environment: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUTOSCALER_CONFIG_FILE")
    with pytest.raises(ConfigError, match=r"(?s)AUTOSCALER_CONFIG_FILE: .*environment variable not set"):
        scaler.runtime()


def test_a_missing_config_file_is_named(environment: Path) -> None:
    with pytest.raises(ConfigError, match=r"(?s)config/autoscaler.yaml: .*cannot read the file: No such file"):
        scaler.runtime()


def test_an_invalid_config_names_each_problem(environment: Path) -> None:
    write(environment, yaml.safe_dump(config().model_dump(mode="json") | {"dry_rnu": True}))
    with pytest.raises(ConfigError, match="dry_rnu: unknown field"):
        scaler.runtime()


def test_missing_environment_variables_are_named(environment: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STATE_TABLE_NAME")
    monkeypatch.setenv("SNS_TOPIC_ARN", "")
    with pytest.raises(HandlerEnvError, match="not set: STATE_TABLE_NAME, SNS_TOPIC_ARN"):
        scaler.runtime()


def test_the_runtime_is_built_once_per_container(environment: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(environment, yaml.safe_dump(config().model_dump(mode="json")))
    built: list[AutoscalerConfig] = []

    def factory(cfg: AutoscalerConfig, clients: AwsClients, env: HandlerEnv) -> Ports:
        built.append(cfg)
        assert env == HandlerEnv(TABLE, TOPIC, None)
        return build_aws_ports(cfg, clients, env)

    monkeypatch.setattr(scaler, "PORTS_FACTORY", factory)
    first = scaler.runtime()
    write(environment, "not: [valid")  # a warm container does not read the file again
    assert scaler.runtime() is first
    assert len(built) == 1 and built[0].consumers[0].group_id == "orders-processor"


def test_the_rebalance_state_machine_is_optional() -> None:
    machine = "arn:aws:states:eu-west-1:123456789012:stateMachine:KafkaAutoscaler-orders-rebalance"
    environ = {"STATE_TABLE_NAME": TABLE, "SNS_TOPIC_ARN": TOPIC, "REBALANCE_STATE_MACHINE_ARN": machine}
    assert HandlerEnv.from_environ(environ).rebalance_state_machine_arn == machine
    empty = environ | {"REBALANCE_STATE_MACHINE_ARN": ""}
    assert HandlerEnv.from_environ(empty).rebalance_state_machine_arn is None


def test_read_only_ports_change_nothing_and_write_nothing(environment: Path) -> None:
    cfg = config(consumers=[binding().model_dump(mode="json")])
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_state_table(dynamodb, TABLE)
        DynamoStateStore(dynamodb, TABLE, cfg.cluster.arn).save(ScalerState(task_throughput={"g": 9.0}), [], 1.0)
        out = io.StringIO()
        ports = build_aws_ports(
            cfg, AwsClients.create(REGION), HandlerEnv(TABLE, TOPIC), read_only=True, notifier=ConsoleNotifier(out)
        )

        assert ports.state.load().task_throughput == {"g": 9.0}
        assert ports.state.acquire_lease("plan", 1.0, 300)
        ports.state.save(ScalerState(), [], 2.0)
        assert [i["sk"]["S"] for i in dynamodb.scan(TableName=TABLE)["Items"]] == ["state"]
        with pytest.raises(ActionError, match="read-only"):
            ports.service_control.set_desired(cfg.consumers[0], 5)
        with pytest.raises(ActionError, match="read-only"):
            ports.cluster_control.update_broker_count("K1", 6)
        assert ports.rebalancer is None
        ports.notifier.publish(Message("subject", "text", {}))
        assert out.getvalue() == "subject\ntext\n\n"


def test_scram_credentials_come_from_the_secret() -> None:
    with mock_aws():
        secrets = boto3.client("secretsmanager", region_name=REGION)
        good = secrets.create_secret(
            Name="AmazonMSK_scaler", SecretString=json.dumps({"username": "scaler", "password": "pw"})
        )["ARN"]
        bad = secrets.create_secret(Name="AmazonMSK_broken", SecretString="scaler:pw")["ARN"]
        credentials = scram_credentials(secrets, good)
        assert (credentials.username, credentials.password) == ("scaler", "pw")
        assert "pw" not in repr(credentials)
        with pytest.raises(ObserveError, match="not JSON with 'username' and 'password'"):
            scram_credentials(secrets, bad)
        with pytest.raises(ObserveError, match="could not be read: ResourceNotFoundException"):
            scram_credentials(secrets, good.replace("scaler", "gone"))
