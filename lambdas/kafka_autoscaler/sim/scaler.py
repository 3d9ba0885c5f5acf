"""Our autoscaler under test: engine.tick() with simulated ports, run as the CDK app runs it.

EventBridge invokes the Lambda every minute; the lag alarm (stacks/alarms.py:
EstimatedMaxTimeLag above the target for 3 of 3 datapoints, missing data not breaching,
seen a minute or two late) invokes it at once when it goes into ALARM. CloudWatch
evaluates alarms once a minute, here half a minute after the schedule.
"""

from __future__ import annotations

from kafka_autoscaler.config import (
    AutoscalerConfig,
    BrokerPolicy,
    BrokerScaleIn,
    ClusterSettings,
    ConsumerBinding,
    ConsumerMode,
    EcsService,
    Forecast,
)
from kafka_autoscaler.engine import tick
from kafka_autoscaler.sim.adapters import simulated_ports
from kafka_autoscaler.sim.cloudwatch import AlarmState, TreatMissing, evaluate_alarm
from kafka_autoscaler.sim.controller import Controller, next_multiple
from kafka_autoscaler.sim.model import GROUP_ID, TOPIC, World
from kafka_autoscaler.sim.msk import CLUSTER_ARN

ALARM_EVALUATION_OFFSET_S = 30
LAG_ALARM_PERIODS = 3  # stacks/alarms.py LAG_EVALUATION_PERIODS


def scaler_config(world: World, mode: ConsumerMode) -> AutoscalerConfig:
    """The configuration a user would write for this topic: defaults but for what the run sets."""
    settings = world.settings
    binding = ConsumerBinding(
        group_id=GROUP_ID,
        topics=[TOPIC],
        ecs=EcsService(cluster="sim", service="consumer"),
        min_tasks=settings.min_tasks,
        max_tasks=settings.task_ceiling,
        mode=mode,
        target_time_lag_s=settings.target_time_lag_s,
        lag_threshold=settings.threshold,
        task_throughput_msgs_per_s=settings.task_capacity,
        forecast=Forecast(enabled=settings.forecast),
    )
    return AutoscalerConfig(
        cluster=ClusterSettings(arn=CLUSTER_ARN, bootstrap_servers="simulated:9092"),
        consumers=[binding],
        brokers=BrokerPolicy(
            forecast=Forecast(enabled=settings.forecast, max_lead_s=7200),
            scale_in=BrokerScaleIn(
                enabled=settings.broker_scale_in_window_s is not None,
                window_s=settings.broker_scale_in_window_s or BrokerScaleIn().window_s,
            ),
        ),
    )


class OurScaler(Controller):
    def __init__(self, world: World, mode: ConsumerMode) -> None:
        super().__init__(world)
        self.config = scaler_config(world, mode)
        self.ports = simulated_ports(world)
        self.target = world.settings.target_time_lag_s
        self.alarm_on = False
        self.ticks = 0  # how many times the Lambda ran

    def on_second(self, now: int) -> None:
        if now % self.world.settings.schedule_s == 0:
            self._tick(now)
        if now % 60 == ALARM_EVALUATION_OFFSET_S:
            points = self.world.max_time_lag.visible(now, LAG_ALARM_PERIODS + 2)
            state = evaluate_alarm(
                points,
                LAG_ALARM_PERIODS,
                LAG_ALARM_PERIODS,
                above=self.target,
                treat_missing=TreatMissing.NOT_BREACHING,
            )
            was_on = self.alarm_on
            self.alarm_on = state is AlarmState.ALARM
            if self.alarm_on and not was_on:
                self._tick(now)

    def next_wakeup(self, now: int) -> int:
        """The Lambda's schedule and the lag alarm's evaluation: on_second does nothing in between."""
        return min(
            next_multiple(now, self.world.settings.schedule_s), next_multiple(now, 60, ALARM_EVALUATION_OFFSET_S)
        )

    def _tick(self, now: int) -> None:
        tick(self.config, self.ports, float(now), "simulator")
        self.ticks += 1
