"""Fixtures for tests against a real Apache Kafka cluster on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kafka_autoscaler.local.cluster import LocalKafkaCluster


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "integration: needs the real local Kafka cluster (jars fetched by local-kafka/fetch.sh)"
    )


@pytest.fixture(scope="session")
def kafka_cluster() -> Iterator[LocalKafkaCluster]:
    """A 3-broker KRaft cluster shared by the session; tests leave it with brokers 1-3 running."""
    with LocalKafkaCluster() as cluster:
        cluster.start(brokers=3)
        yield cluster
