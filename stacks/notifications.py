"""Where every decision and alarm goes: an SNS topic, encrypted with a customer managed KMS key."""

from __future__ import annotations

from aws_cdk import Annotations, CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct
from kafka_autoscaler.config import Notifications as NotificationSettings


class Notifications(Construct):
    """The topic the scaler publishes to and the alarms notify, with the configured e-mail subscriptions.

    With `notifications.sns_topic_arn` set, that existing topic is used and no topic or key is
    created; its owner must let this account's alarms and the scaler's role publish (and use its
    KMS key, if it has one).
    """

    def __init__(self, scope: Construct, construct_id: str, *, settings: NotificationSettings) -> None:
        super().__init__(scope, construct_id)
        self.key: kms.Key | None = None
        if settings.sns_topic_arn:
            self.topic: sns.ITopic = sns.Topic.from_topic_arn(self, "Topic", settings.sns_topic_arn)
            Annotations.of(self).add_info(
                f"Using the existing SNS topic {settings.sns_topic_arn} (notifications.sns_topic_arn): "
                "no topic or KMS key is created."
            )
        else:
            self.key = self._key()
            self.topic = sns.Topic(self, "Topic", master_key=self.key, enforce_ssl=True)
        for address in settings.emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(address))
        CfnOutput(self, "TopicArn", value=self.topic.topic_arn, description="Where the decisions are published")

    def _key(self) -> kms.Key:
        key = kms.Key(
            self,
            "Key",
            description="Encrypts the kafka-autoscaler notification topic",
            enable_key_rotation=True,
            pending_window=Duration.days(7),
            removal_policy=RemovalPolicy.DESTROY,
        )
        stack = Stack.of(self)
        # CloudWatch alarms publish to the encrypted topic: they need the key (SNS encryption guide).
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToUseTheKey",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" means this key
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{stack.partition}:cloudwatch:{stack.region}:{stack.account}:alarm:*"
                    },
                },
            )
        )
        return key

    def allow_publish(self, role: iam.IRole) -> None:
        """Let a function's role publish to the topic and use its key (named on both sides)."""
        role.add_to_principal_policy(
            iam.PolicyStatement(sid="PublishDecisions", actions=["sns:Publish"], resources=[self.topic.topic_arn])
        )
        if self.key is None:
            return
        # Publishing to an encrypted topic takes a data key from KMS.
        key_use = ["kms:Decrypt", "kms:GenerateDataKey"]
        role.add_to_principal_policy(
            iam.PolicyStatement(sid="EncryptNotifications", actions=key_use, resources=[self.key.key_arn])
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(principals=[iam.ArnPrincipal(role.role_arn)], actions=key_use, resources=["*"])
        )
