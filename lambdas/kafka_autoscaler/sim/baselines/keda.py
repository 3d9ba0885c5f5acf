"""KEDA's Kafka scaler driving the Kubernetes HorizontalPodAutoscaler, as documented.

Sources:
- KEDA Kafka scaler, pkg/scalers/kafka_scaler.go (GetMetrics): the metric is the
  group's total lag; with allowIdleConsumers false it is capped with
  `if (totalLag / lagThreshold) > totalTopicPartitions { totalLag = totalTopicPartitions * lagThreshold }`
  in integer arithmetic, so a lag just under (partitions + 1) * lagThreshold passes
  uncapped and the HPA asks for partitions + 1 replicas (kedacore/keda issue 4483).
  The metric is an AverageValue target of lagThreshold per replica.
- KEDA ScaledObject defaults: pollingInterval 30 s (activation 0 <-> 1 only; above that
  the HPA decides), cooldownPeriod 300 s, maxReplicaCount 100
  (https://keda.sh/docs/latest/reference/scaledobject-spec/).
- Kubernetes HPA (https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/):
  sync period 15 s; for an external AverageValue metric the replica calculator
  (GetExternalPerPodMetricReplicas) keeps the current count when
  |usage / (target * replicas) - 1| <= 0.1 (tolerance), else ceil(usage / target);
  default behavior: scale-down stabilization 300 s (the highest recommendation of the
  window), scale-up at most max(+100 %, +4 pods) per 15 s, no scale-up stabilization.
"""

from __future__ import annotations

import math

from kafka_autoscaler.sim.controller import Controller, next_multiple
from kafka_autoscaler.sim.model import World

HPA_SYNC_S = 15
KEDA_POLLING_S = 30
KEDA_COOLDOWN_S = 300
KEDA_MAX_REPLICAS_DEFAULT = 100
HPA_TOLERANCE = 0.1
HPA_DOWN_STABILIZATION_S = 300
HPA_UP_PERCENT = 100
HPA_UP_PODS = 4


def keda_metric(total_lag: int, partitions: int, lag_threshold: int) -> int:
    """The lag KEDA reports to the HPA, capped at partitions * threshold with Go's integer division."""
    if total_lag // lag_threshold > partitions:
        return partitions * lag_threshold
    return total_lag


def hpa_replicas(usage: int, target_per_pod: int, status_replicas: int) -> int:
    """The HPA replica calculator for an external AverageValue metric, with its 10% tolerance."""
    ratio = usage / (target_per_pod * status_replicas)
    if abs(1.0 - ratio) <= HPA_TOLERANCE:
        return status_replicas
    return math.ceil(usage / target_per_pod)


def stabilized(current: int, recommendations: list[tuple[int, int]]) -> int:
    """HPA behavior: scale down only to the highest recommendation of the window; scale up at once."""
    newest = recommendations[-1][1]
    highest = max(count for _, count in recommendations)
    result = max(current, newest)  # scale-up window is 0 s: the newest recommendation alone
    return min(result, highest)


def scale_up_limit(current: int) -> int:
    """Default scaleUp policies, selectPolicy Max: +100 % or +4 pods per 15 s."""
    return max(current + current * HPA_UP_PERCENT // 100, current + HPA_UP_PODS)


class KedaHpa(Controller):
    def __init__(self, world: World) -> None:
        super().__init__(world)
        settings = world.settings
        self.threshold = settings.threshold
        self.min_replicas = settings.min_tasks
        self.max_replicas = settings.max_tasks if settings.max_tasks is not None else KEDA_MAX_REPLICAS_DEFAULT
        self.recommendations: list[tuple[int, int]] = []
        self.last_active: int = 0

    def on_second(self, now: int) -> None:
        if now % KEDA_POLLING_S == 0:
            self._activation(now)
        if now % HPA_SYNC_S == 0:
            self._hpa(now)

    def next_wakeup(self, now: int) -> int:
        """KEDA polls and the HPA syncs; nothing happens in between."""
        return min(next_multiple(now, KEDA_POLLING_S), next_multiple(now, HPA_SYNC_S))

    def _activation(self, now: int) -> None:
        """KEDA's own loop: 0 -> 1 when any lag shows, back to 0 after cooldownPeriod without it."""
        active = self.world.total_lag() > 0
        desired = self.world.ecs.desired
        if active:
            self.last_active = now
            if desired == 0:
                self.world.set_desired(max(self.min_replicas, 1))
        elif desired > 0 and self.min_replicas == 0 and now - self.last_active >= KEDA_COOLDOWN_S:
            self.world.set_desired(0)

    def _hpa(self, now: int) -> None:
        current = self.world.ecs.desired  # spec.replicas
        status = self.world.ecs.billed  # status.replicas: pods that exist, ready or not
        if current == 0 or status == 0:
            return  # the HPA is idle at zero; KEDA's activation loop owns 0 <-> 1
        usage = keda_metric(self.world.total_lag(), self.world.settings.partitions, self.threshold)
        raw = hpa_replicas(usage, self.threshold, status)
        if not self.recommendations:  # the HPA seeds its history with the count it found
            self.recommendations.append((now, current))
        self.recommendations = [r for r in self.recommendations if r[0] > now - HPA_DOWN_STABILIZATION_S]
        self.recommendations.append((now, raw))
        desired = min(stabilized(current, self.recommendations), scale_up_limit(current))
        desired = min(max(desired, self.min_replicas, 1), self.max_replicas)
        if desired != current:
            self.world.set_desired(desired)
