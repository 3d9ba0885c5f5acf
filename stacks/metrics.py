"""The CloudWatch metrics the alarms and the dashboard share: MSK's and the scaler's own (EMF)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch

from stacks import names

ONE_MINUTE = Duration.minutes(1)
# CloudWatch allows at most 10 metrics in one alarm's math expression.
MAX_METRICS_PER_ALARM = 10


def _msk(metric_name: str, dimensions: dict[str, str], statistic: str, period: Duration) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=names.MSK_NAMESPACE,
        metric_name=metric_name,
        dimensions_map=dimensions,
        statistic=statistic,
        period=period,
    )


def broker_cpu(cluster_name: str, broker_id: int, period: Duration = ONE_MINUTE) -> cloudwatch.MathExpression:
    """CpuUser + CpuSystem of one broker: the CPU AWS sizes MSK brokers by (keep it under 60%)."""
    dimensions = {names.MSK_CLUSTER_DIMENSION: cluster_name, names.MSK_BROKER_DIMENSION: str(broker_id)}
    # Ids unique per broker: one graph shows every broker's expression.
    user, system = f"user{broker_id}", f"system{broker_id}"
    return cloudwatch.MathExpression(
        expression=f"{user} + {system}",
        using_metrics={
            user: _msk("CpuUser", dimensions, "Average", period),
            system: _msk("CpuSystem", dimensions, "Average", period),
        },
        label=f"broker {broker_id}",
        period=period,
    )


def per_broker(cluster_name: str, metric_name: str, function: str, period: Duration) -> cloudwatch.MathExpression:
    """A Metrics Insights query: `function(metric_name)` of each broker of the cluster, one series per
    "Broker ID", whichever brokers exist now."""
    schema = f'SCHEMA("{names.MSK_NAMESPACE}", "{names.MSK_BROKER_DIMENSION}", "{names.MSK_CLUSTER_DIMENSION}")'
    query = (
        f"SELECT {function}({metric_name}) FROM {schema} "
        f'WHERE "{names.MSK_CLUSTER_DIMENSION}" = \'{cluster_name}\' GROUP BY "{names.MSK_BROKER_DIMENSION}"'
    )
    return cloudwatch.MathExpression(expression=query, using_metrics={}, label=metric_name, period=period)


def _group_topic(cluster_name: str, group_id: str, topic: str) -> dict[str, str]:
    return {
        names.MSK_GROUP_DIMENSION: group_id,
        names.MSK_TOPIC_DIMENSION: topic,
        names.MSK_CLUSTER_DIMENSION: cluster_name,
    }


def _over_topics(
    metric_name: str, function: str, cluster_name: str, group_id: str, topics: list[str], label: str
) -> cloudwatch.MathExpression:
    """`function` (MAX or SUM) of one of MSK's per-topic consumer-lag metrics over the group's topics."""
    lags = {
        f"t{index}": _msk(metric_name, _group_topic(cluster_name, group_id, topic), "Maximum", ONE_MINUTE)
        for index, topic in enumerate(topics)
    }
    return cloudwatch.MathExpression(
        expression=f"{function}([{', '.join(lags)}])", using_metrics=lags, label=label, period=ONE_MINUTE
    )


def msk_max_time_lag(cluster_name: str, group_id: str, topics: list[str]) -> cloudwatch.MathExpression:
    """The group's worst EstimatedMaxTimeLag (seconds) over its topics, as MSK measures it."""
    return _over_topics("EstimatedMaxTimeLag", "MAX", cluster_name, group_id, topics, f"{group_id} time lag")


def msk_total_offset_lag(cluster_name: str, group_id: str, topics: list[str]) -> cloudwatch.MathExpression:
    """The group's total SumOffsetLag (messages) over its topics, as MSK measures it."""
    return _over_topics("SumOffsetLag", "SUM", cluster_name, group_id, topics, f"{group_id} offset lag")


def scaler_group_metric(metric_name: str, group_id: str, statistic: str = "Maximum") -> cloudwatch.Metric:
    """One of the scaler's EMF metrics for a consumer group (DesiredTasks, RunningTasks, TotalLag, ...)."""
    return cloudwatch.Metric(
        namespace=names.METRICS_NAMESPACE,
        metric_name=metric_name,
        dimensions_map={names.GROUP_DIMENSION: group_id},
        statistic=statistic,
        period=ONE_MINUTE,
        label=group_id,
    )


def _search(schema: str, filters: str, statistic: str, period: Duration, label: str) -> cloudwatch.MathExpression:
    return cloudwatch.MathExpression(
        expression=f"SEARCH('{{{schema}}} {filters}', '{statistic}', {int(period.to_seconds())})",
        using_metrics={},
        label=label,
        period=period,
    )


def decisions_by_action(period: Duration) -> cloudwatch.MathExpression:
    """The scaler's Decisions count, one line per Action (scale_out, hold, ...)."""
    schema = f"{names.METRICS_NAMESPACE},{names.ACTION_DIMENSION}"
    return _search(schema, f'MetricName="{names.METRIC_DECISIONS}"', "Sum", period, "")


def disk_used_all_brokers(cluster_name: str, period: Duration) -> cloudwatch.MathExpression:
    """KafkaDataLogsDiskUsed of every broker the cluster has, whatever its ID."""
    schema = f'{names.MSK_NAMESPACE},"{names.MSK_BROKER_DIMENSION}","{names.MSK_CLUSTER_DIMENSION}"'
    filters = f'MetricName="KafkaDataLogsDiskUsed" "{names.MSK_CLUSTER_DIMENSION}"="{cluster_name}"'
    return _search(schema, filters, "Maximum", period, "")


def broker_count(cluster_name: str) -> cloudwatch.MathExpression:
    """Brokers reporting CPU each minute (Metrics Insights COUNT: one datapoint per broker and minute)."""
    schema = f'SCHEMA("{names.MSK_NAMESPACE}", "{names.MSK_BROKER_DIMENSION}", "{names.MSK_CLUSTER_DIMENSION}")'
    query = f"SELECT COUNT(CpuUser) FROM {schema} WHERE \"{names.MSK_CLUSTER_DIMENSION}\" = '{cluster_name}'"
    return cloudwatch.MathExpression(expression=query, using_metrics={}, label="brokers", period=ONE_MINUTE)
