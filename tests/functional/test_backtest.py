"""`kafka-autoscaler backtest` against moto's CloudWatch: per-broker MSK metrics in, a replayed trace out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest
from kafka_autoscaler.cli import main
from kafka_autoscaler.sim.history import HistoryError, read_rate_history
from kafka_autoscaler.sim.trace import read_trace
from moto import mock_aws

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient

REGION = "eu-west-1"
CLUSTER = "orders"
START = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
MINUTES = 20


@pytest.fixture
def cloudwatch(monkeypatch: pytest.MonkeyPatch) -> Iterator[CloudWatchClient]:
    with mock_aws():
        yield boto3.client("cloudwatch", region_name=REGION)


def put_broker_rates(
    client: CloudWatchClient, metric: str, per_broker: dict[str, float], cluster: str = CLUSTER
) -> None:
    """Each broker's rate, minute by minute, rising by 10 % of its base a minute."""
    for broker, base in per_broker.items():
        client.put_metric_data(
            Namespace="AWS/Kafka",
            MetricData=[
                {
                    "MetricName": metric,
                    "Dimensions": [{"Name": "Cluster Name", "Value": cluster}, {"Name": "Broker ID", "Value": broker}],
                    "Timestamp": START + timedelta(minutes=minute),
                    "Value": base * (1 + 0.1 * minute),
                }
                for minute in range(MINUTES)
            ],
        )


def test_history_sums_brokers_minute_by_minute(cloudwatch: CloudWatchClient) -> None:
    put_broker_rates(cloudwatch, "MessagesInPerSec", {"1": 100.0, "2": 200.0, "3": 300.0})
    put_broker_rates(cloudwatch, "MessagesInPerSec", {"1": 9999.0}, cluster="another")
    rows = read_rate_history(cloudwatch, CLUSTER, START, START + timedelta(minutes=MINUTES))
    assert len(rows) == MINUTES
    assert rows[0] == pytest.approx((0.0, 600.0))
    assert rows[5] == pytest.approx((300.0, 600.0 * 1.5))


def test_bytes_in_is_converted_with_the_message_size(cloudwatch: CloudWatchClient) -> None:
    put_broker_rates(cloudwatch, "BytesInPerSec", {"1": 2048.0, "2": 2048.0})
    rows = read_rate_history(
        cloudwatch, CLUSTER, START, START + timedelta(minutes=MINUTES), metric="BytesInPerSec", message_bytes=512
    )
    assert rows[0][1] == pytest.approx(8.0)


def test_an_unknown_cluster_is_a_clear_error(cloudwatch: CloudWatchClient) -> None:
    with pytest.raises(HistoryError, match="no MessagesInPerSec per broker for cluster 'nope'"):
        read_rate_history(cloudwatch, "nope", START, START + timedelta(minutes=MINUTES))


def test_backtest_writes_the_trace_and_replays_every_policy(
    cloudwatch: CloudWatchClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    put_broker_rates(cloudwatch, "MessagesInPerSec", {"1": 1000.0, "2": 1000.0, "3": 1000.0})
    out = tmp_path / "orders.csv"
    argv = [
        "backtest", "--cluster-name", CLUSTER, "--region", REGION,
        "--start", START.isoformat(), "--end", (START + timedelta(minutes=MINUTES)).isoformat(),
        "--out", str(out), "--partitions", "12", "--json",
    ]  # fmt: skip
    assert main(argv) == 0
    trace = read_trace(out)
    assert trace.duration_s == (MINUTES - 1) * 60
    assert trace.rate_at(0) == pytest.approx(3000.0)
    results = json.loads(capsys.readouterr().out)["results"]
    assert {r["policy"] for r in results} == {
        "time-lag",
        "lag-threshold",
        "keda",
        "target-tracking",
        "static",
        "clairvoyant",
    }
    assert all(r["trace"] == "orders" for r in results)


def test_backtest_rejects_a_time_without_zone(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["backtest", "--cluster-name", CLUSTER, "--start", "2026-01-05T12:00:00", "--end", "2026-01-05T13:00:00"])
    assert "has no time zone" in capsys.readouterr().err
