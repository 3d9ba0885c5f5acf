"""The advisor against real Apache Kafka: every check on a cluster set up to trigger it, and on one set up not to.

Facts come from the brokers through the admin API (`KafkaFactsReader`); the cluster's write
rates and volume from the local adapters' own metrics of the running brokers, with the
instance type given (a local broker has none). CreatePartitions runs against the same brokers.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from builders import CLUSTER_ARN
from fakes import FakeWorld, ports_for
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient
from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
from kafka_autoscaler.act.executor import carry_out
from kafka_autoscaler.act.partitions import KafkaPartitionControl
from kafka_autoscaler.advice.checks import DOCS, AdviceContext, Finding, run_checks
from kafka_autoscaler.advice.facts import ClusterFacts
from kafka_autoscaler.advice.reader import KafkaFactsReader
from kafka_autoscaler.config import AutoscalerConfig, parse_config
from kafka_autoscaler.local.adapters import LocalBrokerMetrics, LocalBrokers, LocalClusterReader
from kafka_autoscaler.local.cluster import LocalKafkaCluster
from kafka_autoscaler.model import (
    Action,
    ClusterState,
    Decision,
    OutcomeStatus,
    Plan,
    Reason,
    ScalerState,
    Snapshot,
    Target,
)
from kafka_autoscaler.ports import ActionError, Ports

pytestmark = pytest.mark.integration

INSTANCE_TYPE = "kafka.m5.4xlarge"  # 16 vCPUs: io threads below 32 or network threads below 16 are flagged
TRIGGERING: dict[str, object] = {
    "auto.create.topics.enable": "true",
    "num.partitions": 1,
    "num.replica.fetchers": 1,
    "unclean.leader.election.enable": "true",
}
CLEAN: dict[str, object] = {
    "num.partitions": 12,
    "num.replica.fetchers": 2,
    "num.io.threads": 32,
    "num.network.threads": 16,
}


@dataclass(frozen=True)
class Seen:
    cluster: LocalKafkaCluster
    facts: ClusterFacts
    findings: tuple[Finding, ...]

    @property
    def ids(self) -> set[str]:
        return {f.id for f in self.findings}


def config_for(cluster: LocalKafkaCluster, group: str, topic: str, max_tasks: int) -> AutoscalerConfig:
    return parse_config(
        {
            "cluster": {
                "arn": CLUSTER_ARN,
                "bootstrap_servers": cluster.bootstrap_servers,
                "auth": {"mechanism": "plaintext"},
            },
            "consumers": [
                {
                    "group_id": group,
                    "topics": [topic],
                    "ecs": {"cluster": "c", "service": group},
                    "max_tasks": max_tasks,
                }
            ],
        }
    )


def produce(cluster: LocalKafkaCluster, topic: str, count: int, partitions: int | None = None) -> None:
    """`count` 1 kB messages: all to partition 0, or round robin over `partitions`."""
    producer = KafkaProducer(bootstrap_servers=cluster.bootstrap_servers, linger_ms=20)
    try:
        for i in range(count):
            producer.send(topic, b"x" * 1000, partition=0 if partitions is None else i % partitions)
        producer.flush(timeout=60)
    finally:
        producer.close()


def join(cluster: LocalKafkaCluster, group: str, topic: str, **settings: Any) -> KafkaConsumer:
    """A member of `group` that has its assignment (the group is Stable with its assignor chosen)."""
    consumer = KafkaConsumer(topic, bootstrap_servers=cluster.bootstrap_servers, group_id=group, **settings)
    deadline = time.monotonic() + 60
    while not consumer.assignment() and time.monotonic() < deadline:
        consumer.poll(timeout_ms=500)
    assert consumer.assignment(), "the consumer never got partitions"
    return consumer


def measured_cluster(
    cluster: LocalKafkaCluster, admin: KafkaAdminClient, topic: str, partitions: int | None
) -> ClusterState:
    """Volume and bytes in per broker as the local adapters measure them over a burst of writes."""
    brokers = LocalBrokers(cluster, time.time, volume_gib=1)
    state = LocalClusterReader(brokers, CLUSTER_ARN).describe()
    metrics = LocalBrokerMetrics(brokers, admin)
    metrics.read(state, time.time(), 600)
    produce(cluster, topic, 600, partitions)
    loads = metrics.read(state, time.time(), 600)
    return replace(state, instance_type=INSTANCE_TYPE, brokers=loads)


def partition_count(admin: KafkaAdminClient, topic: str, settle_s: float = 10.0) -> int:
    """The topic's partitions once the brokers' metadata shows the change (it follows the controller)."""
    deadline = time.monotonic() + settle_s
    while True:
        count = len(admin.describe_topics([topic])[0]["partitions"])
        if count != PARTITIONS_BEFORE.get(topic) or time.monotonic() > deadline:
            return count
        time.sleep(0.2)


PARTITIONS_BEFORE = {"hot": 3, "wide": 120}


def observe(cluster: LocalKafkaCluster, config: AutoscalerConfig, state: ClusterState) -> Seen:
    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap_servers)
    try:
        facts = KafkaFactsReader(admin).read(None)
    finally:
        admin.close()
    assert facts.problems == ()
    return Seen(cluster, facts, run_checks(AdviceContext(facts, config, state)))


@dataclass(frozen=True)
class Setup:
    """A cluster to observe: its brokers and settings, topics, the data written and one consumer group."""

    brokers: int
    server_config: dict[str, object]
    topics: dict[str, dict[str, Any]]
    topic: str  # written to, read by the group, bound in the configuration
    messages: int
    spread_over: int | None  # partitions written round robin; None: all to partition 0
    group: str
    consumer_settings: dict[str, Any] = field(default_factory=dict)


def observed(setup: Setup) -> Iterator[Seen]:
    """Start the cluster, write, join the group, measure, read the facts and run the checks; stop it all after."""
    with LocalKafkaCluster(server_config=setup.server_config) as cluster:
        cluster.start(brokers=setup.brokers)
        admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap_servers)
        try:
            admin.create_topics(setup.topics)
            produce(cluster, setup.topic, setup.messages, setup.spread_over)
            consumer = join(cluster, setup.group, setup.topic, **setup.consumer_settings)
            try:
                state = measured_cluster(cluster, admin, setup.topic, setup.spread_over)
                yield observe(cluster, config_for(cluster, setup.group, setup.topic, max_tasks=12), state)
            finally:
                consumer.close()
        finally:
            admin.close()


@pytest.fixture(scope="class")
def triggering() -> Iterator[Seen]:
    """One broker with the settings the guide warns about, a hot topic kept for ever and a range consumer."""
    yield from observed(
        Setup(
            brokers=1,
            server_config=TRIGGERING,
            topics={
                "hot": {"num_partitions": 3, "replication_factor": 1, "configs": {"retention.ms": "-1"}},
                "wide": {"num_partitions": 120, "replication_factor": 1},
            },
            topic="hot",
            messages=1500,
            spread_over=None,
            group="eager",
        )
    )


@pytest.fixture(scope="class")
def clean() -> Iterator[Seen]:
    """Three brokers set up as the guide says, an evenly written topic and a cooperative consumer."""
    safe = {"min.insync.replicas": "2"}
    yield from observed(
        Setup(
            brokers=3,
            server_config=CLEAN,
            topics={
                "even": {"num_partitions": 12, "replication_factor": 3, "configs": {**safe, "retention.ms": "60000"}},
                "wide": {"num_partitions": 120, "replication_factor": 3, "configs": safe},
            },
            topic="even",
            messages=12 * 1100,
            spread_over=12,
            group="cooperative",
            consumer_settings={"partition_assignment_strategy": (CooperativeStickyAssignor,)},
        )
    )


def advise_cli(cluster: LocalKafkaCluster) -> tuple[int, dict[str, Any]]:
    server = cluster.bootstrap_servers.split(",")[0]
    result = subprocess.run(
        [sys.executable, "-m", "kafka_autoscaler", "advise", "--bootstrap-server", server, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return result.returncode, json.loads(result.stdout)


class TestTriggered:
    @pytest.mark.parametrize("check", sorted(DOCS))
    def test_check_fires(self, triggering: Seen, check: str) -> None:
        assert check in triggering.ids, [f.as_dict() for f in triggering.findings]

    def test_evidence_names_what_was_read(self, triggering: Seen) -> None:
        by_id = {f.id: f for f in triggering.findings}
        assert "'range'" in by_id["eager_assignor"].evidence
        assert "partition 0 of hot" in by_id["skewed_partitions"].evidence
        assert "3 partitions, below its max_tasks (12)" in by_id["partitions_cap_tasks"].evidence
        assert "holding up to" in by_id["single_replica_fetcher"].evidence

    def test_advise_json_lists_the_findings_and_exits_1(self, triggering: Seen) -> None:
        code, answer = advise_cli(triggering.cluster)
        assert code == 1
        ids = {f["id"] for f in answer["findings"]}
        # Without --config the bindings, volume and instance type are unknown: those checks stay silent.
        assert ids == triggering.ids - {"partitions_cap_tasks", "retention_vs_disk", "thread_counts"}
        assert answer["worst"] == "critical"

    def test_create_partitions_grows_the_topic(self, triggering: Seen) -> None:
        admin = KafkaAdminClient(bootstrap_servers=triggering.cluster.bootstrap_servers)
        try:
            control = KafkaPartitionControl(admin)
            assert control.create_partitions("wide", 126) == "wide now has 126 partitions"
            assert partition_count(admin, "wide") == 126
            with pytest.raises(ActionError, match="CreatePartitions of wide to 100 failed"):
                control.create_partitions("wide", 100)  # Kafka only adds partitions
        finally:
            admin.close()

    def test_executor_runs_a_partition_decision(self, triggering: Seen) -> None:
        admin = KafkaAdminClient(bootstrap_servers=triggering.cluster.bootstrap_servers)
        try:
            decision = Decision(
                Target.PARTITIONS,
                "partitions:hot",
                Action.EXPAND,
                3,
                6,
                Reason.PARTITIONS_CAP_LATE_GROUP,
                "",
                {"topic": "hot"},
            )
            config = config_for(triggering.cluster, "eager", "hot", 12)
            ports = _ports(KafkaPartitionControl(admin))
            outcomes = carry_out(Plan(0.0, (decision,)), config, ports, Snapshot(0.0, None, {}, {}, ScalerState()))
            assert [(o.status, o.detail) for o in outcomes] == [(OutcomeStatus.APPLIED, "hot now has 6 partitions")]
            assert partition_count(admin, "hot") == 6
        finally:
            admin.close()


class TestClean:
    @pytest.mark.parametrize("check", sorted(DOCS))
    def test_check_is_silent(self, clean: Seen, check: str) -> None:
        assert check not in clean.ids, [f.as_dict() for f in clean.findings]

    def test_the_facts_were_there_to_judge(self, clean: Seen) -> None:
        """Silence is not missing data: every fact a check reads was read."""
        assert [b.broker_id for b in clean.facts.brokers] == [1, 2, 3]
        even = clean.facts.topic("even")
        assert even is not None and even.replication_factor == 3 and len(even.partition_bytes) == 12
        assert even.configs["min.insync.replicas"] == "2"
        assert min(even.partition_bytes.values()) > 1024 * 1024  # large enough for the skew check to judge
        group = clean.facts.group("cooperative")
        assert group is not None and group.assignor == "cooperative-sticky"
        assert min(clean.facts.replicas_per_broker.values()) >= 100

    def test_advise_exits_0(self, clean: Seen) -> None:
        code, answer = advise_cli(clean.cluster)
        assert (code, answer["findings"]) == (0, [])


def _ports(partitions: KafkaPartitionControl) -> Ports:
    return replace(ports_for(FakeWorld(cluster=None, groups={}, services={})), partitions=partitions)
