"""Edges of the runtime: canaries, ECS ARNs, lag-metric names, SNS subjects, the state codec, secrets in logs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml
from builders import CLUSTER_ARN, binding, config
from kafka_autoscaler.cli import main
from kafka_autoscaler.config import ConfigError, lag_metric_warnings, parse_config
from kafka_autoscaler.handlers import scaler  # importing it sets kafka-python's loggers as in Lambda
from kafka_autoscaler.model import Failure, Intent, ScalerState
from kafka_autoscaler.observe.kafka_client import ScramCredentials, admin_client_for
from kafka_autoscaler.observe.kafka_replicas import replicas_by_broker
from kafka_autoscaler.rebalance.placement import plan_placement, replica_counts
from kafka_autoscaler.report import SUBJECT_LIMIT, subject_line
from kafka_autoscaler.state.codec import decode_state, encode_state

CANARY = "__amazon_msk_canary"
CANARY_STATE = "__amazon_msk_canary_state"


# ---------------------------------------------------------------- MSK's canary topics
def test_a_drain_moves_everything_but_the_canaries() -> None:
    current = {
        ("orders", 0): (4, 1),
        ("orders", 1): (2, 4),
        (CANARY, 0): (4, 2),
        (CANARY_STATE, 0): (4,),
    }
    racks = {b: None for b in range(1, 5)}
    placement = plan_placement(current, racks, exclude={4})
    moved = {(m.topic, m.partition) for m in placement.moves}
    assert moved == {("orders", 0), ("orders", 1)}
    assert placement.target[CANARY, 0] == (4, 2) and placement.target[CANARY_STATE, 0] == (4,)
    assert replica_counts(placement.target, racks)[4] == 0, "a broker with only canaries left counts as empty"


def test_replicas_from_kafka_metadata_leave_the_canaries_out_and_count_brokers_without_any() -> None:
    brokers = [{"broker_id": b} for b in (1, 2, 3, 4)]

    def topic(name: str, *replicas: list[int]) -> dict[str, object]:  # kafka-python's describe_topics shape
        partitions = [{"partition_index": i, "replica_nodes": r} for i, r in enumerate(replicas)]
        return {"error_code": 0, "name": name, "partitions": partitions}

    topics = [topic("orders", [1, 2], [2, 3]), topic(CANARY, [4, 1]), topic(CANARY_STATE, [4])]
    assert replicas_by_broker(brokers, topics) == {1: 1, 2: 2, 3: 1, 4: 0}


# ---------------------------------------------------------------- ECS ARNs
ECS_ARN = "arn:aws:ecs:eu-west-1:123456789012"


@pytest.mark.parametrize(
    ("cluster", "service", "names"),
    [
        ("orders", "orders-processor", ("orders", "orders-processor")),
        (f"{ECS_ARN}:cluster/orders", f"{ECS_ARN}:service/orders/orders-processor", ("orders", "orders-processor")),
        ("orders", f"{ECS_ARN}:service/orders-processor", ("orders", "orders-processor")),  # the old short format
    ],
)
def test_ecs_names_or_arns_are_parsed(cluster: str, service: str, names: tuple[str, str]) -> None:
    ecs = binding(ecs={"cluster": cluster, "service": service}).ecs
    assert (ecs.cluster_name, ecs.service_name) == names
    assert ecs.resource_id == "service/orders/orders-processor"


@pytest.mark.parametrize(
    ("cluster", "service", "problem"),
    [
        ("orders", "arn:aws:ecs:eu-west-1:123:service/x", "is not an ECS service ARN"),
        ("arn:aws:ecs:eu-west-1:123456789012:orders", "orders-processor", "is not an ECS cluster ARN"),
        ("billing", f"{ECS_ARN}:service/orders/orders-processor", "service ARN names cluster 'orders'"),
        (
            "arn:aws:ecs:us-east-1:123456789012:cluster/orders",
            f"{ECS_ARN}:service/orders/orders-processor",
            "different regions or accounts",
        ),
    ],
)
def test_bad_ecs_arns_are_rejected_with_the_reason(cluster: str, service: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        binding(ecs={"cluster": cluster, "service": service})


def test_an_ecs_arn_outside_the_clusters_region_is_rejected() -> None:
    other = binding(ecs={"cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/orders", "service": "x"})
    with pytest.raises(ConfigError, match="scaler runs in the MSK cluster's region and account"):
        config(consumers=[other.model_dump(mode="json")])


def test_the_same_service_by_name_and_by_arn_is_bound_once() -> None:
    by_arn = binding(group_id="other", ecs={"cluster": f"{ECS_ARN}:cluster/orders", "service": "orders-processor"})
    with pytest.raises(ConfigError, match="the same ECS service"):
        config(consumers=[binding().model_dump(mode="json"), by_arn.model_dump(mode="json")])


# ---------------------------------------------------------------- groups MSK publishes no lag for
def test_validate_warns_about_groups_msk_publishes_no_lag_metrics_for() -> None:
    names = ["orders-processor", "team:orders", "commandes-traitées"]
    cfg = config(
        consumers=[
            binding(group_id=n, ecs={"cluster": "orders", "service": f"s{i}"}).model_dump(mode="json")
            for i, n in enumerate(names)
        ]
    )
    warnings = lag_metric_warnings(cfg)
    assert len(warnings) == 2
    assert "team:orders" in warnings[0] and "':'" in warnings[0]
    assert "commandes-traitées" in warnings[1] and "ASCII" in warnings[1]


def test_validate_prints_the_warnings_and_still_accepts_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config(consumers=[binding(group_id="team:orders").model_dump(mode="json")])
    path = tmp_path / "autoscaler.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    assert main(["validate", str(path)]) == 0
    assert "warning: consumers.team:orders" in capsys.readouterr().err


# ---------------------------------------------------------------- SNS subjects, the lease, the codec
@pytest.mark.parametrize("text", ["x" * 150, "a\nb\tc" + "y" * 120, "short"])
def test_subjects_are_valid_for_sns(text: str) -> None:
    subject = subject_line(text)
    assert len(subject) < 100 and SUBJECT_LIMIT == 99
    assert all(c.isprintable() for c in subject)


def test_the_codec_carries_the_new_state_fields() -> None:
    state = ScalerState(
        failures={"storage": Failure("BadRequestException: cool-down", 1.0, 2.0, 2, 3.0)},
        intents=(Intent("brokers", "brokers", "scale_out", 3, 6, 4.0, None),),
        known_desired={"consumer:g": 7},
        external_changes={"consumer:g": 5.0},
        unsent=({"subject": "s", "text": "t", "payload": {"k": 1}},),
    )
    assert decode_state(encode_state(state)) == state


# ---------------------------------------------------------------- no secrets in logs
def test_a_scram_password_never_reaches_the_log_at_any_level(caplog: pytest.LogCaptureFixture) -> None:
    password = "s3cr3t-SCRAM-pa55word"
    settings = parse_config(
        {
            "cluster": {
                "arn": CLUSTER_ARN,
                "bootstrap_servers": "127.0.0.1:1",  # nothing listens: the client fails after logging
                "auth": {
                    "mechanism": "scram",
                    "scram_secret_arn": "arn:aws:secretsmanager:eu-west-1:1:secret:AmazonMSK_x",
                },
            }
        }
    ).cluster
    assert logging.getLogger(scaler.KAFKA_LOGGER).getEffectiveLevel() == logging.INFO
    caplog.set_level(logging.NOTSET)
    logging.getLogger().setLevel(logging.DEBUG)  # POWERTOOLS_LOG_LEVEL=DEBUG or the like
    with pytest.raises(Exception):  # noqa: B017 - kafka-python's NoBrokersAvailable or a timeout
        admin_client_for(settings, ScramCredentials("scaler", password))
    assert caplog.records, "kafka-python logged nothing: the test would prove nothing"
    assert all(password not in record.getMessage() for record in caplog.records)
    assert password not in caplog.text
    assert password not in repr(ScramCredentials("scaler", password))

    # The control: below INFO kafka-python does log the password, so the level is what keeps it out.
    caplog.clear()
    kafka_logger = logging.getLogger(scaler.KAFKA_LOGGER)
    kafka_logger.setLevel(logging.DEBUG)
    try:
        with pytest.raises(Exception):  # noqa: B017
            admin_client_for(settings, ScramCredentials("scaler", password))
    finally:
        kafka_logger.setLevel(logging.INFO)
    assert password in caplog.text
