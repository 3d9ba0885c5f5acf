"""Alarms that start the scaler at once (broker CPU, disk use, consumer lag) and tell the topic.

Every alarm notifies the SNS topic. One EventBridge rule matches the ALARM state changes of exactly
these alarms (by their name prefix) and starts the scaler: a single Lambda permission for any number
of alarms, where an alarm action per alarm would grow the function's resource policy towards its
20 KB limit. An alarm fires once per state change; the schedule is what re-checks.
"""

from __future__ import annotations

import hashlib
import math
from typing import Final

from aws_cdk import Duration, aws_lambda
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sns as sns
from constructs import Construct
from kafka_autoscaler.config import AutoscalerConfig, ConsumerBinding, ConsumerMode, StorageMode

from stacks import metrics, names

MAX_ALARM_NAME: Final = 255
ONE_DAY_S: Final = 86400
DISK_PERIOD: Final = Duration.minutes(5)
LAG_EVALUATION_PERIODS: Final = 3


def alarm_name(prefix: str, *parts: str) -> str:
    """`prefix` + parts joined by '/', shortened with a hash suffix past CloudWatch's 255 characters."""
    name = prefix + "/".join(parts)
    if len(name) <= MAX_ALARM_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: MAX_ALARM_NAME - 9]}~{digest}"


def evaluation_for(window_s: int) -> tuple[Duration, int]:
    """A period and a count of periods covering `window_s`, within CloudWatch's one-day evaluation range.

    >>> [(p.to_seconds(), n) for p, n in [evaluation_for(900), evaluation_for(7200)]]
    [(60.0, 15), (300.0, 24)]
    """
    period_s = 60 if window_s <= 3600 else 300 if window_s <= 6 * 3600 else 3600
    periods = max(1, min(math.ceil(window_s / period_s), ONE_DAY_S // period_s))
    return Duration.seconds(period_s), periods


def _lag_metric(config: AutoscalerConfig, binding: ConsumerBinding) -> tuple[cloudwatch.IMetric, float, str]:
    """The metric, threshold and unit sentence of one binding's lag alarm."""
    cluster = config.cluster.name
    # MSK publishes lag per group and topic; a math alarm takes at most 10 metrics. Without topics,
    # or with more, the scaler's own EMF metric (same dimension set the scaler emits) stands in.
    per_topic = 0 < len(binding.topics) <= metrics.MAX_METRICS_PER_ALARM
    if binding.mode is ConsumerMode.TIME_LAG:
        metric: cloudwatch.IMetric = (
            metrics.msk_max_time_lag(cluster, binding.group_id, binding.topics)
            if per_topic
            else metrics.scaler_group_metric(names.METRIC_MAX_TIME_LAG, binding.group_id)
        )
        return metric, binding.target_time_lag_s, f"time lag above its target of {binding.target_time_lag_s:g} s"
    threshold = binding.lag_threshold * max(binding.min_tasks, 1)
    metric = (
        metrics.msk_total_offset_lag(cluster, binding.group_id, binding.topics)
        if per_topic
        else metrics.scaler_group_metric(names.METRIC_TOTAL_LAG, binding.group_id)
    )
    return metric, threshold, f"lag above {threshold} messages (lag_threshold x minimum tasks)"


class Alarms(Construct):
    """The alarms for the policies that are on, wired to the topic and, through one rule, to the scaler."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AutoscalerConfig,
        name_prefix: str,
        topic: sns.ITopic,
        scaler: aws_lambda.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self._prefix = name_prefix
        self._notify = actions.SnsAction(topic)
        self.alarms: list[cloudwatch.Alarm] = []
        if config.brokers.enabled:
            for broker_id in range(1, config.brokers.max_brokers + 1):
                self._broker_cpu(broker_id)
        if config.storage.mode is StorageMode.SCALER:
            for broker_id in range(1, config.brokers.max_brokers + 1):
                self._broker_disk(broker_id)
        for binding in config.consumers:
            self._lag(binding)
        self.trigger = events.Rule(
            self,
            "StartScaler",
            description="Starts the kafka-autoscaler scaler when one of its alarms goes to ALARM",
            event_pattern=events.EventPattern(
                source=["aws.cloudwatch"],
                detail_type=["CloudWatch Alarm State Change"],
                detail={"alarmName": [{"prefix": name_prefix}], "state": {"value": ["ALARM"]}},
            ),
            targets=[targets.LambdaFunction(scaler, retry_attempts=0)],
        )
        self.scaler_errors = self._scaler_health(scaler)

    def _add(
        self, construct_id: str, name: str, description: str, metric: cloudwatch.IMetric, threshold: float, periods: int
    ) -> None:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            alarm_name=name,
            alarm_description=f"{description} Starts the kafka-autoscaler scaler.",
            metric=metric,
            threshold=threshold,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            # A broker that does not exist (yet) or a group not consuming has no data: not a breach.
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(self._notify)
        self.alarms.append(alarm)

    def _broker_cpu(self, broker_id: int) -> None:
        brokers = self._config.brokers
        period, periods = evaluation_for(brokers.cpu_window_s)
        self._add(
            f"Cpu{broker_id}",
            alarm_name(self._prefix, "cpu", f"broker-{broker_id}"),
            f"Broker {broker_id} of {self._config.cluster.name}: CPU (user + system) above "
            f"{brokers.cpu_target_pct:g}% for {brokers.cpu_window_s} s.",
            metrics.broker_cpu(self._config.cluster.name, broker_id, period),
            brokers.cpu_target_pct,
            periods,
        )

    def _broker_disk(self, broker_id: int) -> None:
        storage = self._config.storage
        self._add(
            f"Disk{broker_id}",
            alarm_name(self._prefix, "disk", f"broker-{broker_id}"),
            f"Broker {broker_id} of {self._config.cluster.name}: data volume more than "
            f"{storage.alarm_used_pct:g}% full.",
            metrics.broker_disk_used(self._config.cluster.name, broker_id, DISK_PERIOD),
            storage.alarm_used_pct,
            1,
        )

    def _lag(self, binding: ConsumerBinding) -> None:
        metric, threshold, sentence = _lag_metric(self._config, binding)
        self._add(
            "Lag-" + binding.group_id.replace("/", "_"),
            alarm_name(self._prefix, "lag", binding.group_id),
            f"Consumer group {binding.group_id}: {sentence} for {LAG_EVALUATION_PERIODS} minutes.",
            metric,
            threshold,
            LAG_EVALUATION_PERIODS,
        )

    def _scaler_health(self, scaler: aws_lambda.IFunction) -> cloudwatch.Alarm:
        """The scaler failing three ticks in a row: nobody is scaling. Tells the topic only."""
        rate = Duration.minutes(self._config.schedule.rate_minutes)
        alarm = cloudwatch.Alarm(
            self,
            "ScalerErrors",
            alarm_name=self._prefix.rstrip("/") + "-scaler-errors",
            alarm_description="The kafka-autoscaler scaler failed on three ticks in a row: nothing is being scaled.",
            metric=scaler.metric_errors(period=rate, statistic="Sum"),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=3,
            datapoints_to_alarm=3,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(self._notify)
        return alarm
