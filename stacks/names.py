"""Names and defaults of the deployment, in one place.

Environment variable names, the config file name and the metric names are a contract with the
Lambda handlers (`kafka_autoscaler.handlers.*`): they read exactly these.
"""

from __future__ import annotations

from typing import Final

from aws_cdk import Duration, aws_lambda, aws_logs

from stacks.rebalance_definition import STEP_TIMEOUT_S

# Lambda runtime and CPU. The dependencies are bundled for exactly this Python and architecture
# (pip --python-version / --platform are derived from these two), so raise them together.
RUNTIME: Final = aws_lambda.Runtime.PYTHON_3_12
ARCHITECTURE: Final = aws_lambda.Architecture.ARM_64
PIP_PLATFORM: Final = "manylinux2014_aarch64"

SCALER_HANDLER: Final = "kafka_autoscaler.handlers.scaler.handler"
REBALANCER_HANDLER: Final = "kafka_autoscaler.handlers.rebalance_steps.handler"

# The configuration travels inside the code asset, at its root, under this name.
CONFIG_FILE_NAME: Final = "autoscaler.yaml"

# Environment variables the handlers read.
ENV_CONFIG_FILE: Final = "AUTOSCALER_CONFIG_FILE"
ENV_STATE_TABLE: Final = "STATE_TABLE_NAME"
ENV_TOPIC_ARN: Final = "SNS_TOPIC_ARN"
ENV_REBALANCE_STATE_MACHINE: Final = "REBALANCE_STATE_MACHINE_ARN"
ENV_METRICS_NAMESPACE: Final = "POWERTOOLS_METRICS_NAMESPACE"
ENV_SERVICE_NAME: Final = "POWERTOOLS_SERVICE_NAME"
SERVICE_NAME: Final = "kafka-autoscaler"

# The scaler's own metrics, written as CloudWatch embedded metric format (EMF) log lines.
METRICS_NAMESPACE: Final = "KafkaAutoscaler"
GROUP_DIMENSION: Final = "ConsumerGroup"
ACTION_DIMENSION: Final = "Action"
METRIC_DESIRED_TASKS: Final = "DesiredTasks"
METRIC_RUNNING_TASKS: Final = "RunningTasks"
METRIC_TOTAL_LAG: Final = "TotalLag"
METRIC_MAX_TIME_LAG: Final = "MaxTimeLagSeconds"
METRIC_DECISIONS: Final = "Decisions"

# Amazon MSK's metrics.
MSK_NAMESPACE: Final = "AWS/Kafka"
MSK_CLUSTER_DIMENSION: Final = "Cluster Name"
MSK_BROKER_DIMENSION: Final = "Broker ID"
MSK_GROUP_DIMENSION: Final = "Consumer Group"
MSK_TOPIC_DIMENSION: Final = "Topic"

SCALER_TIMEOUT: Final = Duration.seconds(60)
SCALER_MEMORY_MB: Final = 512
# Partition moves are long, but each step of the rebalance state machine is short: a submit step
# watches its batch for 20 s (rebalance.service.SUBMIT_BUDGET_S); the rest is Kafka's connect time.
REBALANCER_TIMEOUT: Final = Duration.seconds(STEP_TIMEOUT_S)
# Step Functions' longest state machine name.
MAX_STATE_MACHINE_NAME: Final = 80
REBALANCER_MEMORY_MB: Final = 512
# One tick at a time; the state store's lease is the second guard.
RESERVED_CONCURRENCY: Final = 1
LOG_RETENTION: Final = aws_logs.RetentionDays.ONE_MONTH
