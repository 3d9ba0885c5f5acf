"""The advisor's checks on facts values, and the advice inside the tick (told once, again when it changes)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import kafka_autoscaler.advice as advice_package
import pytest
from builders import config
from fakes import FakeWorld, ports_for
from kafka_autoscaler.advice.checks import CHECKS, DOCS, AdviceContext, Severity, run_checks
from kafka_autoscaler.advice.facts import BrokerFacts, ClusterFacts, GroupFacts, TopicFacts
from kafka_autoscaler.engine import tick
from kafka_autoscaler.model import BrokerLoad, ClusterState, Sample, Target
from kafka_autoscaler.state.memory import MemoryStateStore
from test_policy_purity import impure_uses

NOW = 1_700_000_000.0
GOOD_BROKER = {
    "auto.create.topics.enable": "false",
    "num.partitions": "24",
    "num.replica.fetchers": "2",
    "unclean.leader.election.enable": "false",
    "num.io.threads": "8",
    "num.network.threads": "5",
}
GOOD_TOPIC = {"min.insync.replicas": "2", "retention.ms": "604800000", "cleanup.policy": "delete"}


def facts(
    broker: dict[str, str] | None = None,
    topic: dict[str, str] | None = None,
    rf: int = 3,
    partitions: int = 24,
    sizes: dict[int, int] | None = None,
    groups: tuple[GroupFacts, ...] = (),
    replicas: int = 72,
) -> ClusterFacts:
    brokers = tuple(BrokerFacts(i, {**GOOD_BROKER, **(broker or {})}) for i in (1, 2, 3))
    orders = TopicFacts("orders", partitions, rf, {**GOOD_TOPIC, **(topic or {})}, sizes or {})
    return ClusterFacts(brokers, (orders,), groups, {1: replicas, 2: replicas, 3: replicas})


def msk(instance_type: str = "kafka.m5.large", volume_gib: int = 1000, bytes_in: float = 1e6) -> ClusterState:
    brokers = tuple(
        BrokerLoad(i, bytes_in_per_s=(Sample(NOW, bytes_in),), disk_used_pct=(Sample(NOW, 40.0),)) for i in (1, 2, 3)
    )
    return ClusterState("arn", "ACTIVE", "v", 3, 3, instance_type, volume_gib, brokers=brokers)


def classic(assignor: str, group_id: str = "orders-processor") -> GroupFacts:
    return GroupFacts(group_id, "classic", "Stable", assignor, 4)


CONFIG = config()  # one binding: orders-processor on topic orders, max_tasks 20


@dataclass(frozen=True)
class Case:
    name: str
    why: str
    ctx: AdviceContext
    expected: Sequence[tuple[str, Severity]] = field(default_factory=tuple)  # (id, severity) of every finding


CLEAN = AdviceContext(facts(sizes={p: 5_000_000 for p in range(24)}), CONFIG, msk())
CASES = [
    Case("clean", "a cluster set up as the guide says", CLEAN),
    Case(
        "auto create",
        "a typo creates a topic",
        AdviceContext(facts({"auto.create.topics.enable": "true"})),
        [("auto_create_topics_enabled", Severity.WARNING)],
    ),
    Case(
        "eager bound",
        "range stops the bound group at every step",
        AdviceContext(facts(groups=(classic("range"),)), CONFIG),
        [("eager_assignor", Severity.WARNING)],
    ),
    Case(
        "eager unbound",
        "an unbound group is told, less loudly",
        AdviceContext(facts(groups=(classic("roundrobin", "other"),)), CONFIG),
        [("eager_assignor", Severity.INFO)],
    ),
    Case(
        "cooperative",
        "cooperative-sticky is incremental",
        AdviceContext(facts(groups=(classic("cooperative-sticky"),)), CONFIG),
    ),
    Case(
        "kip-848",
        "the consumer protocol has no client assignor to blame",
        AdviceContext(facts(groups=(GroupFacts("orders-processor", "consumer", "Stable", None, 4),)), CONFIG),
    ),
    Case(
        "cap",
        "12 partitions, max_tasks 20",
        AdviceContext(facts(partitions=12), CONFIG),
        [("partitions_cap_tasks", Severity.WARNING)],
    ),
    Case(
        "default 1",
        "one partition by default, no config",
        AdviceContext(facts({"num.partitions": "1"})),
        [("low_default_partitions", Severity.WARNING)],
    ),
    Case(
        "one fetcher",
        "1 fetcher, 150 replicas per broker",
        AdviceContext(facts({"num.replica.fetchers": "1"}, replicas=150)),
        [("single_replica_fetcher", Severity.WARNING)],
    ),
    Case(
        "one fetcher, few",
        "1 fetcher, 50 replicas per broker: fine",
        AdviceContext(facts({"num.replica.fetchers": "1"}, replicas=50)),
    ),
    Case("rf1", "no copy", AdviceContext(facts(rf=1)), [("durability", Severity.CRITICAL)]),
    Case(
        "isr1",
        "acks=all on one replica",
        AdviceContext(facts({}, {"min.insync.replicas": "1"})),
        [("durability", Severity.WARNING)],
    ),
    Case(
        "isr=rf",
        "a broker operation refuses acks=all",
        AdviceContext(facts({}, {"min.insync.replicas": "3"})),
        [("durability", Severity.WARNING)],
    ),
    Case(
        "unclean topic",
        "a topic override",
        AdviceContext(facts({}, {"unclean.leader.election.enable": "true"})),
        [("unclean_leader_election", Severity.WARNING)],
    ),
    Case(
        "threads",
        "m5.4xlarge (16 vCPUs) with 8 io and 5 network threads",
        AdviceContext(facts(), None, msk("kafka.m5.4xlarge")),
        [("thread_counts", Severity.WARNING), ("thread_counts", Severity.WARNING)],
    ),
    Case("threads unknown type", "no instance type known: nothing said", AdviceContext(facts(), None, None)),
    Case(
        "infinite retention",
        "retention.ms=-1 keeps everything: no volume holds it",
        AdviceContext(facts({}, {"retention.ms": "-1"}, sizes={0: 10**9}), CONFIG, msk()),
        [("retention_vs_disk", Severity.CRITICAL)],
    ),
    Case(
        "fills before change",
        "3 brokers each taking 3 MB/s, RF 3: 9 MB/s written per broker; 7 days of it is 5.4 TB (fits 16 TiB), "
        "but 60% of 100 GiB is free for 2 h, under the 6 h MSK waits between storage changes",
        AdviceContext(facts(sizes={0: 10**9}), CONFIG, msk(volume_gib=100, bytes_in=3e6)),
        [("retention_vs_disk", Severity.WARNING)],
    ),
    Case(
        "retention fits",
        "1 MB/s for 1 h is 3.6 GB of a 1000 GiB volume",
        AdviceContext(facts({}, {"retention.ms": "3600000"}, sizes={0: 10**9}), CONFIG, msk(bytes_in=1e6)),
    ),
    Case(
        "skew",
        "partition 0 holds 50 MB, the others 1 MB",
        AdviceContext(facts(sizes={0: 50_000_000, **{p: 1_000_000 for p in range(1, 24)}})),
        [("skewed_partitions", Severity.WARNING)],
    ),
    Case("young topic", "skewed but under 1 MiB: noise", AdviceContext(facts(sizes={0: 500_000, 1: 10}))),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_check(case: Case) -> None:
    found = [(f.id, f.severity) for f in run_checks(case.ctx)]
    assert found == list(case.expected), case.why


def test_every_finding_has_evidence_a_fix_and_a_documentation_link() -> None:
    everything = [f for case in CASES for f in run_checks(case.ctx)]
    assert {f.id for f in everything} == set(DOCS)  # every check is exercised by a case above
    for finding in everything:
        assert finding.evidence and finding.fix
        assert finding.doc.startswith(
            ("https://kafka.apache.org/", "https://docs.aws.amazon.com/msk/", "https://cwiki")
        )
    assert len(CHECKS) == len(DOCS)


def test_advice_modules_are_pure_but_the_reader() -> None:
    folder = Path(advice_package.__file__).parent
    impure = {p.name: uses for p in sorted(folder.glob("*.py")) if (uses := impure_uses(p.read_text()))}
    assert impure == {"reader.py": ["import kafka.admin", "import kafka.errors"]}


@dataclass
class FakeFacts:
    value: ClusterFacts
    asked: list[Sequence[str] | None] = field(default_factory=list)

    def read(self, group_ids: Sequence[str] | None) -> ClusterFacts:
        self.asked.append(group_ids)
        return self.value


class Unreadable:
    def read(self, group_ids: Sequence[str] | None) -> ClusterFacts:
        raise ConnectionError("brokers unreachable")


def test_tick_tells_a_finding_once_and_again_when_it_changes() -> None:
    world = FakeWorld(cluster=None, groups={}, services={})
    store = MemoryStateStore()
    source = FakeFacts(facts(groups=(classic("range"),)))
    ports = dataclasses.replace(ports_for(world, store), facts=source)
    cfg = config(brokers={"enabled": False}, storage={"mode": "off"})

    def told() -> list[str]:
        result = tick(cfg, ports, NOW, "test")
        return [o.decision.key for o in result.told if o.decision.target is Target.ADVICE]

    assert told() == ["advice:eager_assignor:group orders-processor"]
    assert told() == []  # the same finding: said once
    source.value = facts(groups=(classic("roundrobin"),))
    assert told() == ["advice:eager_assignor:group orders-processor"]  # the assignor changed: told again
    ports = dataclasses.replace(ports, facts=Unreadable())
    assert told() == []  # the configuration could not be read: nothing is known, nothing forgotten
    ports = dataclasses.replace(ports, facts=source)
    assert told() == []  # read again, unchanged: still said once
    source.value = facts(groups=(classic("cooperative-sticky"),))
    assert told() == []  # fixed: nothing to say
    assert source.asked[0] == ["orders-processor"]  # the tick reads its bound groups
