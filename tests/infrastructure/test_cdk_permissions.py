"""IAM: exact actions and resources per role, wildcards only where AWS allows nothing else."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from cdk_support import Synthesized

from stacks import permissions

pytestmark = pytest.mark.infrastructure

ARN = "arn:aws:kafka:eu-west-1:123456789012"
CLUSTER = f"{ARN}:cluster/orders/6f1d2c3b-1a2b-4c5d-9e8f-0a1b2c3d4e5f-2"
TOPIC = f"{ARN}:topic/orders/6f1d2c3b-1a2b-4c5d-9e8f-0a1b2c3d4e5f-2"
GROUP = f"{ARN}:group/orders/6f1d2c3b-1a2b-4c5d-9e8f-0a1b2c3d4e5f-2"
EC2 = "arn:aws:ec2:eu-west-1:123456789012"
NETWORK = {
    "CreateInterfaces": (
        ["ec2:CreateNetworkInterface"],
        [
            f"{EC2}:network-interface/*",
            f"{EC2}:subnet/subnet-0a1b2c3d4e5f60718",
            f"{EC2}:subnet/subnet-1a2b3c4d5e6f70819",
            f"{EC2}:security-group/sg-0a1b2c3d4e5f60718",
        ],
    ),
    "ManageInterfaces": (
        ["ec2:AssignPrivateIpAddresses", "ec2:DeleteNetworkInterface", "ec2:UnassignPrivateIpAddresses"],
        [f"{EC2}:network-interface/*"],
    ),
    "DescribeNetwork": (["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"], ["*"]),
}
TABLE_ACTIONS = ["dynamodb:BatchGetItem", "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem"]
# Where AWS offers no narrower resource than "*".
STAR_ALLOWED = {
    "ReadMetrics",
    "DescribeNetwork",
    "ScramSecretKey",
    "ReadScalableTargets",
    "SteerScalableTargets",
    "Tracing",
    "DeliverLogs",
}
TRACING = (["xray:PutTelemetryRecords", "xray:PutTraceSegments"], ["*"])
STATES = "arn:aws:states:eu-west-1:123456789012"
STATE_MACHINE = f"{STATES}:stateMachine:KafkaAutoscaler-orders-rebalance"


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(synth: Synthesized, role: str, prefix: str = "") -> dict[str, tuple[list[str], list[Any]]]:
    """sid -> (sorted actions, resources) of the role's policy; "Scaler" or "Rebalancer" (or a prefix)."""
    policies = [
        resource
        for logical_id, resource in synth.resources("AWS::IAM::Policy").items()
        if logical_id.startswith(prefix or f"Functions{role}Role")
    ]
    assert len(policies) == 1
    found: dict[str, tuple[list[str], list[Any]]] = {}
    for statement in policies[0]["Properties"]["PolicyDocument"]["Statement"]:
        assert statement["Effect"] == "Allow"
        assert statement["Sid"] not in found, "one statement per sid"
        found[statement["Sid"]] = (sorted(_listed(statement["Action"])), _listed(statement["Resource"]))
    return found


def logical_id(synth: Synthesized, resource_type: str, prefix: str) -> str:
    (found,) = [name for name in synth.resources(resource_type) if name.startswith(prefix)]
    return found


def test_scaler_statements_are_exactly_what_a_tick_needs(example: Synthesized) -> None:
    table = logical_id(example, "AWS::DynamoDB::Table", "State")
    topic = logical_id(example, "AWS::SNS::Topic", "Notifications")
    key = logical_id(example, "AWS::KMS::Key", "Notifications")
    logs = logical_id(example, "AWS::Logs::LogGroup", "FunctionsScaler")
    assert statements(example, "Scaler") == {
        "WriteLogs": (["logs:CreateLogStream", "logs:PutLogEvents"], [{"Fn::GetAtt": [logs, "Arn"]}]),
        **NETWORK,
        "PublishDecisions": (["sns:Publish"], [{"Ref": topic}]),
        "EncryptNotifications": (["kms:Decrypt", "kms:GenerateDataKey"], [{"Fn::GetAtt": [key, "Arn"]}]),
        "MskCluster": (
            [
                "kafka:DescribeClusterV2",
                "kafka:ListClusterOperationsV2",
                "kafka:ListNodes",
                "kafka:UpdateBrokerCount",
                "kafka:UpdateBrokerStorage",
            ],
            [CLUSTER],
        ),
        "KafkaCluster": (["kafka-cluster:Connect", "kafka-cluster:DescribeCluster"], [CLUSTER]),
        "AdviceCluster": (["kafka-cluster:DescribeClusterDynamicConfiguration"], [CLUSTER]),
        "AdviceTopics": (
            ["kafka-cluster:DescribeTopic", "kafka-cluster:DescribeTopicDynamicConfiguration"],
            [f"{TOPIC}/*"],
        ),
        "KafkaTopics": (["kafka-cluster:DescribeTopic"], [f"{TOPIC}/orders", f"{TOPIC}/payments"]),
        "KafkaGroups": (["kafka-cluster:DescribeGroup"], [f"{GROUP}/audit-archiver", f"{GROUP}/orders-processor"]),
        "EcsServices": (
            ["ecs:DescribeServices", "ecs:UpdateService"],
            [
                "arn:aws:ecs:eu-west-1:123456789012:service/orders/audit-archiver",
                "arn:aws:ecs:eu-west-1:123456789012:service/orders/orders-processor",
            ],
        ),
        "StateTable": (TABLE_ACTIONS, [{"Fn::GetAtt": [table, "Arn"]}]),
        "StartRebalance": (["states:ListExecutions", "states:StartExecution"], [STATE_MACHINE]),
        "RebalanceExecutions": (
            ["states:DescribeExecution", "states:GetExecutionHistory"],
            [f"{STATES}:execution:KafkaAutoscaler-orders-rebalance:*"],
        ),
        "ReadMetrics": (["cloudwatch:GetMetricData"], ["*"]),
        "ReadScalableTargets": (["application-autoscaling:DescribeScalableTargets"], ["*"]),
        "Tracing": TRACING,
    }


def test_rebalancer_may_move_partitions_but_not_scale(example: Synthesized) -> None:
    found = statements(example, "Rebalancer")
    assert found["KafkaCluster"] == (
        sorted(
            [
                "kafka-cluster:Connect",
                "kafka-cluster:DescribeCluster",
                "kafka-cluster:AlterCluster",
                "kafka-cluster:DescribeClusterDynamicConfiguration",
                "kafka-cluster:AlterClusterDynamicConfiguration",
            ]
        ),
        [CLUSTER],
    )
    assert found["KafkaTopics"] == (
        [
            "kafka-cluster:AlterTopicDynamicConfiguration",
            "kafka-cluster:DescribeTopic",
            "kafka-cluster:DescribeTopicDynamicConfiguration",
        ],
        [f"{TOPIC}/*"],
    )
    assert found["MskCluster"] == (
        ["kafka:DescribeClusterV2", "kafka:ListClusterOperationsV2", "kafka:ListNodes"],
        [CLUSTER],
    )
    assert found["ReadMetrics"] == (["cloudwatch:GetMetricData"], ["*"])
    for sid, statement in NETWORK.items():
        assert found[sid] == statement
    # Nothing else: no scaling, no state, no topic, no invocation.
    assert found["Tracing"] == TRACING
    assert sorted(found) == sorted(
        ["WriteLogs", *NETWORK, "Tracing", "MskCluster", "KafkaCluster", "KafkaTopics", "ReadMetrics"]
    )


def test_state_machine_may_only_call_its_steps_trace_and_log(example: Synthesized) -> None:
    steps = logical_id(example, "AWS::Lambda::Function", "FunctionsRebalancer")
    found = statements(example, "StateMachine", prefix="RebalanceRole")
    assert found["InvokeSteps"] == (["lambda:InvokeFunction"], [{"Fn::GetAtt": [steps, "Arn"]}])
    assert found["Tracing"][1] == found["DeliverLogs"][1] == ["*"]
    assert sorted(found) == ["DeliverLogs", "InvokeSteps", "Tracing"]
    (role,) = [r for name, r in example.resources("AWS::IAM::Role").items() if name.startswith("RebalanceRole")]
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}}
    ]


@pytest.mark.parametrize("role", ["Scaler", "Rebalancer"])
def test_no_wildcard_action_and_star_resource_only_where_aws_allows_nothing_else(
    example: Synthesized, variant: Synthesized, role: str
) -> None:
    for synth in (example, variant):
        for sid, (actions, resources) in statements(synth, role).items():
            assert not [a for a in actions if "*" in a], sid
            assert "*" not in resources or sid in STAR_ALLOWED, sid
            assert "cloudwatch:PutMetricData" not in actions  # metrics go out as EMF log lines


def test_no_role_has_a_managed_policy(example: Synthesized) -> None:
    for name, resource in example.resources("AWS::IAM::Role").items():
        assert "ManagedPolicyArns" not in resource["Properties"]
        service = "states.amazonaws.com" if name.startswith("Rebalance") else "lambda.amazonaws.com"
        assert resource["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
            {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": service}}
        ]


def test_configuration_narrows_and_widens_the_scaler(example: Synthesized, variant: Synthesized) -> None:
    """Brokers off and AWS storage auto scaling: no MSK updates. A group without topics: all topics,
    and ListMetrics to find them. SCRAM: the one secret, and its key only through Secrets Manager."""
    assert "ScramSecret" not in statements(example, "Scaler")  # IAM authentication
    found = statements(variant, "Scaler")
    assert found["MskCluster"] == (
        ["kafka:DescribeClusterV2", "kafka:ListClusterOperationsV2", "kafka:ListNodes"],
        [CLUSTER],
    )
    assert found["KafkaTopics"] == (["kafka-cluster:DescribeTopic"], [f"{TOPIC}/*"])
    assert found["ReadMetrics"] == (["cloudwatch:GetMetricData", "cloudwatch:ListMetrics"], ["*"])
    secret = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:AmazonMSK_scaler-AbCdEf"
    assert found["ScramSecret"] == (["secretsmanager:GetSecretValue"], [secret])
    assert found["PublishDecisions"] == (["sns:Publish"], ["arn:aws:sns:eu-west-1:123456789012:platform-alerts"])
    assert "EncryptNotifications" not in found  # the existing topic's key is its owner's business
    policy = next(
        r for name, r in variant.resources("AWS::IAM::Policy").items() if name.startswith("FunctionsScalerRole")
    )
    (key_statement,) = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Sid"] == "ScramSecretKey"]
    assert key_statement["Action"] == "kms:Decrypt"
    assert key_statement["Condition"] == {
        "StringEquals": {
            "kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com",
            "kms:EncryptionContext:SecretARN": secret,
        }
    }


ALARMS_OF_THE_STACK = {
    "StringEquals": {"aws:SourceAccount": "123456789012"},
    "ArnLike": {"aws:SourceArn": "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:KafkaAutoscaler-orders/*"},
}


def test_key_policy_lets_this_stacks_alarms_use_the_key_and_names_no_role(example: Synthesized) -> None:
    """The scaler's role gets the key through its own policy; a key policy naming a role of the same
    deployment can fail it with MalformedPolicyDocumentException."""
    key = next(iter(example.resources("AWS::KMS::Key").values()))
    policy = key["Properties"]["KeyPolicy"]["Statement"]
    (alarms,) = [s for s in policy if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
    assert sorted(alarms["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert alarms["Condition"] == ALARMS_OF_THE_STACK
    principals = [s["Principal"] for s in policy]
    assert not [p for p in principals if isinstance(p.get("AWS"), dict) and "Fn::GetAtt" in p["AWS"]]
    # What remains is CDK's account statement, which lets IAM policies grant the key.
    (account,) = [p for p in principals if "AWS" in p]
    assert "root" in str(account["AWS"])


def test_topic_policy_lets_this_stacks_alarms_publish_and_keeps_tls_only(example: Synthesized) -> None:
    """enforce_ssl's Deny replaces SNS's default policy: without an Allow, alarms cannot publish."""
    (topic,) = example.resources("AWS::SNS::Topic")
    (policy,) = example.resources("AWS::SNS::TopicPolicy").values()
    statements_found = policy["Properties"]["PolicyDocument"]["Statement"]
    (allow,) = [s for s in statements_found if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow["Action"] == "sns:Publish"
    assert allow["Resource"] == {"Ref": topic}
    assert allow["Condition"] == ALARMS_OF_THE_STACK
    (deny,) = [s for s in statements_found if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Principal"] == "*"
    # Every alarm of the stack is covered by that ARN pattern.
    names = [a["Properties"]["AlarmName"] for a in example.resources("AWS::CloudWatch::Alarm").values()]
    assert names and all(name.startswith("KafkaAutoscaler-orders/") for name in names)


def test_function_resource_policy_allows_exactly_the_two_rules(example: Synthesized) -> None:
    permissions_found = example.resources("AWS::Lambda::Permission")
    rules = {name for name in example.resources("AWS::Events::Rule")}
    assert len(permissions_found) == 2
    for permission in permissions_found.values():
        properties = permission["Properties"]
        assert properties["Action"] == "lambda:InvokeFunction"
        assert properties["Principal"] == "events.amazonaws.com"
        assert properties["FunctionName"]["Fn::GetAtt"][0].startswith("FunctionsScalerFunction")
    assert {p["Properties"]["SourceArn"]["Fn::GetAtt"][0] for p in permissions_found.values()} == rules


def test_a_wildcard_without_a_reason_is_refused() -> None:
    stack = cdk.Stack(cdk.App(), "Refusal")
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    statement = iam.PolicyStatement(sid="Unexplained", actions=["s3:GetObject"], resources=["arn:aws:s3:::bucket/*"])
    with pytest.raises(permissions.UnexplainedWildcardError, match="Unexplained grants arn:aws:s3:::bucket/\\*"):
        permissions.attach(role, [statement])
