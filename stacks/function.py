"""The two Lambda functions: the scaler (one tick per invocation) and the rebalancer (the rebalance
state machine's steps). Both trace to X-Ray."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Validations, aws_lambda
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct
from kafka_autoscaler.config import AutoscalerConfig, ConfigError, Network

from stacks import names, permissions


def require_network(config: AutoscalerConfig, source: str) -> Network:
    """The VPC settings, which a deployment cannot do without. Raises ConfigError like a bad file."""
    if config.cluster.network is None:
        raise ConfigError(
            source,
            [
                "cluster.network: required to deploy (vpc_id, subnet_ids, security_group_ids): the functions run in "
                "the cluster's VPC to reach the brokers"
            ],
        )
    return config.cluster.network


class AutoscalerFunction(Construct):
    """One Python function on arm64 in the cluster's subnets, with its own role and log group.

    The role has no managed policy: the stack adds exactly the statements this function needs.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AutoscalerConfig,
        network: Network,
        code: aws_lambda.Code,
        handler: str,
        timeout: Duration,
        memory_mb: int,
        description: str,
        max_event_age: Duration | None = None,
        retry_attempts: int | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self, "Logs", retention=names.LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{description}: least privilege, no managed policy",
        )
        permissions.attach(self.role, [permissions.log_statement(self.log_group)])
        permissions.attach(self.role, permissions.network_statements(config, network))
        permissions.attach(self.role, [permissions.tracing_statement()])
        self.function = aws_lambda.Function(
            self,
            "Function",
            description=description,
            runtime=names.RUNTIME,
            architecture=names.ARCHITECTURE,
            code=code,
            handler=handler,
            timeout=timeout,
            memory_size=memory_mb,
            reserved_concurrent_executions=names.RESERVED_CONCURRENCY,
            role=self.role,
            log_group=self.log_group,
            retry_attempts=retry_attempts,
            max_event_age=max_event_age,
            environment={
                names.ENV_CONFIG_FILE: names.CONFIG_FILE_NAME,
                names.ENV_METRICS_NAMESPACE: names.METRICS_NAMESPACE,
                names.ENV_SERVICE_NAME: names.SERVICE_NAME,
            },
        )
        # Subnets and security groups straight from the configuration. The L2 `vpc` property would
        # need a VPC lookup (an AWS account at synth) and would attach AWSLambdaVPCAccessExecutionRole.
        cfn_function = self.function.node.default_child
        assert isinstance(cfn_function, aws_lambda.CfnFunction)
        cfn_function.vpc_config = aws_lambda.CfnFunction.VpcConfigProperty(
            subnet_ids=network.subnet_ids, security_group_ids=network.security_group_ids
        )
        # Active tracing for Powertools' Tracer. Set here rather than with `tracing=`, which would add
        # its own unnamed X-Ray statement; the role has the named one (permissions.tracing_statement).
        cfn_function.tracing_config = aws_lambda.CfnFunction.TracingConfigProperty(mode="Active")
        # The function must wait for its policy: Lambda creates the network interfaces with it. CDK
        # also lists the role, which the Role attribute already implies (cfn-lint W3005): drop that.
        policy = self.role.node.find_child("DefaultPolicy").node.default_child
        assert isinstance(policy, iam.CfnPolicy)
        cfn_function.add_override("DependsOn", [policy.logical_id])
        Validations.of(self.function).acknowledge(
            Acknowledgment(
                id="AwsSolutions-L1",
                reason=f"{names.RUNTIME.name} on purpose: the dependencies are bundled as wheels for exactly this "
                "Python (stacks/names.py RUNTIME); a newer runtime is a deliberate upgrade of both.",
            )
        )

    def add_environment(self, name: str, value: str) -> None:
        self.function.add_environment(name, value)


class Functions(Construct):
    """The scaler and the rebalancer, sharing one code asset and the cluster's network."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: AutoscalerConfig, network: Network, code: aws_lambda.Code
    ) -> None:
        super().__init__(scope, construct_id)
        tick_minutes = config.schedule.rate_minutes
        self.scaler = AutoscalerFunction(
            self,
            "Scaler",
            config=config,
            network=network,
            code=code,
            handler=names.SCALER_HANDLER,
            timeout=names.SCALER_TIMEOUT,
            memory_mb=names.SCALER_MEMORY_MB,
            # A tick is not retried, and one older than a schedule period is dropped: the next tick
            # re-checks, so a stale tick never runs late.
            max_event_age=Duration.minutes(tick_minutes),
            retry_attempts=0,
            description=f"kafka-autoscaler scaler for MSK cluster {config.cluster.name}",
        )
        self.rebalancer = AutoscalerFunction(
            self,
            "Rebalancer",
            config=config,
            network=network,
            code=code,
            handler=names.REBALANCER_HANDLER,
            timeout=names.REBALANCER_TIMEOUT,
            memory_mb=names.REBALANCER_MEMORY_MB,
            # Called synchronously by the rebalance state machine, which retries a failed step itself.
            description=f"kafka-autoscaler rebalance steps for MSK cluster {config.cluster.name}",
        )
