"""Alarms that start the scaler at once (broker CPU, disk use, consumer lag), alarms on the
autoscaler's own health (scaler errors, rebalance step errors, failed rebalances), all telling the topic.

Every alarm is named `<stack name>/<kind>/...` and notifies the SNS topic (whose policy lets exactly
these alarm ARNs publish). One EventBridge rule matches the ALARM state changes of the scaling alarms
(by their name prefixes) and starts the scaler: a single Lambda permission for any number of alarms,
where an alarm action per alarm would grow the function's resource policy towards its 20 KB limit.
An alarm fires once per state change; the schedule is what re-checks.

The broker alarms follow the cluster: one CloudWatch Metrics Insights query alarm per kind, grouped by
"Broker ID", so a broker that joins (whatever its ID, also after a removal and re-add) is watched as
soon as it reports, and each broker is a contributor of its own
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/multi-time-series-alarm.html). Such an
alarm evaluates at most the latest 3 hours of data and at most 500 time series; an account holds 200
of them per Region (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-limits.html).
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
INSIGHTS_RANGE_S: Final = 3 * 3600  # Metrics Insights alarms evaluate the latest 3 hours only
SCALING_KINDS: Final = ("cpu", "disk", "lag")
HEALTH: Final = "health"
REBALANCE_ERRORS_PERIOD: Final = Duration.minutes(15)
REBALANCE_ERRORS_THRESHOLD: Final = 3  # step errors in 15 minutes: retries are not riding it out
DISK_PERIOD: Final = Duration.minutes(5)
LAG_EVALUATION_PERIODS: Final = 3


def alarm_name(prefix: str, *parts: str) -> str:
    """`prefix` + parts joined by '/', shortened with a hash suffix past CloudWatch's 255 characters."""
    name = prefix + "/".join(parts)
    if len(name) <= MAX_ALARM_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: MAX_ALARM_NAME - 9]}~{digest}"


def evaluation_for(window_s: int, range_s: int = ONE_DAY_S) -> tuple[Duration, int]:
    """A period and a count of periods covering `window_s`, within an evaluation range (CloudWatch's one
    day; 3 hours for a Metrics Insights alarm).

    >>> [(p.to_seconds(), n) for p, n in [evaluation_for(900), evaluation_for(7200)]]
    [(60.0, 15), (300.0, 24)]
    """
    period_s = 60 if window_s <= 3600 else 300 if window_s <= 6 * 3600 else 3600
    periods = max(1, min(math.ceil(window_s / period_s), range_s // period_s))
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
        rebalancer: aws_lambda.IFunction,
        state_machine_arn: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self._prefix = name_prefix
        self._notify = actions.SnsAction(topic)
        self.alarms: list[cloudwatch.Alarm] = []
        if config.brokers.enabled:
            self._broker_cpu()
        if config.storage.mode is StorageMode.SCALER:
            self._broker_disk()
        for binding in config.consumers:
            self._lag(binding)
        self.trigger = events.Rule(
            self,
            "StartScaler",
            description="Starts the kafka-autoscaler scaler when one of its alarms goes to ALARM",
            event_pattern=events.EventPattern(
                source=["aws.cloudwatch"],
                detail_type=["CloudWatch Alarm State Change"],
                detail={
                    "alarmName": [{"prefix": f"{name_prefix}{kind}/"} for kind in SCALING_KINDS],
                    "state": {"value": ["ALARM"]},
                },
            ),
            targets=[targets.LambdaFunction(scaler, retry_attempts=0)],
        )
        self.scaler_errors = self._scaler_health(scaler)
        self.rebalancer_errors = self._rebalancer_health(rebalancer)
        self.rebalance_failed = self._rebalance_failed(state_machine_arn)

    def _add(
        self,
        construct_id: str,
        name: str,
        description: str,
        metric: cloudwatch.IMetric,
        threshold: float,
        periods: int,
        comparison: cloudwatch.ComparisonOperator = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    ) -> None:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            alarm_name=name,
            alarm_description=f"{description} Starts the kafka-autoscaler scaler.",
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            # A broker that does not exist (yet) or a group not consuming has no data: not a breach.
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(self._notify)
        self.alarms.append(alarm)

    def _broker_cpu(self) -> None:
        """Any broker busier than the target: CpuIdle below 100 - target (one Metrics Insights query
        cannot add CpuUser and CpuSystem). Idle also excludes I/O wait, so this fires a little early,
        never late; the scaler then decides on user + system CPU itself."""
        brokers = self._config.brokers
        period, periods = evaluation_for(brokers.cpu_window_s, INSIGHTS_RANGE_S)
        self._add(
            "BrokerCpu",
            alarm_name(self._prefix, "cpu", "brokers"),
            f"A broker of {self._config.cluster.name}: CPU busy above {brokers.cpu_target_pct:g}% "
            f"(idle below {100 - brokers.cpu_target_pct:g}%) for {brokers.cpu_window_s} s.",
            metrics.per_broker(self._config.cluster.name, "CpuIdle", "AVG", period),
            100 - brokers.cpu_target_pct,
            periods,
            cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        )

    def _broker_disk(self) -> None:
        storage = self._config.storage
        self._add(
            "BrokerDisk",
            alarm_name(self._prefix, "disk", "brokers"),
            f"A broker of {self._config.cluster.name}: data volume more than {storage.alarm_used_pct:g}% full.",
            metrics.per_broker(self._config.cluster.name, "KafkaDataLogsDiskUsed", "MAX", DISK_PERIOD),
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

    def _health(
        self, construct_id: str, name: str, description: str, metric: cloudwatch.IMetric, threshold: float, periods: int
    ) -> cloudwatch.Alarm:
        """An alarm on the autoscaler itself: it tells the topic only (its name is outside the rule's prefixes)."""
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            alarm_name=alarm_name(self._prefix, HEALTH, name),
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(self._notify)
        self.alarms.append(alarm)
        return alarm

    def _scaler_health(self, scaler: aws_lambda.IFunction) -> cloudwatch.Alarm:
        """The scaler failing three ticks in a row: nobody is scaling."""
        rate = Duration.minutes(self._config.schedule.rate_minutes)
        return self._health(
            "ScalerErrors",
            "scaler-errors",
            "The kafka-autoscaler scaler failed on three ticks in a row: nothing is being scaled.",
            scaler.metric_errors(period=rate, statistic="Sum"),
            1,
            3,
        )

    def _rebalancer_health(self, rebalancer: aws_lambda.IFunction) -> cloudwatch.Alarm:
        """Rebalance steps failing again and again: the state machine retries, but something is wrong."""
        return self._health(
            "RebalancerErrors",
            "rebalancer-errors",
            f"kafka-autoscaler rebalance steps failed {REBALANCE_ERRORS_THRESHOLD} times or more in 15 minutes "
            "(each is retried; see the rebalancer's log).",
            rebalancer.metric_errors(period=REBALANCE_ERRORS_PERIOD, statistic="Sum"),
            REBALANCE_ERRORS_THRESHOLD,
            1,
        )

    def _rebalance_failed(self, state_machine_arn: str) -> cloudwatch.Alarm:
        """A rebalance execution failed (its retries spent), timed out or was aborted."""
        period = Duration.minutes(5)
        ended = {
            kind.lower(): cloudwatch.Metric(
                namespace="AWS/States",
                metric_name=f"Executions{kind}",
                dimensions_map={"StateMachineArn": state_machine_arn},
                statistic="Sum",
                period=period,
            )
            for kind in ("Failed", "TimedOut", "Aborted")
        }
        return self._health(
            "RebalanceFailed",
            "rebalance-failed",
            "A kafka-autoscaler rebalance failed, timed out or was aborted: partitions may be left unbalanced and "
            "a replication throttle set. The execution's history names the step and the error; the scaler asks "
            "again when brokers stay unbalanced.",
            cloudwatch.MathExpression(
                expression="failed + timedout + aborted", using_metrics=dict(ended), label="ended badly", period=period
            ),
            1,
            1,
        )
