"""ECS service control: UpdateService(desiredCount)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from kafka_autoscaler.config import ConsumerBinding
from kafka_autoscaler.observe.msk import aws_error_text, reply_lost
from kafka_autoscaler.ports import ActionError

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient


class EcsServiceControl:
    """ports.ServiceControl on ECS."""

    def __init__(self, ecs_client: ECSClient) -> None:
        self._ecs = ecs_client

    def set_desired(self, binding: ConsumerBinding, count: int) -> str:
        where = f"{binding.ecs.cluster_name}/{binding.ecs.service_name}"
        try:
            self._ecs.update_service(cluster=binding.ecs.cluster, service=binding.ecs.service, desiredCount=count)
        except (BotoCoreError, ClientError) as error:
            raise ActionError(
                f"ECS UpdateService {where} failed: {aws_error_text(error)}", maybe_applied=reply_lost(error)
            ) from error
        return f"{where} desiredCount={count}"
