"""Where every decision and alarm goes: an SNS topic, encrypted with a customer managed KMS key."""

from __future__ import annotations

from aws_cdk import Annotations, CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct
from kafka_autoscaler.config import Notifications as NotificationSettings

CLOUDWATCH: str = "cloudwatch.amazonaws.com"


class Notifications(Construct):
    """The topic the scaler publishes to and the alarms notify, with the configured e-mail subscriptions.

    With `notifications.sns_topic_arn` set, that existing topic is used and no topic or key is
    created; its owner must let this account's alarms and the scaler's role publish (and use its
    KMS key, if it has one).

    Alarms publish as the CloudWatch service principal, so the topic policy and the key policy
    must both let it in. `enforce_ssl` writes a topic policy that holds only a Deny, and that
    policy replaces SNS's default one: without the Allow below, every alarm action fails with
    "... is not authorized to perform: SNS:Publish"
    (https://repost.aws/knowledge-center/cloudwatch-receive-sns-for-alarm-trigger). An encrypted
    topic also needs kms:Decrypt and kms:GenerateDataKey* for the same principal in the key policy
    (https://repost.aws/knowledge-center/cloudwatch-configure-alarm-sns,
    https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services).
    Both are conditioned on this account and this stack's alarms (confused deputy).
    """

    def __init__(self, scope: Construct, construct_id: str, *, settings: NotificationSettings, alarm_arns: str) -> None:
        """`alarm_arns`: the ARN pattern of this stack's alarms (permissions.ClusterArns.alarms)."""
        super().__init__(scope, construct_id)
        self.key: kms.Key | None = None
        self._alarm_conditions = {
            "StringEquals": {"aws:SourceAccount": Stack.of(self).account},
            "ArnLike": {"aws:SourceArn": alarm_arns},
        }
        if settings.sns_topic_arn:
            self.topic: sns.ITopic = sns.Topic.from_topic_arn(self, "Topic", settings.sns_topic_arn)
            Annotations.of(self).add_info(
                f"Using the existing SNS topic {settings.sns_topic_arn} (notifications.sns_topic_arn): "
                "no topic or KMS key is created."
            )
        else:
            self.key = self._key()
            topic = sns.Topic(self, "Topic", master_key=self.key, enforce_ssl=True)
            topic.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="AllowThisStacksAlarmsToPublish",
                    principals=[iam.ServicePrincipal(CLOUDWATCH)],
                    actions=["sns:Publish"],
                    resources=[topic.topic_arn],
                    conditions=self._alarm_conditions,
                )
            )
            self.topic = topic
        for address in settings.emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(address))
        CfnOutput(self, "TopicArn", value=self.topic.topic_arn, description="Where the decisions are published")

    def _key(self) -> kms.Key:
        """The topic's key. Its policy names no role of this stack: the CDK default statement lets
        the account's IAM policies grant its use (the scaler's role carries kms permissions on this
        key), and a key policy naming a role created in the same deployment can fail with
        MalformedPolicyDocumentException before IAM has propagated the new role."""
        key = kms.Key(
            self,
            "Key",
            description="Encrypts the kafka-autoscaler notification topic",
            enable_key_rotation=True,
            pending_window=Duration.days(7),
            removal_policy=RemovalPolicy.DESTROY,
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowThisStacksAlarmsToUseTheKey",
                principals=[iam.ServicePrincipal(CLOUDWATCH)],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" means this key
                conditions=self._alarm_conditions,
            )
        )
        return key

    def allow_publish(self, role: iam.IRole) -> None:
        """Let a function's role publish to the topic and use its key, in the role's own policy."""
        role.add_to_principal_policy(
            iam.PolicyStatement(sid="PublishDecisions", actions=["sns:Publish"], resources=[self.topic.topic_arn])
        )
        if self.key is None:
            return
        # Publishing to an encrypted topic takes a data key from KMS.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="EncryptNotifications",
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=[self.key.key_arn],
            )
        )
