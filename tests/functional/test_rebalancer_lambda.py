"""LambdaRebalancer: an asynchronous Invoke with the decision as JSON (botocore Stubber: moto runs
Lambda functions only through Docker and does not refuse unknown functions on Event invokes)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from kafka_autoscaler.act.rebalancer_lambda import LambdaRebalancer
from kafka_autoscaler.model import Action, Decision, Reason, Target
from kafka_autoscaler.ports import ActionError

DECISION = Decision(
    Target.REBALANCE,
    "rebalance",
    Action.REBALANCE,
    3,
    6,
    Reason.PARTITIONS_UNBALANCED,
    "move partitions onto brokers 4-6",
    {"broker_ids": [4, 5, 6]},
)


def client() -> Any:
    return boto3.client("lambda", region_name="eu-west-1", aws_access_key_id="t", aws_secret_access_key="t")


def test_start_invokes_the_rebalancer_asynchronously_with_the_decision() -> None:
    lam = client()
    with Stubber(lam) as stub:
        stub.add_response(
            "invoke",
            {"StatusCode": 202},
            {
                "FunctionName": "kafka-autoscaler-rebalancer",
                "InvocationType": "Event",
                "Payload": json.dumps(DECISION.as_dict(), sort_keys=True).encode(),
            },
        )
        detail = LambdaRebalancer(lam, "kafka-autoscaler-rebalancer").start(DECISION)
        stub.assert_no_pending_responses()
    assert detail == "rebalancer kafka-autoscaler-rebalancer invoked (HTTP 202)"


def test_an_invoke_failure_is_an_action_error_naming_the_function() -> None:
    lam = client()
    with Stubber(lam) as stub:
        stub.add_client_error("invoke", "ResourceNotFoundException", "Function not found")
        with pytest.raises(ActionError, match="kafka-autoscaler-rebalancer failed: ResourceNotFoundException"):
            LambdaRebalancer(lam, "kafka-autoscaler-rebalancer").start(DECISION)


def test_progress_is_unknown_to_the_scaler() -> None:
    assert LambdaRebalancer(client(), "f").in_progress() is None
