"""What the stack deploys, one concern at a time (Template.from_stack assertions)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Annotations, Match
from cdk_support import Synthesized

pytestmark = pytest.mark.infrastructure

STEPS = "kafka_autoscaler.handlers.rebalance_steps.handler"
STATE_MACHINE_ARN = "arn:aws:states:eu-west-1:123456789012:stateMachine:KafkaAutoscaler-orders-rebalance"
CLUSTER_ARN = "arn:aws:kafka:eu-west-1:123456789012:cluster/orders/6f1d2c3b-1a2b-4c5d-9e8f-0a1b2c3d4e5f-2"


def only(found: dict[str, Any]) -> dict[str, Any]:
    assert len(found) == 1, f"expected one resource, found {sorted(found)}"
    resource: dict[str, Any] = next(iter(found.values()))
    return resource


def function(synth: Synthesized, handler: str) -> dict[str, Any]:
    found = synth.template.find_resources("AWS::Lambda::Function", {"Properties": {"Handler": handler}})
    properties: dict[str, Any] = only(dict(found))["Properties"]
    return properties


def test_stack_is_bound_to_the_cluster_account_and_region(example: Synthesized) -> None:
    assert example.stack.stack_name == "KafkaAutoscaler-orders"
    assert (example.stack.account, example.stack.region) == ("123456789012", "eu-west-1")


@pytest.mark.parametrize(
    ("handler", "timeout"),
    [("kafka_autoscaler.handlers.scaler.handler", 60), ("kafka_autoscaler.handlers.rebalance_steps.handler", 120)],
)
def test_functions_run_python_on_arm_in_the_configured_subnets(
    example: Synthesized, handler: str, timeout: int
) -> None:
    properties = function(example, handler)
    assert properties["Runtime"] == "python3.12"
    assert properties["Architectures"] == ["arm64"]
    assert properties["Timeout"] == timeout
    assert properties["ReservedConcurrentExecutions"] == 1
    assert properties["VpcConfig"] == {
        "SubnetIds": ["subnet-0a1b2c3d4e5f60718", "subnet-1a2b3c4d5e6f70819"],
        "SecurityGroupIds": ["sg-0a1b2c3d4e5f60718"],
    }
    assert properties["TracingConfig"] == {"Mode": "Active"}
    variables = properties["Environment"]["Variables"]
    assert variables["AUTOSCALER_CONFIG_FILE"] == "autoscaler.yaml"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "KafkaAutoscaler"


def test_only_the_scaler_keeps_state_and_notifies(example: Synthesized) -> None:
    scaler = function(example, "kafka_autoscaler.handlers.scaler.handler")["Environment"]["Variables"]
    assert scaler["STATE_TABLE_NAME"] == {"Ref": only_logical_id(example, "AWS::DynamoDB::Table")}
    assert scaler["SNS_TOPIC_ARN"] == {"Ref": only_logical_id(example, "AWS::SNS::Topic")}
    rebalancer = function(example, STEPS)["Environment"]["Variables"]
    assert not {"STATE_TABLE_NAME", "SNS_TOPIC_ARN", "REBALANCE_STATE_MACHINE_ARN"} & set(rebalancer)


def only_logical_id(synth: Synthesized, resource_type: str) -> str:
    found = synth.resources(resource_type)
    assert len(found) == 1
    return next(iter(found))


def test_both_functions_share_one_code_asset(example: Synthesized) -> None:
    codes = [resource["Properties"]["Code"] for resource in example.resources("AWS::Lambda::Function").values()]
    assert len(codes) == 2
    assert codes[0] == codes[1]


def test_scaler_knows_the_rebalance_state_machine_by_arn(example: Synthesized) -> None:
    scaler = function(example, "kafka_autoscaler.handlers.scaler.handler")
    assert scaler["Environment"]["Variables"]["REBALANCE_STATE_MACHINE_ARN"] == STATE_MACHINE_ARN
    machine = only(example.resources("AWS::StepFunctions::StateMachine"))["Properties"]
    assert machine["StateMachineName"] == "KafkaAutoscaler-orders-rebalance"


def test_ticks_are_not_retried_and_expire_with_the_schedule(example: Synthesized) -> None:
    """The steps are called synchronously by the state machine, which retries them: no async config."""
    (config,) = example.resources("AWS::Lambda::EventInvokeConfig").values()
    assert (config["Properties"]["MaximumEventAgeInSeconds"], config["Properties"]["MaximumRetryAttempts"]) == (60, 0)
    assert config["Properties"]["FunctionName"]["Ref"].startswith("FunctionsScalerFunction")


def test_each_function_and_the_state_machine_log_to_their_own_log_group_kept_a_month(example: Synthesized) -> None:
    groups = example.resources("AWS::Logs::LogGroup")
    assert len(groups) == 3
    assert {group["Properties"]["RetentionInDays"] for group in groups.values()} == {30}
    targets = {
        json.dumps(resource["Properties"]["LoggingConfig"]["LogGroup"])
        for resource in example.resources("AWS::Lambda::Function").values()
    }
    machine = only(example.resources("AWS::StepFunctions::StateMachine"))["Properties"]
    (destination,) = machine["LoggingConfiguration"]["Destinations"]
    targets.add(json.dumps({"Ref": destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]}))
    assert targets == {json.dumps({"Ref": logical_id}) for logical_id in groups}
    assert machine["LoggingConfiguration"]["Level"] == "ALL"
    assert machine["TracingConfiguration"] == {"Enabled": True}


def test_schedule_runs_the_scaler_every_configured_minute(example: Synthesized, variant: Synthesized) -> None:
    scaler_arn = {"Fn::GetAtt": [Match.string_like_regexp("FunctionsScalerFunction"), "Arn"]}
    example.template.has_resource_properties(
        "AWS::Events::Rule",
        {"ScheduleExpression": "rate(1 minute)", "Targets": [Match.object_like({"Arn": scaler_arn})]},
    )
    variant.template.has_resource_properties("AWS::Events::Rule", {"ScheduleExpression": "rate(5 minutes)"})


def test_state_table_is_on_demand_with_recovery_ttl_and_encryption(example: Synthesized) -> None:
    example.template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            "AttributeDefinitions": Match.array_with(
                [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}]
            ),
            "BillingMode": "PAY_PER_REQUEST",
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
            "SSESpecification": {"SSEEnabled": True},
        },
    )


def test_topic_is_encrypted_with_a_rotated_key_and_subscribes_the_emails(example: Synthesized) -> None:
    key_id = only_logical_id(example, "AWS::KMS::Key")
    example.template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    example.template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": {"Fn::GetAtt": [key_id, "Arn"]}})
    example.template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "platform-team@example.com"}
    )
    # Publishers must use TLS (cdk-nag SNS3).
    example.template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            }
        },
    )


def test_existing_topic_is_used_instead_of_a_new_one(variant: Synthesized) -> None:
    existing = "arn:aws:sns:eu-west-1:123456789012:platform-alerts"
    Annotations.from_stack(variant.stack).has_info(
        "*", Match.string_like_regexp(f"Using the existing SNS topic {existing}")
    )
    assert variant.resources("AWS::SNS::Topic") == {}
    assert variant.resources("AWS::KMS::Key") == {}
    scaler = function(variant, "kafka_autoscaler.handlers.scaler.handler")
    assert scaler["Environment"]["Variables"]["SNS_TOPIC_ARN"] == existing
    alarm_actions = {
        json.dumps(a["Properties"]["AlarmActions"]) for a in variant.resources("AWS::CloudWatch::Alarm").values()
    }
    assert alarm_actions == {json.dumps([existing])}


def test_storage_auto_scaling_only_in_aws_target_tracking_mode(example: Synthesized, variant: Synthesized) -> None:
    assert example.resources("AWS::ApplicationAutoScaling::ScalableTarget") == {}
    target = only(variant.resources("AWS::ApplicationAutoScaling::ScalableTarget"))["Properties"]
    assert target == {
        "ServiceNamespace": "kafka",
        "ResourceId": CLUSTER_ARN,
        "ScalableDimension": "kafka:broker-storage:VolumeSize",
        "MinCapacity": 1,
        "MaxCapacity": 16384,
    }  # no RoleARN: Application Auto Scaling's service-linked role for MSK
    variant.template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {
                "TargetValue": 70,
                "PredefinedMetricSpecification": {"PredefinedMetricType": "KafkaBrokerStorageUtilization"},
                "DisableScaleIn": True,
            },
        },
    )


def dashboard_metrics(synth: Synthesized) -> tuple[list[str], list[list[Any]]]:
    """The dashboard's math/search expressions and its plain metrics (tokens replaced by "TOKEN")."""
    body = only(synth.resources("AWS::CloudWatch::Dashboard"))["Properties"]["DashboardBody"]
    text = body if isinstance(body, str) else "".join(p if isinstance(p, str) else "TOKEN" for p in body["Fn::Join"][1])
    expressions: list[str] = []
    plain: list[list[Any]] = []
    for widget in json.loads(text)["widgets"]:
        for metric in widget["properties"].get("metrics", []):
            if isinstance(metric[0], dict):
                expressions.append(metric[0]["expression"])
            else:
                plain.append(metric)
    return expressions, plain


def test_dashboard_shows_groups_brokers_and_decisions(example: Synthesized) -> None:
    example.template.has_resource_properties("AWS::CloudWatch::Dashboard", {"DashboardName": "KafkaAutoscaler-orders"})
    expressions, plain = dashboard_metrics(example)
    for group in ("orders-processor", "audit-archiver"):
        for metric in ("TotalLag", "MaxTimeLagSeconds", "DesiredTasks", "RunningTasks"):
            assert ["KafkaAutoscaler", metric, "ConsumerGroup", group] in [m[:4] for m in plain]
    assert [e for e in expressions if e.startswith("SELECT COUNT(CpuUser)")]  # broker count
    assert [f"user{b} + system{b}" for b in range(1, 13)] == [e for e in expressions if e.startswith("user")]
    searches = [e for e in expressions if e.startswith("SEARCH(")]
    assert any('MetricName="KafkaDataLogsDiskUsed"' in e and '"Cluster Name"="orders"' in e for e in searches)
    assert any("{KafkaAutoscaler,Action}" in e and 'MetricName="Decisions"' in e for e in searches)
