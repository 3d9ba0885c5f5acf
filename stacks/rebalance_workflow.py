"""The rebalance as a Step Functions state machine: short Lambda steps, waits in between, hours if need be.

    Plan -> (nothing to move | refused) -> Done
    Plan -> Submit -> (done) -> ClearThrottles -> ElectLeaders -> Done
                   -> Wait -> Poll -> (room for more moves) -> Submit
                                   -> (window full) -> Wait

Every Task retries with exponential backoff and full jitter on any error except the two no retry
helps (PlacementError, RebalanceRequestError); once the retries are spent the execution fails, and
the failure alarm (stacks/alarms.py) tells the topic. The steps themselves live in
kafka_autoscaler/handlers/rebalance_steps.py; their state is one small JSON object (no plan is
carried: each step reads Kafka), far below Step Functions' 256 KiB payload limit.
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks import names, permissions

NOT_RETRIED: Final = ["PlacementError", "RebalanceRequestError"]
RETRY_INTERVAL_S: Final = 5
RETRY_BACKOFF: Final = 2.0
RETRY_ATTEMPTS: Final = 5  # 5, 10, 20, 40, 80 s at most (full jitter): rides out a controller failover
RETRY_MAX_DELAY_S: Final = 120
# A step's own limit: the function's timeout, and a little for Lambda to answer.
TASK_TIMEOUT_S: Final = int(names.REBALANCER_TIMEOUT.to_seconds()) + 10


def state_machine_name(stack_name: str) -> str:
    """`<stack name>-rebalance`, shortened with a hash past Step Functions' 80 characters."""
    name = f"{stack_name}-rebalance"
    if len(name) <= names.MAX_STATE_MACHINE_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: names.MAX_STATE_MACHINE_NAME - 9]}-{digest}"


def _task(function_arn: str, step: str, next_state: str, *, first: bool = False) -> dict[str, Any]:
    # The plan step takes the scaler's decision; the others the state the previous step returned.
    parameters = {"step": step, "decision.$": "$.decision"} if first else {"step": step, "state.$": "$"}
    return {
        "Type": "Task",
        "Resource": function_arn,
        "Parameters": parameters,
        "TimeoutSeconds": TASK_TIMEOUT_S,
        "Retry": [
            {"ErrorEquals": NOT_RETRIED, "MaxAttempts": 0},
            {
                "ErrorEquals": ["States.ALL"],
                "IntervalSeconds": RETRY_INTERVAL_S,
                "BackoffRate": RETRY_BACKOFF,
                "MaxAttempts": RETRY_ATTEMPTS,
                "MaxDelaySeconds": RETRY_MAX_DELAY_S,
                "JitterStrategy": "FULL",
            },
        ],
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}],
        "Next": next_state,
    }


def definition(function_arn: str) -> dict[str, Any]:
    """The state machine in Amazon States Language."""
    return {
        "Comment": "kafka-autoscaler: one rebalance or drain, in short steps",
        "StartAt": "Plan",
        "TimeoutSeconds": int(names.REBALANCE_RUN_TIMEOUT.to_seconds()),
        "States": {
            "Plan": _task(function_arn, "plan", "Planned", first=True),
            "Planned": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.done", "BooleanEquals": True, "Next": "Done"}],
                "Default": "Submit",
            },
            "Submit": _task(function_arn, "submit", "Submitted"),
            "Submitted": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.done", "BooleanEquals": True, "Next": "ClearThrottles"}],
                "Default": "Wait",
            },
            "Wait": {"Type": "Wait", "Seconds": int(names.REBALANCE_POLL.to_seconds()), "Next": "Poll"},
            "Poll": _task(function_arn, "poll", "Polled"),
            "Polled": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.room", "NumericGreaterThan": 0, "Next": "Submit"}],
                "Default": "Wait",
            },
            "ClearThrottles": _task(function_arn, "clear", "ElectLeaders"),
            "ElectLeaders": _task(function_arn, "elect", "Done"),
            "Done": {"Type": "Succeed"},
            "Failed": {
                "Type": "Fail",
                "Comment": "A step failed after its retries; the failure alarm tells the topic.",
                "ErrorPath": "$.error.Error",
                "CausePath": "$.error.Cause",
            },
        },
    }


class RebalanceWorkflow(Construct):
    """The state machine (standard workflow: runs up to a year, one execution at a time by name), its
    role (invoke the steps function, trace, log) and its log group."""

    def __init__(self, scope: Construct, construct_id: str, *, steps_function_arn: str, stack_name: str) -> None:
        super().__init__(scope, construct_id)
        self.name = state_machine_name(stack_name)
        self.log_group = logs.LogGroup(
            self, "Logs", retention=names.LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("states.amazonaws.com"),
            description="kafka-autoscaler rebalance state machine: least privilege, no managed policy",
        )
        permissions.attach(self.role, permissions.state_machine_statements(steps_function_arn))
        stack = Stack.of(self)
        self.state_machine = sfn.CfnStateMachine(
            self,
            "StateMachine",
            state_machine_name=self.name,
            state_machine_type="STANDARD",
            role_arn=self.role.role_arn,
            definition_string=stack.to_json_string(definition(steps_function_arn)),
            tracing_configuration=sfn.CfnStateMachine.TracingConfigurationProperty(enabled=True),
            logging_configuration=sfn.CfnStateMachine.LoggingConfigurationProperty(
                level="ALL",
                include_execution_data=True,
                destinations=[
                    sfn.CfnStateMachine.LogDestinationProperty(
                        cloud_watch_logs_log_group=sfn.CfnStateMachine.CloudWatchLogsLogGroupProperty(
                            log_group_arn=self.log_group.log_group_arn
                        )
                    )
                ],
            ),
        )
        policy = self.role.node.find_child("DefaultPolicy").node.default_child
        assert isinstance(policy, iam.CfnPolicy)
        self.state_machine.node.add_dependency(policy)
        self.arn: str = self.state_machine.attr_arn
