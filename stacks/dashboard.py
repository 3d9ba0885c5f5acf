"""One CloudWatch dashboard per deployment: consumers, brokers, decisions and the scaler itself."""

from __future__ import annotations

from typing import Final

from aws_cdk import Duration, aws_lambda
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct
from kafka_autoscaler.config import AutoscalerConfig, ConsumerBinding, ConsumerMode

from stacks import metrics, names

WIDTH: Final = 24  # the dashboard grid is 24 units wide
HALF: Final = WIDTH // 2
THIRD: Final = WIDTH // 3
HEIGHT: Final = 6
FIVE_MINUTES: Final = Duration.minutes(5)


def _graph(
    title: str,
    left: list[cloudwatch.IMetric],
    width: int,
    *,
    right: list[cloudwatch.IMetric] | None = None,
    line: cloudwatch.HorizontalAnnotation | None = None,
    stacked: bool = False,
) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(
        title=title,
        left=left,
        right=right or [],
        left_annotations=[line] if line else [],
        stacked=stacked,
        width=width,
        height=HEIGHT,
    )


def _consumer_row(binding: ConsumerBinding) -> list[cloudwatch.IWidget]:
    """Lag, time lag (against its target), desired and running tasks of one consumer group, from the scaler's EMF."""
    group = binding.group_id
    lag_line = None
    time_line = None
    if binding.mode is ConsumerMode.LAG_THRESHOLD:
        lag_line = cloudwatch.HorizontalAnnotation(value=binding.lag_threshold, label="lag_threshold (one task)")
    else:
        time_line = cloudwatch.HorizontalAnnotation(value=binding.target_time_lag_s, label="target_time_lag_s")
    desired = metrics.scaler_group_metric(names.METRIC_DESIRED_TASKS, group).with_(label="desired tasks")
    running = metrics.scaler_group_metric(names.METRIC_RUNNING_TASKS, group).with_(label="running tasks")
    return [
        _graph(
            f"{group}: lag (messages)",
            [metrics.scaler_group_metric(names.METRIC_TOTAL_LAG, group)],
            THIRD,
            line=lag_line,
        ),
        _graph(
            f"{group}: time lag (s)",
            [metrics.scaler_group_metric(names.METRIC_MAX_TIME_LAG, group)],
            THIRD,
            line=time_line,
        ),
        _graph(
            f"{group}: tasks ({binding.ecs.cluster}/{binding.ecs.service}, {binding.min_tasks}-{binding.max_tasks})",
            [desired, running],
            THIRD,
        ),
    ]


class Dashboard(Construct):
    """Consumers (lag, time lag, tasks per group), brokers (count, CPU, disk), decisions and scaler health."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AutoscalerConfig,
        dashboard_name: str,
        scaler: aws_lambda.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        cluster = config.cluster.name
        brokers = range(1, config.brokers.max_brokers + 1)
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=dashboard_name)
        self.dashboard.add_widgets(
            cloudwatch.TextWidget(
                markdown=f"# kafka-autoscaler: MSK cluster `{cluster}`\n"
                f"Tick every {config.schedule.rate_minutes} min; dry run: {config.dry_run}; paused: {config.paused}. "
                f"Consumer panels come from the scaler's own metrics (namespace `{names.METRICS_NAMESPACE}`).",
                width=WIDTH,
                height=2,
            )
        )
        for binding in config.consumers:
            self.dashboard.add_widgets(*_consumer_row(binding))
        self.dashboard.add_widgets(
            _graph("Brokers", [metrics.broker_count(cluster)], THIRD),
            _graph(
                "Broker CPU, user + system (%)",
                [metrics.broker_cpu(cluster, broker_id) for broker_id in brokers],
                THIRD,
                line=cloudwatch.HorizontalAnnotation(value=config.brokers.cpu_target_pct, label="cpu_target_pct"),
            ),
            _graph(
                "Data volume used (%)",
                [metrics.disk_used_all_brokers(cluster, FIVE_MINUTES)],
                THIRD,
                line=cloudwatch.HorizontalAnnotation(value=config.storage.alarm_used_pct, label="alarm_used_pct"),
            ),
        )
        self.dashboard.add_widgets(
            _graph("Decisions by action", [metrics.decisions_by_action(FIVE_MINUTES)], HALF, stacked=True),
            _graph(
                "Scaler: invocations and errors",
                [scaler.metric_invocations(period=FIVE_MINUTES), scaler.metric_errors(period=FIVE_MINUTES)],
                HALF,
                right=[scaler.metric_duration(period=FIVE_MINUTES, statistic="Maximum")],
            ),
        )
