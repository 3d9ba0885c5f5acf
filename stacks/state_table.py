"""The scaler's state: one DynamoDB table (lease, state document, offset samples, decision log)."""

from __future__ import annotations

from typing import Final

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

TTL_ATTRIBUTE: Final = "expires_at"
# Exactly what the state store adapter (kafka_autoscaler/state/dynamodb.py) calls.
TABLE_ACTIONS: Final = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:BatchGetItem")


class StateTable(Construct):
    """On-demand table, keys `pk`/`sk` (strings), TTL on `expires_at`, point-in-time recovery.

    Encrypted with the AWS managed key (aws/dynamodb): the items hold counts, timestamps and group
    names, no secrets, and nobody outside this account reads the table, so a customer managed key
    would add $1 a month and a key policy to keep right without protecting anything more. The
    AWS managed key is still a KMS key: its use shows in CloudTrail.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=TTL_ATTRIBUTE,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            # The state only steers the next ticks: `cdk destroy` removes it with the scaler.
            removal_policy=RemovalPolicy.DESTROY,
        )
