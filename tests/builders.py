"""Small builders for domain values in tests: one line per case in a table."""

from __future__ import annotations

from typing import Any

from kafka_autoscaler.config import AutoscalerConfig, ConsumerBinding, parse_config
from kafka_autoscaler.model import GroupLag, PartitionLag, ServiceState

CLUSTER_ARN = "arn:aws:kafka:eu-west-1:123456789012:cluster/orders/6f1d2c3b-1a2b-4c5d-9e8f-0a1b2c3d4e5f-2"


def binding(**overrides: Any) -> ConsumerBinding:
    values: dict[str, Any] = {
        "group_id": "orders-processor",
        "topics": ["orders"],
        "ecs": {"cluster": "orders", "service": "orders-processor"},
        "min_tasks": 1,
        "max_tasks": 20,
        "target_time_lag_s": 60,
        "task_throughput_msgs_per_s": 100,
        "max_scale_out_step": 10,
        "cooldown_s": 60,
    }
    values.update(overrides)
    return ConsumerBinding.model_validate(values)


def config(**overrides: Any) -> AutoscalerConfig:
    values: dict[str, Any] = {
        "cluster": {"arn": CLUSTER_ARN, "bootstrap_servers": "127.0.0.1:9092", "auth": {"mechanism": "plaintext"}},
        "consumers": [binding().model_dump(mode="json")],
    }
    values.update(overrides)
    return parse_config(values)


def group(
    partitions: int = 12,
    produce: float | None = 40.0,
    lag: int = 0,
    consume: float | None = None,
    stalled_for_s: float = 0.0,
    state: str = "Stable",
    time_lag_s: float | None = None,
    overrides: dict[int, dict[str, Any]] | None = None,
) -> GroupLag:
    """A group over one topic; per-partition `overrides` change single partitions."""
    rows = []
    for p in range(partitions):
        fields: dict[str, Any] = {
            "topic": "orders",
            "partition": p,
            "end_offset": 10_000 + lag,
            "committed_offset": 10_000,
            "lag": lag,
            "produce_rate": produce,
            "consume_rate": produce if consume is None else consume,
            "stalled_for_s": stalled_for_s,
        }
        fields.update((overrides or {}).get(p, {}))
        rows.append(PartitionLag(**fields))
    rates = [r.produce_rate for r in rows]
    consumes = [r.consume_rate for r in rows]
    return GroupLag(
        group_id="orders-processor",
        source="kafka",
        total_lag=sum(r.lag for r in rows),
        max_time_lag_s=time_lag_s,
        produce_rate=None if None in rates else sum(r or 0.0 for r in rates),
        consume_rate=None if None in consumes else sum(c or 0.0 for c in consumes),
        partition_count=partitions,
        partitions=tuple(rows),
        state=state,
    )


def service(desired: int, running: int | None = None, deployment: bool = False) -> ServiceState:
    return ServiceState("orders", "orders-processor", desired, desired if running is None else running, 0, deployment)
