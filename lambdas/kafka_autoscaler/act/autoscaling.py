"""Steer Application Auto Scaling's bounds on an ECS service: RegisterScalableTarget.

For bindings with `ecs.manage: min_max`: Application Auto Scaling keeps owning the desired
count, and the scaler moves its MinCapacity and MaxCapacity
(https://docs.aws.amazon.com/autoscaling/application/APIReference/API_RegisterScalableTarget.html;
registering an existing target updates its bounds).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from kafka_autoscaler.config import ConsumerBinding
from kafka_autoscaler.observe.ecs import DESIRED_COUNT_DIMENSION, ECS_NAMESPACE
from kafka_autoscaler.observe.msk import aws_error_text, reply_lost
from kafka_autoscaler.ports import ActionError

if TYPE_CHECKING:
    from mypy_boto3_application_autoscaling import ApplicationAutoScalingClient


class AppAutoScalingControl:
    """ports.CapacityControl on Application Auto Scaling."""

    def __init__(self, client: ApplicationAutoScalingClient) -> None:
        self._client = client

    def set_bounds(self, binding: ConsumerBinding, min_capacity: int, max_capacity: int) -> str:
        resource = binding.ecs.resource_id
        try:
            self._client.register_scalable_target(
                ServiceNamespace=ECS_NAMESPACE,
                ResourceId=resource,
                ScalableDimension=DESIRED_COUNT_DIMENSION,
                MinCapacity=min_capacity,
                MaxCapacity=max_capacity,
            )
        except (BotoCoreError, ClientError) as error:
            raise ActionError(
                f"Application Auto Scaling RegisterScalableTarget {resource} failed: {aws_error_text(error)}",
                maybe_applied=reply_lost(error),
            ) from error
        return f"{resource} min={min_capacity} max={max_capacity}"
