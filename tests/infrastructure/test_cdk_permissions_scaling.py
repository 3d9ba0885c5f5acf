"""IAM for the broker size and partition changes: granted only when the configuration allows them, on exact ARNs."""

from __future__ import annotations

from typing import Any

import pytest
from builders import CLUSTER_ARN, config

from stacks import permissions

pytestmark = pytest.mark.infrastructure

TOPIC = "arn:aws:kafka:eu-west-1:123456789012:topic/orders/6f1d2c3b-1a2b-4c5d-9e8f-0a1b2c3d4e5f-2"


def granted(**settings: Any) -> dict[str, tuple[list[str], list[str]]]:
    statements = permissions.scaler_statements(config(**settings), table_arn="table", state_machine_name="rebalance")
    return {s.sid or "": (sorted(s.actions), list(s.resources)) for s in statements}


def test_update_broker_type_only_with_vertical_scaling() -> None:
    assert "kafka:UpdateBrokerType" not in granted()["MskCluster"][0]
    actions, resources = granted(brokers={"vertical": {"enabled": True}})["MskCluster"]
    assert "kafka:UpdateBrokerType" in actions and resources == [CLUSTER_ARN]
    assert (
        "kafka:UpdateBrokerType"
        not in granted(brokers={"enabled": False, "vertical": {"enabled": True}})["MskCluster"][0]
    )


def test_create_partitions_only_on_unkeyed_topics_with_auto_increase() -> None:
    topics = [{"name": "clicks", "keyed": False}, {"name": "orders"}, {"name": "views", "keyed": False}]
    assert "GrowPartitions" not in granted(partitions={"max": 64, "topics": topics})
    found = granted(partitions={"auto_increase": True, "max": 64, "topics": topics})
    assert found["GrowPartitions"] == (["kafka-cluster:AlterTopic"], [f"{TOPIC}/clicks", f"{TOPIC}/views"])
    assert "GrowPartitions" not in granted(partitions={"auto_increase": True, "max": 64})  # every topic keyed


def test_the_advisor_reads_configuration_and_changes_nothing() -> None:
    found = granted()
    assert found["AdviceCluster"] == (["kafka-cluster:DescribeClusterDynamicConfiguration"], [CLUSTER_ARN])
    assert found["AdviceTopics"] == (
        ["kafka-cluster:DescribeTopic", "kafka-cluster:DescribeTopicDynamicConfiguration"],
        [f"{TOPIC}/*"],
    )
    assert "AdviceTopics" in permissions.WILDCARD_REASONS
