"""The advisor's checks: pure functions of the facts, each returning findings with a stable id.

Each check reads what it needs from `AdviceContext` and says nothing when a fact it needs
is missing (missing is missing: never a finding, never an all-clear). `run_checks` runs
them all in a fixed order.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kafka_autoscaler.advice.facts import ClusterFacts, TopicFacts
from kafka_autoscaler.config import MSK_MAX_VOLUME_GIB, AutoscalerConfig
from kafka_autoscaler.instances import instance
from kafka_autoscaler.model import ClusterState

GIB = 1024**3
# Assignors of the classic protocol that revoke every partition of every member at each
# rebalance (the "eager" protocol); only cooperative-sticky rebalances incrementally (KIP-429).
EAGER_ASSIGNORS = frozenset({"range", "roundrobin", "sticky"})
# One replica fetcher thread serves every partition a broker follows from one leader; with this
# many replicas per broker a new or restarted broker catches up through a single stream.
MANY_REPLICAS_PER_BROKER = 100
# A partition this many times the size of the median of the others is "hot"; below the
# minimum size, a difference is noise of a young topic.
SKEW_FACTOR = 3.0
SKEW_MIN_BYTES = 1024 * 1024
LISTED = 10  # names listed in one finding before "and N more"

DOCS = {
    "auto_create_topics_enabled": "https://kafka.apache.org/documentation/#brokerconfigs_auto.create.topics.enable",
    "eager_assignor": "https://cwiki.apache.org/confluence/display/KAFKA/KIP-848%3A+The+Next+Generation+of+the+Consumer+Rebalance+Protocol",
    "partitions_cap_tasks": "https://kafka.apache.org/documentation/#intro_concepts_and_terms",
    "low_default_partitions": "https://kafka.apache.org/documentation/#brokerconfigs_num.partitions",
    "single_replica_fetcher": "https://kafka.apache.org/documentation/#brokerconfigs_num.replica.fetchers",
    "durability": "https://docs.aws.amazon.com/msk/latest/developerguide/version-upgrades-best-practices.html",
    "unclean_leader_election": "https://kafka.apache.org/documentation/#topicconfigs_unclean.leader.election.enable",
    "retention_vs_disk": "https://docs.aws.amazon.com/msk/latest/developerguide/msk-update-storage.html",
    "skewed_partitions": "https://kafka.apache.org/documentation/#producerconfigs_partitioner.class",
    "thread_counts": "https://docs.aws.amazon.com/msk/latest/developerguide/msk-configuration-express-read-only.html",
}


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


SEVERITY_ORDER = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


@dataclass(frozen=True)
class Finding:
    """One piece of advice. `state` holds the stable values it is about: when they change, it is told again."""

    id: str
    severity: Severity
    subject: str  # what it is about: "brokers", "group orders", "topic events", ...
    evidence: str
    fix: str
    state: str

    @property
    def doc(self) -> str:
        return DOCS[self.id]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "severity": self.severity.value,
            "subject": self.subject,
            "evidence": self.evidence,
            "fix": self.fix,
            "doc": self.doc,
        }


@dataclass(frozen=True)
class AdviceContext:
    facts: ClusterFacts
    config: AutoscalerConfig | None = None  # None: the checks that need bindings say nothing
    cluster: ClusterState | None = None  # None: instance type, volume and write rates unknown


def _listing(names: Sequence[object]) -> str:
    shown = ", ".join(str(n) for n in names[:LISTED])
    return shown + (f" and {len(names) - LISTED} more" if len(names) > LISTED else "")


def _flag(configs: Mapping[str, str], key: str) -> bool | None:
    value = configs.get(key)
    return None if value is None else value.strip().lower() == "true"


def _number(configs: Mapping[str, str], key: str) -> int | None:
    value = configs.get(key)
    try:
        return None if value is None else int(value)
    except ValueError:
        return None


# ---------------------------------------------------------------- broker settings
def auto_create_topics(ctx: AdviceContext) -> list[Finding]:
    on = [b.broker_id for b in ctx.facts.brokers if _flag(b.configs, "auto.create.topics.enable")]
    if not on:
        return []
    return [
        Finding(
            "auto_create_topics_enabled",
            Severity.WARNING,
            "brokers",
            f"auto.create.topics.enable=true on brokers {_listing(on)}: a typo in a producer or consumer creates "
            "a topic with the default partition count and replication factor, sized for nobody",
            "Set auto.create.topics.enable=false (MSK's default) and create topics explicitly, with the partitions "
            "and replication factor their consumers need.",
            _listing(on),
        )
    ]


def low_default_partitions(ctx: AdviceContext) -> list[Finding]:
    counts = [n for b in ctx.facts.brokers if (n := _number(b.configs, "num.partitions")) is not None]
    if not counts:
        return []
    default = min(counts)
    wanted = max((b.max_tasks for b in ctx.config.consumers), default=0) if ctx.config else 0
    if ctx.config and ctx.config.consumers and default < wanted:
        severity, why = Severity.INFO, f"below the largest max_tasks of the configured consumers ({wanted})"
    elif default <= 1:
        severity, why = Severity.WARNING, "one partition feeds one consumer task at most"
    else:
        return []
    return [
        Finding(
            "low_default_partitions",
            severity,
            "brokers",
            f"num.partitions={default}, {why}: a topic created without a partition count caps its group at "
            f"{default} task(s)",
            f"Raise num.partitions to at least {max(wanted, 2)}, and give every topic an explicit partition count.",
            f"{default}<{max(wanted, 2)}",
        )
    ]


def single_replica_fetcher(ctx: AdviceContext) -> list[Finding]:
    slow = [
        b.broker_id
        for b in ctx.facts.brokers
        if _number(b.configs, "num.replica.fetchers") == 1
        and ctx.facts.replicas_per_broker.get(b.broker_id, 0) >= MANY_REPLICAS_PER_BROKER
    ]
    if not slow:
        return []
    most = max(ctx.facts.replicas_per_broker.get(b, 0) for b in slow)
    return [
        Finding(
            "single_replica_fetcher",
            Severity.WARNING,
            "brokers",
            f"num.replica.fetchers=1 on brokers {_listing(slow)} holding up to {most} replicas each: a broker "
            "added by a scale-out (or restarted by MSK) copies its replicas through one fetcher thread per "
            "source broker, so it catches up slowly",
            "Set num.replica.fetchers to 2 or more (MSK's default configuration uses 2); raise it with the "
            "partitions per broker.",
            _listing(slow),
        )
    ]


def unclean_leader_election(ctx: AdviceContext) -> list[Finding]:
    brokers = [b.broker_id for b in ctx.facts.brokers if _flag(b.configs, "unclean.leader.election.enable")]
    topics = [t.name for t in ctx.facts.topics if _flag(t.configs, "unclean.leader.election.enable")]
    if not brokers and not topics:
        return []
    where = "; ".join(
        part
        for part in (
            f"brokers {_listing(brokers)}" if brokers else "",
            f"topics {_listing(topics)}" if topics else "",
        )
        if part
    )
    return [
        Finding(
            "unclean_leader_election",
            Severity.WARNING,
            "cluster",
            f"unclean.leader.election.enable=true on {where}: when the in-sync replicas are down (a broker "
            "operation during a lag spike), an out-of-sync replica becomes leader and acknowledged writes are lost",
            "Set unclean.leader.election.enable=false on the brokers and remove the topic overrides.",
            where,
        )
    ]


def thread_counts(ctx: AdviceContext) -> list[Finding]:
    """Request and network threads against the broker's vCPUs.

    MSK sizes Express brokers' threads by vCPUs: num.io.threads = max(8, 2 x vCPUs) and
    num.network.threads = max(8, vCPUs) (the Express read-only configuration page). A Standard
    broker whose custom configuration has fewer than 2 x vCPUs request threads, or fewer network
    threads than vCPUs, leaves cores idle, which a change to a larger size only makes worse.
    """
    row = instance(ctx.cluster.instance_type) if ctx.cluster else None
    if row is None:
        return []
    findings: list[Finding] = []
    for key, per_vcpu in (("num.io.threads", 2), ("num.network.threads", 1)):
        wanted = per_vcpu * row.vcpus
        low = sorted({n for b in ctx.facts.brokers if (n := _number(b.configs, key)) is not None and n < wanted})
        if low:
            findings.append(
                Finding(
                    "thread_counts",
                    Severity.WARNING,
                    key,
                    f"{key}={_listing(low)} on {row.name} brokers with {row.vcpus} vCPUs: fewer than "
                    f"{wanted} ({per_vcpu} per vCPU), so requests queue while cores idle",
                    f"Set {key} to at least {wanted} in the cluster configuration (and again after a change of "
                    "broker size).",
                    f"{row.name}:{_listing(low)}",
                )
            )
    return findings


# ---------------------------------------------------------------- groups and bindings
def eager_assignor(ctx: AdviceContext) -> list[Finding]:
    bound = {b.group_id for b in ctx.config.consumers} if ctx.config else set()
    findings: list[Finding] = []
    for group in ctx.facts.groups:
        if group.group_type != "classic" or (group.assignor or "") not in EAGER_ASSIGNORS:
            continue
        members = "" if group.members is None else f" of its {group.members} member(s)"
        findings.append(
            Finding(
                "eager_assignor",
                Severity.WARNING if group.group_id in bound or not bound else Severity.INFO,
                f"group {group.group_id}",
                f"group {group.group_id} uses the eager '{group.assignor}' assignor (classic protocol): every "
                f"scale step revokes all partitions{members} and stops the whole group until it rejoins",
                "Use the consumer protocol of KIP-848 (group.protocol=consumer, Kafka 4.0 clients and brokers), "
                "or partition.assignment.strategy=cooperative-sticky, so a scale step moves only the partitions "
                "that change owner.",
                group.assignor or "",
            )
        )
    return findings


def partitions_cap_tasks(ctx: AdviceContext) -> list[Finding]:
    if ctx.config is None:
        return []
    findings: list[Finding] = []
    for binding in ctx.config.consumers:
        topics = [ctx.facts.topic(t) for t in binding.topics]
        known = [t for t in topics if t is not None]
        if not binding.topics or len(known) != len(topics):
            continue  # a binding without topics, or a topic not read: unknown, not a finding
        total = sum(t.partitions for t in known)
        if total >= binding.max_tasks:
            continue
        findings.append(
            Finding(
                "partitions_cap_tasks",
                Severity.WARNING,
                f"group {binding.group_id}",
                f"topic(s) {_listing([t.name for t in known])} of group {binding.group_id} have {total} partitions, "
                f"below its max_tasks ({binding.max_tasks}): a partition is read by one task at most, so at most "
                f"{total} tasks consume and the rest idle",
                f"Grow the topic(s) to {binding.max_tasks} partitions or more (partitions.auto_increase does it "
                f"for topics marked keyed: false), or lower max_tasks to {total}.",
                f"{total}<{binding.max_tasks}",
            )
        )
    return findings


# ---------------------------------------------------------------- topics
def durability(ctx: AdviceContext) -> list[Finding]:
    """Replication factor and min.insync.replicas against broker operations.

    MSK updates brokers one at a time (patching, size changes) and recommends RF 3 on three
    AZs with min.insync.replicas = RF - 1 (the version-upgrade best practices page).
    """
    single, one_isr, blocking = [], [], []
    for topic in ctx.facts.topics:
        isr = _number(topic.configs, "min.insync.replicas")
        if topic.replication_factor <= 1:
            single.append(topic.name)
        elif isr is not None and isr < 2:
            one_isr.append(topic.name)
        elif isr is not None and isr >= topic.replication_factor:
            blocking.append(topic.name)
    rules = (
        (
            single,
            Severity.CRITICAL,
            "topics with one replica",
            "replication factor 1: a broker operation (MSK restarts brokers one at a time) takes their partitions "
            "offline, and a lost broker loses the data",
            "Recreate or reassign them with replication factor 3 (2 on a two-AZ cluster).",
        ),
        (
            one_isr,
            Severity.WARNING,
            "topics with min.insync.replicas 1",
            "min.insync.replicas=1: a write with acks=all is acknowledged by the leader alone, and is lost if that "
            "broker fails before a follower copies it (during a broker operation or a reassignment)",
            "Set min.insync.replicas to the replication factor minus one (2 with replication factor 3).",
        ),
        (
            blocking,
            Severity.WARNING,
            "topics with min.insync.replicas >= replication factor",
            "min.insync.replicas is not below the replication factor: while one broker is down for an "
            "operation, producers with acks=all are refused",
            "Set min.insync.replicas to the replication factor minus one.",
        ),
    )
    return [
        Finding("durability", severity, subject, f"{_listing(names)}: {why}", fix, _listing(names))
        for names, severity, subject, why, fix in rules
        if names
    ]


def _retention_s(topic: TopicFacts) -> float | None:
    """Seconds a deleting topic keeps data; inf when retention.ms is -1; None when unknown or compacted only."""
    policy = topic.configs.get("cleanup.policy", "delete")
    if "delete" not in policy:
        return None
    value = _number(topic.configs, "retention.ms")
    if value is None:
        return None
    return math.inf if value < 0 else value / 1000.0


def _retained_per_broker(topic: TopicFacts, write_per_broker: float, share: float, brokers: int) -> float:
    """Bytes one broker keeps of a topic in steady state: its write rate times retention, bounded by retention.bytes."""
    retention_s = _retention_s(topic)
    if retention_s is None:
        return 0.0
    by_time = write_per_broker * share * retention_s if share > 0 else 0.0
    limit = _number(topic.configs, "retention.bytes")
    if limit is not None and limit >= 0:
        return min(by_time, limit * topic.partitions * topic.replication_factor / brokers)
    return by_time


def retention_vs_disk(ctx: AdviceContext) -> list[Finding]:
    """Whether retention at the present write rate fits the volume before MSK allows the next storage change.

    MSK allows one storage change per 6 hours (storage.min_interval_s), so a volume that fills
    sooner at the present rate cannot be grown in time; retention that needs more than the
    largest volume cannot be held at all.
    """
    cluster = ctx.cluster
    if cluster is None or not cluster.brokers or cluster.volume_gib <= 0:
        return []
    rates = [b.bytes_in_per_s[-1].value for b in cluster.brokers if b.bytes_in_per_s]
    sized = [t for t in ctx.facts.topics if t.partition_bytes]
    if len(rates) != len(cluster.brokers) or not sized:
        return []  # a broker's rate or the topics' sizes unknown
    total_bytes = sum(sum(t.partition_bytes.values()) for t in sized)
    if total_bytes <= 0:
        return []
    brokers = len(cluster.brokers)
    mean_rf = sum(t.replication_factor * sum(t.partition_bytes.values()) for t in sized) / total_bytes
    write_per_broker = sum(rates) * mean_rf / brokers  # leader bytes in, plus the follower copies
    if write_per_broker <= 0:
        return []
    retained = sum(
        _retained_per_broker(t, write_per_broker, sum(t.partition_bytes.values()) / total_bytes, brokers) for t in sized
    )
    storage = ctx.config.storage if ctx.config else None
    max_gib = storage.max_volume_gib if storage else MSK_MAX_VOLUME_GIB
    interval_s = storage.min_interval_s if storage else 6 * 3600
    volume = cluster.volume_gib * GIB
    used = [b.disk_used_pct[-1].value for b in cluster.brokers if b.disk_used_pct]
    free = volume * (1 - max(used, default=0.0) / 100)
    fill_s = free / write_per_broker
    rate_text = f"{write_per_broker / 1e6:.3g} MB/s written per broker"
    if retained > max_gib * GIB:
        kept = "for ever" if math.isinf(retained) else f"{retained / GIB:,.0f} GiB per broker"
        return [
            Finding(
                "retention_vs_disk",
                Severity.CRITICAL,
                "storage",
                f"at {rate_text}, retention keeps {kept}: more than the largest volume ({max_gib} GiB) holds",
                "Shorten retention.ms (or set retention.bytes) on the largest topics, add brokers, or move old "
                "data to tiered storage.",
                f"over-max:{max_gib}",
            )
        ]
    if retained > volume and fill_s < interval_s:
        return [
            Finding(
                "retention_vs_disk",
                Severity.WARNING,
                "storage",
                f"at {rate_text}, the {cluster.volume_gib} GiB volume fills in {fill_s / 3600:.1f} h, before "
                f"retention deletes anything and sooner than the next storage change is allowed "
                f"(one per {interval_s / 3600:.0f} h)",
                "Grow the volume now with room for a full retention period, or shorten retention.ms.",
                f"fills-before-change:{cluster.volume_gib}",
            )
        ]
    return []


def skewed_partitions(ctx: AdviceContext) -> list[Finding]:
    """A partition far larger than the others of its topic: its key (or its producer) is hot."""
    findings: list[Finding] = []
    for topic in ctx.facts.topics:
        sizes = topic.partition_bytes
        if len(sizes) < 2:
            continue
        hot, largest = max(sizes.items(), key=lambda item: item[1])
        others = [size for p, size in sizes.items() if p != hot]
        typical = statistics.median(others)
        if largest < SKEW_MIN_BYTES or largest <= SKEW_FACTOR * max(typical, 1.0):
            continue
        findings.append(
            Finding(
                "skewed_partitions",
                Severity.WARNING,
                f"topic {topic.name}",
                f"partition {hot} of {topic.name} holds {largest / 1e6:.1f} MB, over {SKEW_FACTOR:g} times the "
                f"median of the others ({typical / 1e6:.2f} MB): one task reads it alone, and more tasks or "
                "partitions cannot share it",
                "Spread the hot key: choose a key with more distinct values, or salt the hot key (and combine "
                "downstream).",
                f"{topic.name}:{hot}",
            )
        )
    return findings


CHECKS: tuple[Callable[[AdviceContext], list[Finding]], ...] = (
    auto_create_topics,
    eager_assignor,
    partitions_cap_tasks,
    low_default_partitions,
    single_replica_fetcher,
    durability,
    unclean_leader_election,
    retention_vs_disk,
    skewed_partitions,
    thread_counts,
)


def run_checks(ctx: AdviceContext) -> tuple[Finding, ...]:
    """Every check's findings, in the order of CHECKS."""
    return tuple(finding for check in CHECKS for finding in check(ctx))


def worst(findings: Sequence[Finding]) -> Severity | None:
    return max((f.severity for f in findings), key=SEVERITY_ORDER.__getitem__, default=None)
