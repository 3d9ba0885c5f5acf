"""AWS Application Auto Scaling target tracking of the ECS service on MSK's lag per task.

The tracked metric is metric math over one-minute CloudWatch datapoints:
SumOffsetLag (AWS/Kafka, per consumer group and topic) / RunningTaskCount (ECS),
with the target value set to the lag threshold per task.

Sources (Application Auto Scaling user guide, "How target tracking scaling works" and
TargetTrackingScalingPolicyConfiguration in the API reference):
- Application Auto Scaling creates two alarms: the high alarm goes off after 3
  datapoints above the target, the low alarm after 15 datapoints below 90 % of it.
- It scales out proportionally to the metric as fast as it can and scales in more
  gradually; missing datapoints put an alarm in INSUFFICIENT_DATA, which cannot scale.
  (MSK emits no consumer-lag metric while the group is rebalancing.)
- ScaleOutCooldown and ScaleInCooldown default to 300 s for ECS services. During a
  scale-out cooldown the capacity that scale-out added counts as part of the desired
  capacity for the next one; a scale-in cooldown blocks scale-ins but not scale-outs.
- While an alarm stays in ALARM the policy is invoked again at each evaluation.
"""

from __future__ import annotations

import math

from kafka_autoscaler.sim.cloudwatch import Datapoint, breaching
from kafka_autoscaler.sim.controller import Controller
from kafka_autoscaler.sim.model import World

EVALUATION_OFFSET_S = 30  # CloudWatch evaluates alarms once a minute
HIGH_DATAPOINTS = 3
LOW_DATAPOINTS = 15
LOW_FRACTION = 0.9
COOLDOWN_S = 300


def lag_per_task(lag: list[Datapoint], running: list[Datapoint]) -> list[Datapoint]:
    """Metric math SumOffsetLag / RunningTaskCount, minute by minute; missing where either is."""
    tasks = {p.minute_start: p.value for p in running}
    result: list[Datapoint] = []
    for point in lag:
        count = tasks.get(point.minute_start)
        value = None if point.value is None or not count else point.value / count
        result.append(Datapoint(point.minute_start, value, point.visible_at))
    return result


def proportional_capacity(capacity: int, metric: float, target: float) -> int:
    """The capacity that brings the metric back to the target if it scales inversely with capacity."""
    return math.ceil(capacity * metric / target)


class TargetTracking(Controller):
    def __init__(self, world: World) -> None:
        super().__init__(world)
        self.target = float(world.settings.threshold)
        self.last_out: int | None = None
        self.before_out = 0  # capacity before the scale-out that started the cooldown
        self.last_in: int | None = None

    def on_second(self, now: int) -> None:
        if now % 60 != EVALUATION_OFFSET_S:
            return
        lag = self.world.sum_offset_lag.visible(now, LOW_DATAPOINTS)
        running = self.world.running_tasks.visible(now, LOW_DATAPOINTS)
        metric = lag_per_task(lag, running)
        if not metric or metric[-1].value is None:
            return
        latest = metric[-1].value
        current = self.world.ecs.desired
        settings = self.world.settings
        if breaching(metric, HIGH_DATAPOINTS, above=self.target):
            in_cooldown = self.last_out is not None and now - self.last_out < COOLDOWN_S
            base = self.before_out if in_cooldown else current
            wanted = min(proportional_capacity(base, latest, self.target), settings.task_ceiling)
            if wanted > current:
                if not in_cooldown:
                    self.before_out = current
                self.last_out = now
                self.world.set_desired(wanted)
        elif breaching(metric, LOW_DATAPOINTS, below=self.target * LOW_FRACTION):
            if self.last_in is not None and now - self.last_in < COOLDOWN_S:
                return
            wanted = max(proportional_capacity(current, latest, self.target), settings.min_tasks, 1)
            if wanted < current:
                self.last_in = now
                self.world.set_desired(wanted)
