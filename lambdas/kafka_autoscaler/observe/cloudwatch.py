"""Per-broker MSK metrics from CloudWatch, read in one batched GetMetricData call per tick.

Reads CpuUser, CpuSystem, KafkaDataLogsDiskUsed, BytesInPerSec, BytesOutPerSec and
PartitionCount from namespace AWS/Kafka with dimensions "Cluster Name" and "Broker ID"
(all DEFAULT-level MSK metrics). IAM: cloudwatch:GetMetricData.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from kafka_autoscaler.model import BrokerLoad, ClusterState, Sample
from kafka_autoscaler.observe.msk import aws_error_text
from kafka_autoscaler.ports import ObserveError

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch.client import CloudWatchClient
    from mypy_boto3_cloudwatch.type_defs import MetricDataQueryTypeDef

logger = logging.getLogger(__name__)

NAMESPACE = "AWS/Kafka"
PERIOD_S = 60  # MSK publishes once a minute
MAX_QUERIES_PER_CALL = 500  # GetMetricData's limit on MetricDataQueries

# Query id prefix -> MSK metric name. Ids must match ^[a-z][a-zA-Z0-9_]*$.
CPU_USER = "cpu_user"
CPU_SYSTEM = "cpu_system"
DISK_USED = "disk_used"
BYTES_IN = "bytes_in"
BYTES_OUT = "bytes_out"
PARTITIONS = "partitions"
BROKER_METRICS: dict[str, str] = {
    CPU_USER: "CpuUser",
    CPU_SYSTEM: "CpuSystem",
    DISK_USED: "KafkaDataLogsDiskUsed",
    BYTES_IN: "BytesInPerSec",
    BYTES_OUT: "BytesOutPerSec",
    PARTITIONS: "PartitionCount",
}


def metric_query(query_id: str, metric_name: str, dimensions: dict[str, str], stat: str) -> MetricDataQueryTypeDef:
    """One MetricStat query on AWS/Kafka at the one-minute period."""
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {
                "Namespace": NAMESPACE,
                "MetricName": metric_name,
                "Dimensions": [{"Name": name, "Value": value} for name, value in dimensions.items()],
            },
            "Period": PERIOD_S,
            "Stat": stat,
        },
        "ReturnData": True,
    }


def window_start(now: float, lookback_s: float) -> float:
    """Start of the read, on a period boundary as CloudWatch aligns its buckets."""
    return math.floor((now - lookback_s) / PERIOD_S) * PERIOD_S


def fetch_series(
    client: CloudWatchClient, queries: Sequence[MetricDataQueryTypeDef], start: float, end: float
) -> dict[str, tuple[Sample, ...]]:
    """Every query's datapoints, oldest first, by query id; a query without data maps to ().

    One GetMetricData call per 500 queries, plus one per NextToken page.
    """
    found: dict[str, dict[float, float]] = {query["Id"]: {} for query in queries}
    paginator = client.get_paginator("get_metric_data")
    try:
        for first in range(0, len(queries), MAX_QUERIES_PER_CALL):
            pages = paginator.paginate(
                MetricDataQueries=list(queries[first : first + MAX_QUERIES_PER_CALL]),
                StartTime=datetime.fromtimestamp(start, tz=UTC),
                EndTime=datetime.fromtimestamp(end, tz=UTC),
                ScanBy="TimestampAscending",
            )
            for page in pages:
                for result in page.get("MetricDataResults", []):
                    status = result.get("StatusCode", "Complete")
                    if status not in {"Complete", "PartialData"}:
                        logger.warning("CloudWatch query %s returned %s", result.get("Id"), status)
                    points = found.setdefault(result.get("Id", ""), {})
                    for stamp, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=False):
                        points[stamp.timestamp()] = value
    except (BotoCoreError, ClientError) as error:
        raise ObserveError(f"CloudWatch GetMetricData failed: {aws_error_text(error)}") from error
    return {query_id: tuple(Sample(t, v) for t, v in sorted(points.items())) for query_id, points in found.items()}


def summed_by_time(first: Sequence[Sample], second: Sequence[Sample]) -> tuple[Sample, ...]:
    """first + second at each timestamp both have; a timestamp only one has is missing data."""
    other = {sample.t: sample.value for sample in second}
    return tuple(Sample(s.t, s.value + other[s.t]) for s in first if s.t in other)


class CloudWatchBrokerMetrics:
    """BrokerMetricsSource for one MSK cluster, from its DEFAULT-level CloudWatch metrics."""

    def __init__(self, cloudwatch_client: CloudWatchClient, cluster_name: str) -> None:
        self._client = cloudwatch_client
        self._cluster_name = cluster_name

    def read(self, cluster: ClusterState, now: float, lookback_s: float) -> tuple[BrokerLoad, ...]:
        """Metrics for each broker the cluster lists, keeping its rack; no datapoints give empty series."""
        if not cluster.brokers:
            raise ObserveError(f"no broker ids are known for {cluster.arn}; broker metrics cannot be queried")
        queries = [
            metric_query(
                f"{prefix}_{broker.broker_id}",
                metric_name,
                {"Cluster Name": self._cluster_name, "Broker ID": str(broker.broker_id)},
                "Average",
            )
            for broker in cluster.brokers
            for prefix, metric_name in BROKER_METRICS.items()
        ]
        series = fetch_series(self._client, queries, window_start(now, lookback_s), now)
        return tuple(self._load(broker, series) for broker in cluster.brokers)

    @staticmethod
    def _load(broker: BrokerLoad, series: dict[str, tuple[Sample, ...]]) -> BrokerLoad:
        def of(prefix: str) -> tuple[Sample, ...]:
            return series.get(f"{prefix}_{broker.broker_id}", ())

        partitions = of(PARTITIONS)
        return BrokerLoad(
            broker_id=broker.broker_id,
            rack=broker.rack,
            cpu_pct=summed_by_time(of(CPU_USER), of(CPU_SYSTEM)),
            bytes_in_per_s=of(BYTES_IN),
            bytes_out_per_s=of(BYTES_OUT),
            partition_count=round(partitions[-1].value) if partitions else None,
            disk_used_pct=of(DISK_USED),
        )
