"""ECS service reader: DescribeServices, batched per cluster, into ServiceState."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from kafka_autoscaler.config import ConsumerBinding
from kafka_autoscaler.model import ServiceState
from kafka_autoscaler.observe.msk import aws_error_text

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_ecs.type_defs import ServiceTypeDef

logger = logging.getLogger(__name__)

# DescribeServices accepts at most 10 services per call.
DESCRIBE_BATCH = 10


def deployment_in_progress(service: ServiceTypeDef) -> bool:
    """True while ECS is still rolling tasks: two deployments, or the primary one not finished."""
    deployments = service.get("deployments", [])
    if len(deployments) > 1:
        return True
    return any(d.get("status") == "PRIMARY" and d.get("rolloutState") == "IN_PROGRESS" for d in deployments)


def _matches(service: ServiceTypeDef, wanted: str) -> bool:
    """A binding names its service by name or by ARN."""
    return wanted in (service.get("serviceName"), service.get("serviceArn"))


class EcsServiceReader:
    """ports.ServiceReader on ECS. A service ECS does not report is left out and named in a warning."""

    def __init__(self, ecs_client: ECSClient) -> None:
        self._ecs = ecs_client

    def describe(self, bindings: Sequence[ConsumerBinding]) -> dict[str, ServiceState]:
        by_cluster: dict[str, list[ConsumerBinding]] = {}
        for binding in bindings:
            by_cluster.setdefault(binding.ecs.cluster, []).append(binding)
        states: dict[str, ServiceState] = {}
        for cluster, members in by_cluster.items():
            for start in range(0, len(members), DESCRIBE_BATCH):
                states.update(self._describe_batch(cluster, members[start : start + DESCRIBE_BATCH]))
        return states

    def _describe_batch(self, cluster: str, batch: Sequence[ConsumerBinding]) -> dict[str, ServiceState]:
        names = [b.ecs.service for b in batch]
        try:
            response = self._ecs.describe_services(cluster=cluster, services=names)
        except (BotoCoreError, ClientError) as error:
            logger.warning(
                "ECS DescribeServices failed in cluster %s (%s); left out: %s", cluster, aws_error_text(error), names
            )
            return {}
        active = [s for s in response.get("services", []) if s.get("status") == "ACTIVE"]
        states: dict[str, ServiceState] = {}
        missing: list[str] = []
        for binding in batch:
            found = next((s for s in active if _matches(s, binding.ecs.service)), None)
            if found is None:
                missing.append(binding.ecs.service)
                continue
            states[binding.group_id] = ServiceState(
                cluster=cluster,
                service=binding.ecs.service,
                desired=found.get("desiredCount", 0),
                running=found.get("runningCount", 0),
                pending=found.get("pendingCount", 0),
                deployment_in_progress=deployment_in_progress(found),
            )
        if missing:
            reasons = {f.get("arn", "?"): f.get("reason", "?") for f in response.get("failures", [])}
            logger.warning(
                "ECS services not found or not active in cluster %s, left out: %s (failures: %s)",
                cluster,
                missing,
                reasons,
            )
        return states
