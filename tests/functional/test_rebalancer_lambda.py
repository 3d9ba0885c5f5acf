"""StepFunctionsRebalancer against moto's Step Functions: one execution at a time, progress read back,
a failed run's error told; botocore's Stubber for the execution history, whose step outputs moto does
not record (it answers a fixed history)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from kafka_autoscaler.act.rebalancer_lambda import StepFunctionsRebalancer, execution_name
from kafka_autoscaler.model import Action, Decision, Reason, Target
from kafka_autoscaler.ports import ActionError, ObserveError
from moto import mock_aws

DECISION = Decision(
    Target.REBALANCE,
    "rebalance",
    Action.REBALANCE,
    0,
    0,
    Reason.PARTITIONS_UNBALANCED,
    "partitions per broker range from 0 to 12",
    {"exclude_brokers": []},
)
NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
DEFINITION = {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}


@pytest.fixture
def sfn() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("stepfunctions", region_name="eu-west-1")


@pytest.fixture
def machine_arn(sfn: Any) -> str:
    created = sfn.create_state_machine(
        name="KafkaAutoscaler-orders-rebalance",
        definition=json.dumps(DEFINITION),
        roleArn="arn:aws:iam::123456789012:role/rebalance",
    )
    return str(created["stateMachineArn"])


def test_start_runs_one_execution_named_by_the_decision_and_the_minute(sfn: Any, machine_arn: str) -> None:
    rebalancer = StepFunctionsRebalancer(sfn, machine_arn, clock=lambda: NOW)
    detail = rebalancer.start(DECISION)
    name = execution_name(DECISION, NOW)
    assert detail == f"rebalance {name} started on Step Functions"
    assert name.startswith("rebalance-20260101T0000Z-")
    (execution,) = sfn.list_executions(stateMachineArn=machine_arn)["executions"]
    assert execution["name"] == name
    described = sfn.describe_execution(executionArn=execution["executionArn"])
    assert json.loads(described["input"]) == {"decision": json.loads(json.dumps(DECISION.as_dict(), default=str))}


def test_while_an_execution_runs_nothing_is_started_and_progress_is_reported(sfn: Any, machine_arn: str) -> None:
    rebalancer = StepFunctionsRebalancer(sfn, machine_arn, clock=lambda: NOW)
    rebalancer.start(DECISION)
    later = StepFunctionsRebalancer(sfn, machine_arn, clock=lambda: NOW + 600)
    assert later.in_progress() == 1  # running; moto's history carries no step output
    assert later.start(DECISION).endswith("moves left unknown; not started again")
    assert len(sfn.list_executions(stateMachineArn=machine_arn)["executions"]) == 1


def test_an_aborted_execution_is_told_and_the_scaler_may_ask_again(sfn: Any, machine_arn: str) -> None:
    rebalancer = StepFunctionsRebalancer(sfn, machine_arn, clock=lambda: NOW)
    rebalancer.start(DECISION)
    (execution,) = sfn.list_executions(stateMachineArn=machine_arn)["executions"]
    sfn.stop_execution(executionArn=execution["executionArn"])
    assert rebalancer.in_progress() == 0
    assert rebalancer.last_problem() == f"{execution['name']} ABORTED"
    again = StepFunctionsRebalancer(sfn, machine_arn, clock=lambda: NOW + 600)
    assert again.start(DECISION).endswith("started on Step Functions")


def test_the_same_decision_in_the_same_minute_after_its_run_closed_is_not_started_twice(
    sfn: Any, machine_arn: str
) -> None:
    rebalancer = StepFunctionsRebalancer(sfn, machine_arn, clock=lambda: NOW)
    rebalancer.start(DECISION)
    (execution,) = sfn.list_executions(stateMachineArn=machine_arn)["executions"]
    sfn.stop_execution(executionArn=execution["executionArn"])
    assert "already started for this decision" in rebalancer.start(DECISION)


def test_moves_left_come_from_the_latest_step_output() -> None:
    """The history shape of GetExecutionHistory (TaskStateExited carries the state a step returned)."""
    client = boto3.client("stepfunctions", region_name="eu-west-1", aws_access_key_id="t", aws_secret_access_key="t")
    arn = "arn:aws:states:eu-west-1:123456789012:stateMachine:KafkaAutoscaler-orders-rebalance"
    execution = "arn:aws:states:eu-west-1:123456789012:execution:KafkaAutoscaler-orders-rebalance:r-1"
    when = "2026-01-01T00:00:00Z"
    with Stubber(client) as stub:
        stub.add_response(
            "list_executions",
            {
                "executions": [
                    {
                        "executionArn": execution,
                        "stateMachineArn": arn,
                        "name": "r-1",
                        "status": "RUNNING",
                        "startDate": when,
                    }
                ]
            },
            {"stateMachineArn": arn, "statusFilter": "RUNNING", "maxResults": 1},
        )
        stub.add_response(
            "get_execution_history",
            {
                "events": [
                    {
                        "timestamp": when,
                        "type": "WaitStateEntered",
                        "id": 9,
                        "previousEventId": 8,
                        "stateEnteredEventDetails": {
                            "name": "Wait",
                            "input": json.dumps({"moves_left": 37, "done": False}),
                        },
                    },
                    {
                        "timestamp": when,
                        "type": "TaskStateExited",
                        "id": 8,
                        "previousEventId": 7,
                        "stateExitedEventDetails": {"name": "Submit", "output": json.dumps({"moves_left": 40})},
                    },
                ]
            },
            {"executionArn": execution, "reverseOrder": True, "maxResults": 25},
        )
        assert StepFunctionsRebalancer(client, arn).in_progress() == 37
        stub.assert_no_pending_responses()


def test_step_functions_unreachable_is_an_observe_error_and_a_refused_start_an_action_error() -> None:
    client = boto3.client("stepfunctions", region_name="eu-west-1", aws_access_key_id="t", aws_secret_access_key="t")
    arn = "arn:aws:states:eu-west-1:123456789012:stateMachine:KafkaAutoscaler-orders-rebalance"
    with Stubber(client) as stub:
        stub.add_client_error("list_executions", "AccessDeniedException", "not authorized")
        with pytest.raises(ObserveError, match="AccessDeniedException"):
            StepFunctionsRebalancer(client, arn).in_progress()
        stub.add_response("list_executions", {"executions": []})
        stub.add_response("list_executions", {"executions": []})
        stub.add_client_error("start_execution", "StateMachineDoesNotExist", "no such state machine")
        with pytest.raises(ActionError, match="StateMachineDoesNotExist"):
            StepFunctionsRebalancer(client, arn).start(DECISION)
