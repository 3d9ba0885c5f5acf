"""AWS Application Auto Scaling target tracking of the ECS service on MSK's lag per task.

The tracked metric is metric math over one-minute CloudWatch datapoints:
SumOffsetLag (AWS/Kafka, per consumer group and topic) / RunningTaskCount (ECS),
with the target value set to the lag threshold per task.

Sources:
- "How target tracking scaling for Application Auto Scaling works"
  (https://docs.aws.amazon.com/autoscaling/application/userguide/target-tracking-scaling-policy-overview.html)
  and "Target tracking scaling policies"
  (https://docs.aws.amazon.com/autoscaling/application/userguide/application-auto-scaling-target-tracking.html):
  - it creates two alarms: the high alarm goes off after 3 of 3 datapoints above the
    target, the low alarm after 15 of 15 below 90 % of it ("removing capacity only when
    utilization passes a threshold that is far enough below the target value (usually
    more than 10% lower)"); neither sets TreatMissingData, so CloudWatch's default
    `missing` applies (cloudwatch.evaluate_alarm follows its documented rules);
  - "scales out proportionally to the metric as fast as it can, but scales in more
    gradually": it rounds conservatively (up when adding, so that it never removes too
    much when removing), and scale-in needs the low alarm's 15 minutes and waits out the
    scale-in cooldown before each further step;
  - while an alarm is INSUFFICIENT_DATA it "cannot scale your scalable target until new
    data points are found" (MSK emits no consumer-lag metric while the group rebalances);
  - ScaleOutCooldown and ScaleInCooldown default to 300 s for ECS services. During a
    scale-out cooldown the capacity that scale-out added counts as part of the desired
    capacity for the next one, and only a larger scale-out goes ahead; a scale-in cooldown
    blocks scale-ins but not scale-outs, and a scale-out ends it.
- An alarm whose action is an Auto Scaling policy invokes it again for every period it
  stays in ALARM (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html).
"""

from __future__ import annotations

import math

from kafka_autoscaler.sim.cloudwatch import AlarmState, Datapoint, evaluate_alarm
from kafka_autoscaler.sim.controller import Controller, next_multiple
from kafka_autoscaler.sim.model import World

EVALUATION_OFFSET_S = 30  # CloudWatch evaluates alarms once a minute
HIGH_DATAPOINTS = 3
LOW_DATAPOINTS = 15
EXTRA_RANGE = 2  # the evaluation range reaches this many minutes before the evaluation periods
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
    """The capacity that brings the metric back to the target if it scales inversely with capacity.

    Rounded up both ways: adding, never too little; removing, never so much that the
    metric would go above the target.
    """
    return math.ceil(capacity * metric / target - 1e-9)


def latest_value(points: list[Datapoint]) -> float | None:
    """The newest datapoint present in the range."""
    return next((p.value for p in reversed(points) if p.value is not None), None)


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
        span = LOW_DATAPOINTS + EXTRA_RANGE
        metric = lag_per_task(self.world.sum_offset_lag.visible(now, span), self.world.running_tasks.visible(now, span))
        high = evaluate_alarm(
            metric[-(HIGH_DATAPOINTS + EXTRA_RANGE) :], HIGH_DATAPOINTS, HIGH_DATAPOINTS, above=self.target
        )
        if high is AlarmState.ALARM:
            self._scale_out(now, metric)
            return
        low = evaluate_alarm(metric, LOW_DATAPOINTS, LOW_DATAPOINTS, below=self.target * LOW_FRACTION)
        if low is AlarmState.ALARM:
            self._scale_in(now, metric)

    def next_wakeup(self, now: int) -> int:
        """The alarms are evaluated once a minute."""
        return next_multiple(now, 60, EVALUATION_OFFSET_S)

    def _scale_out(self, now: int, metric: list[Datapoint]) -> None:
        latest = latest_value(metric)
        if latest is None:
            return
        current = self.world.ecs.desired
        in_cooldown = self.last_out is not None and now - self.last_out < COOLDOWN_S
        base = self.before_out if in_cooldown else current
        wanted = min(proportional_capacity(base, latest, self.target), self.world.settings.task_ceiling)
        if wanted > current:
            if not in_cooldown:
                self.before_out = current
            self.last_out = now
            self.last_in = None  # a scale-out ends the scale-in cooldown
            self.world.set_desired(wanted)

    def _scale_in(self, now: int, metric: list[Datapoint]) -> None:
        latest = latest_value(metric)
        if latest is None or (self.last_in is not None and now - self.last_in < COOLDOWN_S):
            return
        current = self.world.ecs.desired
        wanted = max(proportional_capacity(current, latest, self.target), self.world.settings.min_tasks, 1)
        if wanted < current:
            self.last_in = now
            self.world.set_desired(wanted)
