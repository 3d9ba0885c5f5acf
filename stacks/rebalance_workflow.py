"""The rebalance as a Step Functions state machine: short Lambda steps, waits in between, hours if need be.

The definition (stacks/rebalance_definition.py) retries every step with backoff; once the retries are
spent the execution fails, and the failure alarm (stacks/alarms.py) tells the topic. The steps themselves live in
kafka_autoscaler/handlers/rebalance_steps.py; their state is one small JSON object (no plan is
carried: each step reads Kafka), far below Step Functions' 256 KiB payload limit.
"""

from __future__ import annotations

import hashlib

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks import names, permissions
from stacks.rebalance_definition import definition


def state_machine_name(stack_name: str) -> str:
    """`<stack name>-rebalance`, shortened with a hash past Step Functions' 80 characters."""
    name = f"{stack_name}-rebalance"
    if len(name) <= names.MAX_STATE_MACHINE_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: names.MAX_STATE_MACHINE_NAME - 9]}-{digest}"


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
