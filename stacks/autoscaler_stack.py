"""The stack: assembles one construct per concern and wires them together. Nothing else."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Environment, Stack, aws_lambda
from constructs import Construct
from kafka_autoscaler.config import AutoscalerConfig, StorageMode

from stacks import names, permissions
from stacks.alarms import Alarms
from stacks.dashboard import Dashboard
from stacks.function import Functions, require_network
from stacks.notifications import Notifications
from stacks.permissions import ClusterArns
from stacks.rebalance_workflow import RebalanceWorkflow
from stacks.schedule import Schedule
from stacks.state_table import StateTable
from stacks.storage_autoscaling import StorageAutoScaling


def default_stack_name(config: AutoscalerConfig) -> str:
    """One stack per cluster: KafkaAutoscaler-<cluster name>."""
    return f"KafkaAutoscaler-{config.cluster.name}"


class AutoscalerStack(Stack):
    """Everything the autoscaler needs in the cluster's account and region.

    `config_source` names the configuration file in error messages; `code` is the functions' code
    asset (see stacks.bundling.bundled_code).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AutoscalerConfig,
        config_source: str,
        code: aws_lambda.Code,
        **kwargs: Any,
    ) -> None:
        network = require_network(config, config_source)
        super().__init__(
            scope,
            construct_id,
            env=Environment(account=config.cluster.account, region=config.cluster.region),
            description=f"kafka-autoscaler for the MSK cluster {config.cluster.name}",
            **kwargs,
        )
        # Every alarm of the stack is named `<stack name>/...`: the topic and key policies trust exactly those.
        alarm_prefix = f"{construct_id}/"
        self.state = StateTable(self, "State")
        arns = ClusterArns.parse(config.cluster.arn)
        self.notifications = Notifications(
            self, "Notifications", settings=config.notifications, alarm_arns=arns.alarms(alarm_prefix)
        )
        self.functions = Functions(self, "Functions", config=config, network=network, code=code)
        scaler, rebalancer = self.functions.scaler, self.functions.rebalancer
        self.rebalance = RebalanceWorkflow(
            self, "Rebalance", steps_function_arn=rebalancer.function.function_arn, stack_name=construct_id
        )
        # The scaler keeps the state, tells the topic and starts rebalances; the steps only move partitions.
        scaler.add_environment(names.ENV_STATE_TABLE, self.state.table.table_name)
        scaler.add_environment(names.ENV_TOPIC_ARN, self.notifications.topic.topic_arn)
        scaler.add_environment(names.ENV_REBALANCE_STATE_MACHINE, arns.state_machine(self.rebalance.name))
        self.notifications.allow_publish(scaler.role)
        permissions.attach(
            scaler.role,
            permissions.scaler_statements(
                config, table_arn=self.state.table.table_arn, state_machine_name=self.rebalance.name
            ),
        )
        permissions.attach(rebalancer.role, permissions.rebalancer_statements(config))

        self.schedule = Schedule(self, "Schedule", scaler=scaler.function, rate_minutes=config.schedule.rate_minutes)
        self.alarms = Alarms(
            self,
            "Alarms",
            config=config,
            name_prefix=alarm_prefix,
            topic=self.notifications.topic,
            scaler=scaler.function,
            rebalancer=rebalancer.function,
            state_machine_arn=self.rebalance.arn,
        )
        self.dashboard = Dashboard(
            self, "Dashboard", config=config, dashboard_name=construct_id, scaler=scaler.function
        )
        if config.storage.mode is StorageMode.AWS_TARGET_TRACKING:
            StorageAutoScaling(self, "StorageAutoScaling", cluster_arn=config.cluster.arn, storage=config.storage)

        CfnOutput(self, "ScalerFunction", value=scaler.function.function_name)
        CfnOutput(self, "ScalerRoleArn", value=scaler.role.role_arn, description="Publishes to the topic")
        CfnOutput(self, "StateTableName", value=self.state.table.table_name)
        CfnOutput(self, "RebalanceStateMachine", value=self.rebalance.arn, description="Runs the partition moves")
