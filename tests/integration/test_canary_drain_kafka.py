"""A drain on real Kafka leaves MSK's canary topics in place, and Kafka's metadata then calls the broker empty.

MSK removes a broker once it holds nothing "except for canary topics"
(https://docs.aws.amazon.com/msk/latest/developerguide/msk-remove-broker.html); the local cluster
stands in for MSK with topics of the same names on every broker.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kafka.admin import KafkaAdminClient, NewTopic
from kafka_autoscaler.local.cluster import LocalKafkaCluster
from kafka_autoscaler.observe.kafka_replicas import KafkaReplicaReader
from kafka_autoscaler.rebalance.executor import ExecutorSettings
from kafka_autoscaler.rebalance.layout import read_layout
from kafka_autoscaler.rebalance.placement import MSK_CANARY_TOPICS
from kafka_autoscaler.rebalance.service import RebalanceRequest, run_rebalance

pytestmark = pytest.mark.integration

DATA_TOPIC = "canary-drain-orders"
FAST = ExecutorSettings(max_in_flight=4, poll_interval_s=0.2, throttle_bytes_per_s=20_000_000)


@pytest.fixture
def admin(kafka_cluster: LocalKafkaCluster) -> Iterator[KafkaAdminClient]:
    client = KafkaAdminClient(bootstrap_servers=kafka_cluster.bootstrap_servers, request_timeout_ms=10_000)
    topics = [NewTopic(DATA_TOPIC, 6, 2)] + [NewTopic(name, 1, 3) for name in sorted(MSK_CANARY_TOPICS)]
    client.create_topics(topics)
    try:
        yield client
    finally:
        client.delete_topics([DATA_TOPIC, *sorted(MSK_CANARY_TOPICS)])
        run_rebalance(RebalanceRequest("rebalance"), client, settings=FAST)  # the session cluster as it was
        client.close()


def test_a_drain_empties_a_broker_of_all_but_the_canaries(admin: KafkaAdminClient) -> None:
    result = run_rebalance(RebalanceRequest("drain", (3,)), admin, settings=FAST)
    assert result.status in {"complete", "balanced"}, result.message

    assignment = read_layout(admin).assignment
    on_three = {topic for (topic, _), replicas in assignment.items() if 3 in replicas}
    assert DATA_TOPIC not in on_three
    assert on_three >= MSK_CANARY_TOPICS, "the canaries stay where MSK put them"
    assert on_three == set(MSK_CANARY_TOPICS), "nothing but the canaries is left on broker 3"
    counts = KafkaReplicaReader(lambda: admin).replicas_per_broker()
    assert counts[3] == 0, "Kafka's metadata, canaries left out, calls broker 3 empty"
    assert counts[1] > 0 and counts[2] > 0
