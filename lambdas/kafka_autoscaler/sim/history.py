"""A produce-rate trace from a cluster's own history: MSK's per-broker MessagesInPerSec (or
BytesInPerSec) in CloudWatch, summed over brokers, read with GetMetricData.

The CloudWatch client is passed in; nothing here builds one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_cloudwatch.type_defs import MetricDataQueryTypeDef, MetricOutputTypeDef, MetricTypeDef

NAMESPACE = "AWS/Kafka"
METRICS = ("MessagesInPerSec", "BytesInPerSec")
QUERIES_PER_CALL = 500  # GetMetricData's limit


class HistoryError(Exception):
    """The cluster's history could not be read or holds too little to replay."""


def broker_metrics(client: CloudWatchClient, cluster_name: str, metric: str, topic: str | None) -> list[MetricTypeDef]:
    """One metric per broker: dimensions Cluster Name and Broker ID (and Topic when one is asked for)."""
    wanted = {"Cluster Name", "Broker ID"} | ({"Topic"} if topic else set())
    found: dict[tuple[tuple[str, str], ...], MetricTypeDef] = {}  # by dimensions: a metric counts once
    paginator = client.get_paginator("list_metrics")
    for page in paginator.paginate(
        Namespace=NAMESPACE, MetricName=metric, Dimensions=[{"Name": "Cluster Name", "Value": cluster_name}]
    ):
        for candidate in page.get("Metrics", []):
            dims = {d["Name"]: d["Value"] for d in candidate.get("Dimensions", [])}
            if set(dims) == wanted and (topic is None or dims.get("Topic") == topic):
                found[tuple(sorted(dims.items()))] = _as_query_metric(candidate)
    return list(found.values())


def _as_query_metric(metric: MetricOutputTypeDef) -> MetricTypeDef:
    return {
        "Namespace": metric.get("Namespace", NAMESPACE),
        "MetricName": metric.get("MetricName", ""),
        "Dimensions": [{"Name": d["Name"], "Value": d["Value"]} for d in metric.get("Dimensions", [])],
    }


def _chunks(items: Sequence[MetricTypeDef], size: int) -> Iterator[Sequence[MetricTypeDef]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def read_rate_history(
    client: CloudWatchClient,
    cluster_name: str,
    start: datetime,
    end: datetime,
    metric: str = "MessagesInPerSec",
    period_s: int = 60,
    message_bytes: float = 1024.0,
    topic: str | None = None,
) -> list[tuple[float, float]]:
    """Rows of (seconds since the first datapoint, msgs/s over the cluster), oldest first."""
    if metric not in METRICS:
        raise HistoryError(f"metric must be one of {', '.join(METRICS)}, not '{metric}'")
    if end <= start:
        raise HistoryError(f"the end ({end.isoformat()}) must be after the start ({start.isoformat()})")
    metrics = broker_metrics(client, cluster_name, metric, topic)
    if not metrics:
        scope = f" for topic {topic}" if topic else ""
        raise HistoryError(
            f"CloudWatch has no {metric} per broker{scope} for cluster '{cluster_name}' in {NAMESPACE} "
            "(is the cluster name right, and the monitoring level high enough?)"
        )
    totals: dict[datetime, float] = defaultdict(float)
    for chunk in _chunks(metrics, QUERIES_PER_CALL):
        queries: list[MetricDataQueryTypeDef] = [
            {"Id": f"b{i}", "MetricStat": {"Metric": m, "Period": period_s, "Stat": "Average"}, "ReturnData": True}
            for i, m in enumerate(chunk)
        ]
        kwargs: dict[str, Any] = {"MetricDataQueries": queries, "StartTime": start, "EndTime": end}
        while True:
            response = client.get_metric_data(**kwargs)
            for result in response.get("MetricDataResults", []):
                for stamp, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=False):
                    totals[stamp] += value
            token = response.get("NextToken")
            if not token:
                break
            kwargs["NextToken"] = token
    if len(totals) < 2:
        raise HistoryError(
            f"only {len(totals)} datapoint(s) of {metric} between {start.isoformat()} and {end.isoformat()}"
        )
    stamps = sorted(totals)
    scale = 1.0 / message_bytes if metric == "BytesInPerSec" else 1.0
    first = stamps[0]
    return [((s - first).total_seconds(), totals[s] * scale) for s in stamps]
