"""Least-privilege IAM statements for the scaler and the rebalancer, derived from the configuration.

Every statement names exact resources. A wildcard resource appears only where AWS offers nothing
narrower; `attach` acknowledges it to cdk-nag with the reason in WILDCARD_REASONS, and refuses a
wildcard that has no reason there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from aws_cdk import Acknowledgment, Token, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from kafka_autoscaler.config import (
    CLUSTER_ARN_PATTERN,
    AuthMechanism,
    AutoscalerConfig,
    EcsManage,
    Network,
    StorageMode,
)

from stacks.state_table import TABLE_ACTIONS

# MSK control plane, each scoped to the cluster (its resource type in the service authorization
# reference). kafka:GetBootstrapBrokers is not granted: the brokers come from the configuration.
MSK_READ_ACTIONS: Final = ("kafka:DescribeClusterV2", "kafka:ListClusterOperationsV2", "kafka:ListNodes")
# Kafka's own API under MSK IAM access control: connect and describe the cluster.
KAFKA_CLUSTER_READ: Final = ("kafka-cluster:Connect", "kafka-cluster:DescribeCluster")
# Partition moves. AlterPartitionReassignments is Kafka's ALTER on the cluster (AlterCluster);
# replication throttles are dynamic broker configs (ALTER_CONFIGS on the cluster) and per-topic
# throttled-replica lists (ALTER_CONFIGS on the topic); DescribeLogDirs and
# ListPartitionReassignments are DESCRIBE on the cluster. No data is read or written (no ReadData).
KAFKA_CLUSTER_REBALANCE: Final = (
    "kafka-cluster:AlterCluster",
    "kafka-cluster:DescribeClusterDynamicConfiguration",
    "kafka-cluster:AlterClusterDynamicConfiguration",
)
KAFKA_TOPIC_REBALANCE: Final = (
    "kafka-cluster:DescribeTopic",
    "kafka-cluster:DescribeTopicDynamicConfiguration",
    "kafka-cluster:AlterTopicDynamicConfiguration",
)
ECS_ACTIONS: Final = ("ecs:DescribeServices", "ecs:UpdateService")
# The advisor (advice/reader.py): DescribeConfigs of the brokers (the cluster's dynamic
# configuration) and of every topic, which it also describes. DescribeLogDirs and ListGroups
# are DescribeCluster and DescribeGroup, granted already.
KAFKA_ADVICE_TOPICS: Final = ("kafka-cluster:DescribeTopic", "kafka-cluster:DescribeTopicDynamicConfiguration")
# Who owns an ECS service's desired count: Application Auto Scaling's scalable targets (read every
# tick), and their min/max capacity (steered only for bindings with ecs.manage: min_max).
AUTOSCALING_READ: Final = ("application-autoscaling:DescribeScalableTargets",)
AUTOSCALING_STEER: Final = ("application-autoscaling:RegisterScalableTarget",)

# Why a statement has a wildcard resource, by statement id.
WILDCARD_REASONS: Final = {
    "ReadMetrics": "cloudwatch:GetMetricData and ListMetrics have no resource-level permissions: AWS accepts only *.",
    "DescribeNetwork": "EC2 Describe actions have no resource-level permissions: AWS accepts only *.",
    "ReadScalableTargets": "application-autoscaling:DescribeScalableTargets has no resource-level permissions: "
    "AWS accepts only *.",
    "SteerScalableTargets": "A scalable target's ARN carries an ID Application Auto Scaling assigns at registration; "
    "it is not known when deploying.",
    "ScramSecretKey": "The SCRAM secret's KMS key is not in the configuration; kms:Decrypt is conditioned on "
    "kms:ViaService (Secrets Manager) and on that one secret's ARN.",
    "KafkaTopics": "Topics of this one cluster only: a group without configured topics, and a rebalance, "
    "touch topics that are not known when deploying.",
    "AdviceTopics": "Topics of this one cluster only: the advisor checks every topic's replication and retention, "
    "and topics are not known when deploying.",
    "CreateInterfaces": "Lambda creates the function's network interfaces at run time; their IDs are not known "
    "when deploying. Subnets and security groups are the configured ones.",
    "ManageInterfaces": "Lambda manages the function's network interfaces at run time; their IDs are not known "
    "when deploying.",
    "Tracing": "xray:PutTraceSegments and PutTelemetryRecords have no resource-level permissions: AWS accepts only *.",
    "RebalanceExecutions": "The executions of the one rebalance state machine: their names are chosen per run "
    "(the idempotency key), so only the state machine's part of the ARN is known when deploying.",
    "DeliverLogs": "CloudWatch Logs log delivery for Step Functions (CreateLogDelivery and the others) has no "
    "resource-level permissions: AWS accepts only *.",
}
# The rebalance state machine's executions, for the scaler to start and follow.
STATE_MACHINE_START: Final = ("states:StartExecution", "states:ListExecutions")
STATE_MACHINE_EXECUTIONS: Final = ("states:DescribeExecution", "states:GetExecutionHistory")


class UnexplainedWildcardError(Exception):
    """A statement grants a wildcard resource without a reason in WILDCARD_REASONS."""


@dataclass(frozen=True)
class ClusterArns:
    """ARNs around the MSK cluster: its topics and groups (MSK IAM access control), EC2 resources."""

    cluster: str
    partition: str
    region: str
    account: str
    name: str
    uuid: str

    @classmethod
    def parse(cls, arn: str) -> ClusterArns:
        match = CLUSTER_ARN_PATTERN.match(arn)
        if match is None:  # the configuration validated it already
            raise ValueError(f"not an MSK cluster ARN: {arn}")
        return cls(arn, arn.split(":")[1], match["region"], match["account"], match["name"], match["uuid"])

    def _kafka(self, kind: str, name: str) -> str:
        return f"arn:{self.partition}:kafka:{self.region}:{self.account}:{kind}/{self.name}/{self.uuid}/{name}"

    def topic(self, name: str) -> str:
        return self._kafka("topic", name)

    def group(self, name: str) -> str:
        return self._kafka("group", name)

    def ec2(self, kind: str, resource_id: str) -> str:
        return f"arn:{self.partition}:ec2:{self.region}:{self.account}:{kind}/{resource_id}"

    def alarms(self, name_prefix: str) -> str:
        """Every alarm named `name_prefix`...: with `<stack name>/`, exactly that stack's alarms (a stack
        name cannot hold "/")."""
        return f"arn:{self.partition}:cloudwatch:{self.region}:{self.account}:alarm:{name_prefix}*"

    def state_machine(self, name: str) -> str:
        return f"arn:{self.partition}:states:{self.region}:{self.account}:stateMachine:{name}"

    def executions(self, state_machine_name: str) -> str:
        return f"arn:{self.partition}:states:{self.region}:{self.account}:execution:{state_machine_name}:*"

    def ecs_service(self, cluster: str, service: str) -> str:
        return f"arn:{self.partition}:ecs:{self.region}:{self.account}:service/{cluster}/{service}"


def _statement(sid: str, actions: tuple[str, ...] | list[str], resources: list[str]) -> iam.PolicyStatement:
    return iam.PolicyStatement(sid=sid, actions=list(actions), resources=resources)


def _topics_read(config: AutoscalerConfig, arns: ClusterArns) -> list[str]:
    """Topics the scaler reads offsets of: the bound ones, or all when a binding lists none."""
    if any(not binding.topics for binding in config.consumers):
        return [arns.topic("*")]
    return sorted({arns.topic(topic) for binding in config.consumers for topic in binding.topics})


def _metric_actions(config: AutoscalerConfig) -> list[str]:
    # ListMetrics finds the topics of a group that lists none (MSK's lag metrics, as fallback).
    if any(not binding.topics for binding in config.consumers):
        return ["cloudwatch:GetMetricData", "cloudwatch:ListMetrics"]
    return ["cloudwatch:GetMetricData"]


def scaler_statements(
    config: AutoscalerConfig, *, table_arn: str, state_machine_name: str
) -> list[iam.PolicyStatement]:
    """What one tick reads and changes: MSK, Kafka offsets, ECS services, metrics, state, the rebalancer."""
    arns = ClusterArns.parse(config.cluster.arn)
    msk_actions = list(MSK_READ_ACTIONS)
    if config.brokers.enabled:
        msk_actions.append("kafka:UpdateBrokerCount")
    if config.storage.mode is StorageMode.SCALER:
        msk_actions.append("kafka:UpdateBrokerStorage")
    if config.brokers.enabled and config.brokers.vertical.enabled:
        msk_actions.append("kafka:UpdateBrokerType")
    statements = [
        _statement("MskCluster", msk_actions, [arns.cluster]),
        _statement("KafkaCluster", KAFKA_CLUSTER_READ, [arns.cluster]),
        _statement("AdviceCluster", ["kafka-cluster:DescribeClusterDynamicConfiguration"], [arns.cluster]),
        _statement("AdviceTopics", KAFKA_ADVICE_TOPICS, [arns.topic("*")]),
        *_partition_statements(config, arns),
    ]
    if config.consumers:
        statements += [
            _statement("KafkaTopics", ["kafka-cluster:DescribeTopic"], _topics_read(config, arns)),
            _statement(
                "KafkaGroups", ["kafka-cluster:DescribeGroup"], sorted(arns.group(b.group_id) for b in config.consumers)
            ),
            _statement(
                "EcsServices",
                ECS_ACTIONS,
                sorted(arns.ecs_service(b.ecs.cluster_name, b.ecs.service_name) for b in config.consumers),
            ),
            _statement("ReadScalableTargets", AUTOSCALING_READ, ["*"]),
        ]
        if any(b.ecs.manage is EcsManage.MIN_MAX for b in config.consumers):
            statements.append(_statement("SteerScalableTargets", AUTOSCALING_STEER, ["*"]))
    return [
        *statements,
        _statement("StateTable", TABLE_ACTIONS, [table_arn]),
        _statement("StartRebalance", STATE_MACHINE_START, [arns.state_machine(state_machine_name)]),
        _statement("RebalanceExecutions", STATE_MACHINE_EXECUTIONS, [arns.executions(state_machine_name)]),
        _statement("ReadMetrics", _metric_actions(config), ["*"]),
        *_secret_statements(config, arns),
    ]


def _partition_statements(config: AutoscalerConfig, arns: ClusterArns) -> list[iam.PolicyStatement]:
    """CreatePartitions (kafka-cluster:AlterTopic) on exactly the topics marked keyed: false, when allowed."""
    unkeyed = sorted(t.name for t in config.partitions.topics if not t.keyed)
    if not config.partitions.auto_increase or not unkeyed:
        return []
    return [_statement("GrowPartitions", ["kafka-cluster:AlterTopic"], [arns.topic(t) for t in unkeyed])]


def rebalancer_statements(config: AutoscalerConfig) -> list[iam.PolicyStatement]:
    """What a partition move needs: the cluster's layout and CPU, Kafka admin rights. No state, no topic."""
    arns = ClusterArns.parse(config.cluster.arn)
    return [
        _statement("MskCluster", MSK_READ_ACTIONS, [arns.cluster]),
        _statement("KafkaCluster", KAFKA_CLUSTER_READ + KAFKA_CLUSTER_REBALANCE, [arns.cluster]),
        _statement("KafkaTopics", KAFKA_TOPIC_REBALANCE, [arns.topic("*")]),
        _statement("ReadMetrics", ["cloudwatch:GetMetricData"], ["*"]),
        *_secret_statements(config, arns),
    ]


def _secret_statements(config: AutoscalerConfig, arns: ClusterArns) -> list[iam.PolicyStatement]:
    """With SCRAM: read the one secret, and decrypt it through Secrets Manager only."""
    secret = config.cluster.auth.scram_secret_arn
    if config.cluster.auth.mechanism is not AuthMechanism.SCRAM or not secret:
        return []
    return [
        _statement("ScramSecret", ["secretsmanager:GetSecretValue"], [secret]),
        iam.PolicyStatement(
            sid="ScramSecretKey",
            actions=["kms:Decrypt"],
            resources=["*"],
            conditions={
                "StringEquals": {
                    "kms:ViaService": f"secretsmanager.{arns.region}.amazonaws.com",
                    "kms:EncryptionContext:SecretARN": secret,
                }
            },
        ),
    ]


def network_statements(config: AutoscalerConfig, network: Network) -> list[iam.PolicyStatement]:
    """What Lambda needs to put the function's network interfaces in the configured subnets.

    In place of the AWSLambdaVPCAccessExecutionRole managed policy, which allows all of it on "*".
    """
    arns = ClusterArns.parse(config.cluster.arn)
    interfaces = arns.ec2("network-interface", "*")
    return [
        _statement(
            "CreateInterfaces",
            ["ec2:CreateNetworkInterface"],
            [interfaces]
            + [arns.ec2("subnet", subnet) for subnet in network.subnet_ids]
            + [arns.ec2("security-group", group) for group in network.security_group_ids],
        ),
        _statement(
            "ManageInterfaces",
            ["ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"],
            [interfaces],
        ),
        _statement("DescribeNetwork", ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"], ["*"]),
    ]


def tracing_statement() -> iam.PolicyStatement:
    """Send trace segments to X-Ray (active tracing), in place of the unnamed statement CDK would add."""
    return _statement("Tracing", ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"])


def state_machine_statements(steps_function_arn: str) -> list[iam.PolicyStatement]:
    """What the rebalance state machine needs: call its steps function, trace, and deliver its logs.

    The log delivery actions are the ones the Step Functions guide lists for logging to CloudWatch Logs
    (https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html).
    """
    return [
        _statement("InvokeSteps", ["lambda:InvokeFunction"], [steps_function_arn]),
        _statement(
            "Tracing",
            ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"],
            ["*"],
        ),
        _statement(
            "DeliverLogs",
            [
                "logs:CreateLogDelivery",
                "logs:GetLogDelivery",
                "logs:UpdateLogDelivery",
                "logs:DeleteLogDelivery",
                "logs:ListLogDeliveries",
                "logs:PutResourcePolicy",
                "logs:DescribeResourcePolicies",
                "logs:DescribeLogGroups",
            ],
            ["*"],
        ),
    ]


def log_statement(log_group: logs.ILogGroup) -> iam.PolicyStatement:
    """Write to the function's own log group (the stack creates it: no CreateLogGroup).

    The log group's ARN attribute ends in ":*", which covers its log streams.
    """
    return _statement("WriteLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [log_group.log_group_arn])


def attach(role: iam.Role, statements: list[iam.PolicyStatement]) -> None:
    """Add the statements to the role; acknowledge each wildcard resource to cdk-nag with its reason."""
    for statement in statements:
        role.add_to_principal_policy(statement)
        for resource in statement.resources:
            if Token.is_unresolved(resource) or "*" not in resource:
                continue
            reason = WILDCARD_REASONS.get(statement.sid or "")
            if reason is None:
                raise UnexplainedWildcardError(f"statement {statement.sid} grants {resource} without a reason")
            Validations.of(role).acknowledge(
                Acknowledgment(id=f"AwsSolutions-IAM5[Resource::{resource}]", reason=reason)
            )
