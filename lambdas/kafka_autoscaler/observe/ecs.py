"""ECS service reader: DescribeServices, batched per cluster, into ServiceState.

With an Application Auto Scaling client it also reads who owns each desired count:
DescribeScalableTargets, namespace ecs, ResourceId service/CLUSTER/SERVICE
(https://docs.aws.amazon.com/autoscaling/application/APIReference/API_DescribeScalableTargets.html).
When that read fails, every service says its owner is unknown, and the policy holds.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final, Literal

from botocore.exceptions import BotoCoreError, ClientError

from kafka_autoscaler.config import ConsumerBinding
from kafka_autoscaler.model import ScalableTarget, ServiceState
from kafka_autoscaler.observe.msk import aws_error_text

if TYPE_CHECKING:
    from mypy_boto3_application_autoscaling import ApplicationAutoScalingClient
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_ecs.type_defs import ServiceTypeDef

logger = logging.getLogger(__name__)

# DescribeServices accepts at most 10 services per call.
DESCRIBE_BATCH = 10
# DescribeScalableTargets accepts at most 50 resource ids per call.
TARGETS_BATCH = 50
ECS_NAMESPACE: Final[Literal["ecs"]] = "ecs"
DESIRED_COUNT_DIMENSION: Final[Literal["ecs:service:DesiredCount"]] = "ecs:service:DesiredCount"


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

    def __init__(self, ecs_client: ECSClient, autoscaling_client: ApplicationAutoScalingClient | None = None) -> None:
        self._ecs = ecs_client
        self._autoscaling = autoscaling_client

    def describe(self, bindings: Sequence[ConsumerBinding]) -> dict[str, ServiceState]:
        by_cluster: dict[str, list[ConsumerBinding]] = {}
        for binding in bindings:
            by_cluster.setdefault(binding.ecs.cluster, []).append(binding)
        states: dict[str, ServiceState] = {}
        for cluster, members in by_cluster.items():
            for start in range(0, len(members), DESCRIBE_BATCH):
                states.update(self._describe_batch(cluster, members[start : start + DESCRIBE_BATCH]))
        if self._autoscaling is None or not states:
            return states
        owners = self._scalable_targets([b for b in bindings if b.group_id in states])
        by_group = {b.group_id: b for b in bindings}
        return {
            group: dataclasses.replace(
                state,
                scalable_target=None if owners is None else owners.get(by_group[group].ecs.resource_id),
                scalable_target_known=owners is not None,
            )
            for group, state in states.items()
        }

    def _scalable_targets(self, bindings: Sequence[ConsumerBinding]) -> dict[str, ScalableTarget] | None:
        """Scalable targets on the services' desired counts by ResourceId; None when they cannot be read."""
        assert self._autoscaling is not None
        ids = sorted({b.ecs.resource_id for b in bindings})
        found: dict[str, ScalableTarget] = {}
        try:
            paginator = self._autoscaling.get_paginator("describe_scalable_targets")
            for start in range(0, len(ids), TARGETS_BATCH):
                pages = paginator.paginate(
                    ServiceNamespace=ECS_NAMESPACE,
                    ResourceIds=ids[start : start + TARGETS_BATCH],
                    ScalableDimension=DESIRED_COUNT_DIMENSION,
                )
                for page in pages:
                    for target in page.get("ScalableTargets", []):
                        found[target["ResourceId"]] = ScalableTarget(target["MinCapacity"], target["MaxCapacity"])
        except (BotoCoreError, ClientError) as error:
            logger.warning("Application Auto Scaling DescribeScalableTargets failed (%s)", aws_error_text(error))
            return None
        return found

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
                service=binding.ecs.service_name,
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
