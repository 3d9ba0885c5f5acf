"""MSK's own storage auto scaling (Application Auto Scaling), for `storage.mode: aws_target_tracking`.

The configuration chooses one owner of the broker volume size: in this mode the scaler's storage
policy is off and Application Auto Scaling grows the volumes; never both.
"""

from __future__ import annotations

from typing import Final

from aws_cdk import aws_applicationautoscaling as appscaling
from constructs import Construct
from kafka_autoscaler.config import StoragePolicy

SCALABLE_DIMENSION: Final = "kafka:broker-storage:VolumeSize"
PREDEFINED_METRIC: Final = "KafkaBrokerStorageUtilization"
# MSK volumes never shrink; the lower bound is only required by the API.
MIN_VOLUME_GIB: Final = 1


class StorageAutoScaling(Construct):
    """Target tracking on KafkaBrokerStorageUtilization, up to `storage.max_volume_gib`.

    The L1 resources are used on purpose: without a RoleARN, Application Auto Scaling uses (and
    creates) its service-linked role for MSK, AWSServiceRoleForApplicationAutoScaling_KafkaCluster.
    The L2 ScalableTarget would instead create a role that has no MSK permissions.
    """

    def __init__(self, scope: Construct, construct_id: str, *, cluster_arn: str, storage: StoragePolicy) -> None:
        super().__init__(scope, construct_id)
        self.target = appscaling.CfnScalableTarget(
            self,
            "Target",
            service_namespace="kafka",
            resource_id=cluster_arn,
            scalable_dimension=SCALABLE_DIMENSION,
            min_capacity=MIN_VOLUME_GIB,
            max_capacity=storage.max_volume_gib,
        )
        self.policy = appscaling.CfnScalingPolicy(
            self,
            "Policy",
            policy_name="kafka-autoscaler-storage-target-tracking",
            policy_type="TargetTrackingScaling",
            scaling_target_id=self.target.ref,
            target_tracking_scaling_policy_configuration=appscaling.CfnScalingPolicy.TargetTrackingScalingPolicyConfigurationProperty(
                target_value=storage.target_used_pct,
                predefined_metric_specification=appscaling.CfnScalingPolicy.PredefinedMetricSpecificationProperty(
                    predefined_metric_type=PREDEFINED_METRIC
                ),
                # Storage cannot be reduced: target tracking never scales in for MSK.
                disable_scale_in=True,
            ),
        )
