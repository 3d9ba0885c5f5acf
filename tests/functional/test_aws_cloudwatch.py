"""CloudWatch adapters (broker metrics, consumer-lag metrics, the lag fallback) against moto.

Metric data is put into moto's CloudWatch the way MSK publishes it and read back. Stubber
is used once, for GetMetricData's NextToken paging, which moto does not do.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from builders import CLUSTER_ARN, binding
from kafka_autoscaler.config import ConsumerBinding
from kafka_autoscaler.model import BrokerLoad, ClusterState, GroupLag, OffsetSample, Sample, ScalerState
from kafka_autoscaler.observe.cloudwatch import CloudWatchBrokerMetrics, fetch_series, metric_query
from kafka_autoscaler.observe.lag_metrics import FallbackLagSource, MskLagMetrics
from kafka_autoscaler.ports import LagObservation, ObserveError
from moto import mock_aws

CLUSTER = "orders"
NOW = 1_764_000_000.0 + 30  # half a minute past a minute boundary
MINUTES = 10
FIRST = NOW - 30 - 60 * MINUTES  # the oldest datapoint, on a minute boundary
SUBNETS = ("subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002", "subnet-0a1b2c3d4e5f60003")


def stamp(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=UTC)


@pytest.fixture
def cloudwatch() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("cloudwatch", region_name="eu-west-1")


def count_get_metric_data(client: Any) -> list[str]:
    """A list that grows by one per GetMetricData request the client sends."""
    calls: list[str] = []
    client.meta.events.register("before-call.cloudwatch.GetMetricData", lambda **_: calls.append("call"))
    return calls


def put(client: Any, name: str, dimensions: dict[str, str], points: Sequence[tuple[float, float]]) -> None:
    client.put_metric_data(
        Namespace="AWS/Kafka",
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                "Timestamp": stamp(t),
                "Value": value,
            }
            for t, value in points
        ],
    )


def minutes(values: Sequence[float], first: float = FIRST) -> list[tuple[float, float]]:
    return [(first + 60 * m, v) for m, v in enumerate(values)]


# ------------------------------------------------------------------ broker metrics
def cluster_with(broker_ids: Sequence[int]) -> ClusterState:
    brokers = tuple(BrokerLoad(b, rack=SUBNETS[(b - 1) % 3]) for b in broker_ids)
    return ClusterState(CLUSTER_ARN, "ACTIVE", "V1", len(broker_ids), 3, "kafka.m5.large", 1000, brokers=brokers)


def user_cpu(broker: int) -> list[float]:
    return [10.0 * broker + m for m in range(MINUTES)]


def system_cpu(broker: int) -> list[float]:
    return [2.0 * broker + 0.5 * m for m in range(MINUTES)]


def disk(broker: int) -> list[float]:
    return [40.0 + broker + 0.1 * m for m in range(MINUTES)]


def put_broker(client: Any, broker: int, cluster: str = CLUSTER, skip_system_minute: int | None = None) -> None:
    dims = {"Cluster Name": cluster, "Broker ID": str(broker)}
    system = [(t, v) for m, (t, v) in enumerate(minutes(system_cpu(broker))) if m != skip_system_minute]
    put(client, "CpuUser", dims, minutes(user_cpu(broker)))
    put(client, "CpuSystem", dims, system)
    put(client, "KafkaDataLogsDiskUsed", dims, minutes(disk(broker)))
    put(client, "BytesInPerSec", dims, minutes([1000.0 * broker] * MINUTES))
    put(client, "BytesOutPerSec", dims, minutes([2000.0 * broker] * MINUTES))
    put(client, "PartitionCount", dims, minutes([100.0 + broker] * (MINUTES - 1) + [110.0 + broker]))


def test_broker_metrics_for_three_brokers_in_one_call(cloudwatch: Any) -> None:
    for broker in (1, 2, 3):
        put_broker(cloudwatch, broker, skip_system_minute=4 if broker == 2 else None)
    put_broker(cloudwatch, 1, cluster="another-cluster")  # same broker id, other cluster: must not mix in
    calls = count_get_metric_data(cloudwatch)

    loads = CloudWatchBrokerMetrics(cloudwatch, CLUSTER).read(cluster_with([1, 2, 3]), NOW, lookback_s=900)

    assert len(calls) == 1
    assert [(b.broker_id, b.rack) for b in loads] == [(1, SUBNETS[0]), (2, SUBNETS[1]), (3, SUBNETS[2])]
    for load in loads:
        b = load.broker_id
        expected_cpu = [
            Sample(FIRST + 60 * m, user_cpu(b)[m] + system_cpu(b)[m]) for m in range(MINUTES) if (b, m) != (2, 4)
        ]
        assert list(load.cpu_pct) == expected_cpu  # user + system per timestamp, oldest first
        assert list(load.disk_used_pct) == [Sample(t, v) for t, v in minutes(disk(b))]
        assert [s.value for s in load.bytes_in_per_s] == [1000.0 * b] * MINUTES
        assert [s.value for s in load.bytes_out_per_s] == [2000.0 * b] * MINUTES
        assert load.partition_count == 110 + b  # the newest datapoint


def test_broker_without_datapoints_gets_empty_series(cloudwatch: Any) -> None:
    for broker in (1, 2, 3):
        put_broker(cloudwatch, broker)

    loads = CloudWatchBrokerMetrics(cloudwatch, CLUSTER).read(cluster_with([1, 2, 3, 4]), NOW, lookback_s=900)

    silent = loads[3]
    assert (silent.broker_id, silent.rack) == (4, SUBNETS[0])
    assert (silent.cpu_pct, silent.disk_used_pct, silent.bytes_in_per_s, silent.bytes_out_per_s) == ((), (), (), ())
    assert silent.partition_count is None  # missing, not zero
    assert all(load.cpu_pct for load in loads[:3])


def test_lookback_bounds_the_series(cloudwatch: Any) -> None:
    put_broker(cloudwatch, 1)

    (load,) = CloudWatchBrokerMetrics(cloudwatch, CLUSTER).read(cluster_with([1]), NOW, lookback_s=150)

    # NOW - 150 s is 2.5 minutes back; the window starts on the minute at or before it
    assert [s.t for s in load.disk_used_pct] == [FIRST + 60 * m for m in (8, 9)]


def test_cluster_without_broker_ids_is_an_observe_error(cloudwatch: Any) -> None:
    with pytest.raises(ObserveError, match="no broker ids"):
        CloudWatchBrokerMetrics(cloudwatch, CLUSTER).read(cluster_with([]), NOW, lookback_s=900)


def test_next_token_pages_are_merged() -> None:
    client = boto3.client(
        "cloudwatch", region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    query = metric_query("disk_used_1", "KafkaDataLogsDiskUsed", {"Cluster Name": CLUSTER, "Broker ID": "1"}, "Average")
    request = {
        "MetricDataQueries": [query],
        "StartTime": stamp(FIRST),
        "EndTime": stamp(NOW),
        "ScanBy": "TimestampAscending",
    }
    with Stubber(client) as stub:
        stub.add_response(
            "get_metric_data",
            {
                "MetricDataResults": [
                    {"Id": "disk_used_1", "Timestamps": [stamp(FIRST)], "Values": [41.0], "StatusCode": "PartialData"}
                ],
                "NextToken": "page-2",
            },
            request,
        )
        stub.add_response(
            "get_metric_data",
            {
                "MetricDataResults": [
                    {"Id": "disk_used_1", "Timestamps": [stamp(FIRST + 60)], "Values": [42.0], "StatusCode": "Complete"}
                ]
            },
            {**request, "NextToken": "page-2"},
        )

        series = fetch_series(client, [query], FIRST, NOW)

        stub.assert_no_pending_responses()
    assert series == {"disk_used_1": (Sample(FIRST, 41.0), Sample(FIRST + 60, 42.0))}


# ------------------------------------------------------------------ consumer-lag metrics
def put_lag(
    client: Any, group: str, topic: str, lags: Sequence[float], time_lags: Sequence[float], first: float
) -> None:
    dims = {"Cluster Name": CLUSTER, "Consumer Group": group, "Topic": topic}
    put(client, "SumOffsetLag", dims, minutes(lags, first))
    put(client, "EstimatedMaxTimeLag", dims, minutes(time_lags, first))


RECENT = NOW - 30 - 180  # three datapoints ending on the last full minute
STALE = NOW - 30 - 1200  # three datapoints ending 18 minutes ago: the group went quiet


def test_lag_from_fresh_metrics_sums_topics(cloudwatch: Any) -> None:
    put_lag(cloudwatch, "orders-processor", "orders", [500, 800, 1200], [20, 30, 45], RECENT)
    put_lag(cloudwatch, "orders-processor", "payments", [10, 10, 300], [5, 5, 90], RECENT)
    for topic, largest in (("orders", [100, 400, 700]), ("payments", [5, 5, 250])):
        dims = {"Cluster Name": CLUSTER, "Consumer Group": "orders-processor", "Topic": topic}
        put(cloudwatch, "MaxOffsetLag", dims, minutes(largest, RECENT))
    calls = count_get_metric_data(cloudwatch)
    source = MskLagMetrics(cloudwatch, CLUSTER)

    observed = source.read([binding(topics=["orders", "payments"])], ScalerState(), NOW)

    assert len(calls) == 1
    assert observed.problems == ()
    assert observed.groups["orders-processor"] == GroupLag(
        group_id="orders-processor",
        source="cloudwatch",
        total_lag=1500,  # newest SumOffsetLag of each topic: 1200 + 300
        max_time_lag_s=90.0,
        produce_rate=None,
        consume_rate=None,
        partition_count=0,
        partitions=(),
        max_offset_lag=700,  # newest MaxOffsetLag, the larger of the two topics'
    )


@pytest.mark.parametrize(
    ("payments_first", "why"),
    [
        (STALE, "one topic's metrics vanished (rebalance): the total would be understated"),
        (None, "one topic never published: the total would be understated"),
    ],
    ids=["vanished", "never-published"],
)
def test_group_with_vanished_lag_metric_is_missing_not_zero(
    cloudwatch: Any, payments_first: float | None, why: str
) -> None:
    put_lag(cloudwatch, "orders-processor", "orders", [500, 800, 1200], [20, 30, 45], RECENT)
    if payments_first is not None:
        put_lag(cloudwatch, "orders-processor", "payments", [10, 10, 300], [5, 5, 90], payments_first)

    observed = MskLagMetrics(cloudwatch, CLUSTER).read([binding(topics=["orders", "payments"])], ScalerState(), NOW)

    assert "orders-processor" not in observed.groups, why
    assert len(observed.problems) == 1
    assert "payments" in observed.problems[0] and "rebalances" in observed.problems[0]


def test_topics_are_discovered_when_the_binding_lists_none(cloudwatch: Any) -> None:
    put_lag(cloudwatch, "orders-processor", "orders", [100, 200, 300], [1, 2, 3], RECENT)
    put_lag(cloudwatch, "orders-processor", "refunds", [0, 0, 7], [0, 0, 4], RECENT)
    put_lag(cloudwatch, "audit", "orders", [9, 9, 9000], [1, 1, 900], RECENT)  # another group: not counted
    billing = binding(group_id="billing", topics=[], ecs={"cluster": "orders", "service": "billing"})

    observed = MskLagMetrics(cloudwatch, CLUSTER).read([binding(topics=[]), billing], ScalerState(), NOW)

    assert observed.groups["orders-processor"].total_lag == 307
    assert observed.groups["orders-processor"].max_time_lag_s == 4.0
    assert observed.groups["orders-processor"].max_offset_lag is None  # not published: unknown, not 0
    assert "billing" not in observed.groups
    assert observed.problems == ("group billing: MSK publishes no consumer-lag metrics for it in CloudWatch",)


# ------------------------------------------------------------------ fallback
@dataclass
class KafkaReaderStub:
    """Stands in for the Kafka lag reader: reads the groups it knows, or fails whole."""

    groups: dict[str, GroupLag]
    fail: bool = False
    asked: list[list[str]] = field(default_factory=list)

    def read(self, bindings: Sequence[ConsumerBinding], state: ScalerState, now: float) -> LagObservation:
        self.asked.append([b.group_id for b in bindings])
        if self.fail:
            raise ObserveError("NoBrokersAvailable")
        known = {b.group_id: self.groups[b.group_id] for b in bindings if b.group_id in self.groups}
        unknown = tuple(
            f"group {b.group_id}: offsets could not be fetched" for b in bindings if b.group_id not in known
        )
        return LagObservation(known, end_offsets={"orders:0": OffsetSample(NOW, 42)}, problems=unknown)


def kafka_lag(group_id: str, total: int) -> GroupLag:
    return GroupLag(group_id, "kafka", total, None, 10.0, 10.0, 12)


BILLING = binding(group_id="billing", topics=["invoices"], ecs={"cluster": "orders", "service": "billing"})


def test_fallback_fills_only_the_groups_kafka_could_not_read(cloudwatch: Any) -> None:
    put_lag(cloudwatch, "billing", "invoices", [5, 6, 70], [1, 1, 12], RECENT)
    put_lag(cloudwatch, "orders-processor", "orders", [1, 1, 99999], [1, 1, 999], RECENT)
    primary = KafkaReaderStub({"orders-processor": kafka_lag("orders-processor", 1234)})

    observed = FallbackLagSource(primary, MskLagMetrics(cloudwatch, CLUSTER)).read(
        [binding(), BILLING], ScalerState(), NOW
    )

    assert observed.groups["orders-processor"].source == "kafka"
    assert observed.groups["orders-processor"].total_lag == 1234  # Kafka wins where it answered
    assert (observed.groups["billing"].source, observed.groups["billing"].total_lag) == ("cloudwatch", 70)
    assert observed.end_offsets == {"orders:0": OffsetSample(NOW, 42)}  # Kafka's samples are kept
    assert observed.problems == ("group billing: offsets could not be fetched",)


def test_fallback_reads_every_group_when_kafka_is_down(cloudwatch: Any) -> None:
    put_lag(cloudwatch, "billing", "invoices", [5, 6, 70], [1, 1, 12], RECENT)
    put_lag(cloudwatch, "orders-processor", "orders", [1, 1, 400], [1, 1, 30], RECENT)
    primary = KafkaReaderStub({}, fail=True)

    observed = FallbackLagSource(primary, MskLagMetrics(cloudwatch, CLUSTER)).read(
        [binding(), BILLING], ScalerState(), NOW
    )

    assert {g: lag.total_lag for g, lag in observed.groups.items()} == {"orders-processor": 400, "billing": 70}
    assert observed.problems == ("primary lag source failed: NoBrokersAvailable",)


def test_fallback_is_not_asked_when_kafka_read_every_group(cloudwatch: Any) -> None:
    calls = count_get_metric_data(cloudwatch)
    primary = KafkaReaderStub({"orders-processor": kafka_lag("orders-processor", 5)})

    observed = FallbackLagSource(primary, MskLagMetrics(cloudwatch, CLUSTER)).read([binding()], ScalerState(), NOW)

    assert calls == []
    assert observed.groups["orders-processor"].total_lag == 5


def test_both_sources_missing_leaves_the_group_out(cloudwatch: Any) -> None:
    primary = KafkaReaderStub({}, fail=True)

    observed = FallbackLagSource(primary, MskLagMetrics(cloudwatch, CLUSTER)).read([BILLING], ScalerState(), NOW)

    assert observed.groups == {}
    assert observed.problems[0] == "primary lag source failed: NoBrokersAvailable"
    assert "invoices" in observed.problems[1]
