"""The rebalance steps' own AWS calls: the CPU guard reads the cluster (Stubber: moto has no
ListClusterOperationsV2 or ListNodes) and its CPU from CloudWatch (moto), under the steps' role."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from builders import CLUSTER_ARN
from kafka_autoscaler.handlers.rebalancer import msk_cpu_probe
from kafka_autoscaler.observe.cloudwatch import CloudWatchBrokerMetrics
from kafka_autoscaler.observe.msk import MskClusterReader
from moto import mock_aws
from test_aws_msk import ALL_NODES, stub_describe


@pytest.fixture
def cloudwatch() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("cloudwatch", region_name="eu-west-1")


def test_the_cpu_guard_reads_the_brokers_mean_cpu_from_cloudwatch(cloudwatch: Any) -> None:
    now = time.time()
    for broker in range(1, 7):
        for name, value in (("CpuUser", 50.0 + broker), ("CpuSystem", 10.0)):
            cloudwatch.put_metric_data(
                Namespace="AWS/Kafka",
                MetricData=[
                    {
                        "MetricName": name,
                        "Dimensions": [
                            {"Name": "Cluster Name", "Value": "orders"},
                            {"Name": "Broker ID", "Value": str(broker)},
                        ],
                        "Timestamp": datetime.fromtimestamp(now - 120, UTC),
                        "Value": value,
                    }
                ],
            )
    kafka = boto3.client("kafka", region_name="eu-west-1")
    with Stubber(kafka) as stub:
        stub_describe(stub, [[]], [ALL_NODES])
        probe = msk_cpu_probe(MskClusterReader(kafka, CLUSTER_ARN), CloudWatchBrokerMetrics(cloudwatch, "orders"))
        cpu = probe()
        stub.assert_no_pending_responses()
    assert cpu == pytest.approx(60 + 3.5)  # mean over brokers of user (51..56) + system (10)
