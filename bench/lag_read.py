"""How long one consumer-lag read takes, next to Kafka's `kafka-consumer-groups --describe --all-groups`.

Starts a local KRaft cluster (3 brokers unless `--brokers`) (replication factor 1), creates the partitions in
batches of 100-partition topics, splits the topics among the groups, gives every partition
one message and every group a commit at offset 0 on its partitions, then times (a fresh
cluster per size):
- the scaler's read (`KafkaLagSource.read`) with a fresh admin client (cold: coordinator
  lookup included) and again on the same client (warm: as a warm Lambda);
- `kafka-autoscaler lag --interval 0 --json` (all groups) as a process (Python start and bootstrap included);
- Kafka's tool `--describe --all-groups` as a process (JVM start included), and its `--list`
  alone for the cost of the JVM start.

    .venv/bin/python bench/lag_read.py                    # 1,000 and 10,000 partitions, 10 groups
    .venv/bin/python bench/lag_read.py --partitions 1000  # one size
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition
from kafka_autoscaler.config import ConsumerBinding, EcsService
from kafka_autoscaler.local.cluster import CONSUMER_GROUP_TOOL, LocalKafkaCluster
from kafka_autoscaler.model import ScalerState
from kafka_autoscaler.observe.kafka_lag import KafkaLagSource

PARTITIONS_PER_TOPIC = 100
TOPICS_PER_CREATE = 10
WARM_READS = 3


def _timed(action: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def _retried(action: Callable[[], Any], attempts: int = 60) -> Any:
    """Retry while Kafka says "not yet" (e.g. __consumer_offsets still being created)."""
    for _ in range(attempts - 1):
        try:
            return action()
        except KafkaError as error:
            if not error.retriable:
                raise
            time.sleep(1.0)
    return action()


def _populate(admin: KafkaAdminClient, bootstrap: str, partitions: int, groups: int) -> list[ConsumerBinding]:
    topics = [f"bench-{partitions}-{i:04d}" for i in range(partitions // PARTITIONS_PER_TOPIC)]
    for first in range(0, len(topics), TOPICS_PER_CREATE):
        batch = topics[first : first + TOPICS_PER_CREATE]
        admin.create_topics([NewTopic(t, PARTITIONS_PER_TOPIC, 1) for t in batch], timeout_ms=120_000)
        admin.wait_for_topics(batch, timeout_ms=120_000)
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=50)
    for topic in topics:
        for p in range(PARTITIONS_PER_TOPIC):
            producer.send(topic, b"x", partition=p)
    producer.flush()
    producer.close()
    bindings = []
    for g in range(groups):
        group_id = f"bench-{partitions}-group-{g}"
        mine = topics[g::groups]
        commits = {
            TopicPartition(t, p): OffsetAndMetadata(0, "", -1) for t in mine for p in range(PARTITIONS_PER_TOPIC)
        }
        _retried(lambda: admin.alter_group_offsets(group_id, commits))  # noqa: B023 - called at once
        bindings.append(ConsumerBinding(group_id=group_id, ecs=EcsService(cluster="bench", service=group_id)))
    return bindings


def _count_requests(admin: KafkaAdminClient) -> Counter[tuple[str, Any]]:
    """Requests sent by the admin client, by (request type, node id); None: the least-loaded node."""
    counts: Counter[tuple[str, Any]] = Counter()
    send = admin._manager.send

    def counting(request: Any, *args: Any, **kwargs: Any) -> Any:
        node = kwargs.get("node_id", args[0] if args else None)
        counts[type(request).__name__.removesuffix("Request").rstrip("_v0123456789"), node] += 1
        return send(request, *args, **kwargs)

    admin._manager.send = counting
    return counts


def _by_api(counts: Counter[tuple[str, Any]]) -> dict[str, dict[str, int]]:
    """Per request type: how many were sent and to how many distinct nodes."""
    apis: dict[str, dict[str, int]] = {}
    for (api, _node), n in sorted(counts.items(), key=lambda item: (item[0][0], str(item[0][1]))):
        row = apis.setdefault(api, {"requests": 0, "nodes": 0})
        row["requests"] += n
        row["nodes"] += 1
    return apis


def measure(cluster: LocalKafkaCluster, partitions: int, groups: int, with_tools: bool = True) -> dict[str, Any]:
    bootstrap = cluster.bootstrap_servers
    with KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=120_000) as admin:
        setup_s, bindings = _timed(lambda: _populate(admin, bootstrap, partitions, groups))
        KafkaLagSource(admin).read(bindings, ScalerState(), time.time())  # settle leaders after creation
    with KafkaAdminClient(bootstrap_servers=bootstrap) as admin:
        counts = _count_requests(admin)
        source = KafkaLagSource(admin)
        cold_s, observed = _timed(lambda: source.read(bindings, ScalerState(), time.time()))
        cold_requests = sum(counts.values())
        by_api = _by_api(counts)
        counts.clear()
        warm = [_timed(lambda: source.read(bindings, ScalerState(), time.time()))[0] for _ in range(WARM_READS)]
        warm_requests = sum(counts.values()) / WARM_READS
    read_rows = sum(g.partition_count for g in observed.groups.values())
    assert not observed.problems and read_rows == partitions, observed.problems
    result = {
        "partitions": partitions,
        "groups": groups,
        "setup_s": setup_s,
        "read_cold_s": cold_s,
        "read_warm_s": statistics.median(warm),
        "requests_cold": cold_requests,
        "requests_warm": warm_requests,
        "requests_by_api": by_api,
    }
    if not with_tools:
        return result
    command = [sys.executable, "-m", "kafka_autoscaler", "lag", "--bootstrap-server", bootstrap, "--interval", "0"]
    cli_s, cli = _timed(lambda: subprocess.run([*command, "--json"], capture_output=True, check=False))
    assert cli.returncode == 0, cli.stderr
    tool_s, tool = _timed(
        lambda: cluster.run_tool(CONSUMER_GROUP_TOOL, "--bootstrap-server", bootstrap, "--describe", "--all-groups")
    )
    tool_rows = sum(1 for line in tool.stdout.splitlines() if line.startswith(f"bench-{partitions}-group-"))
    list_s, _ = _timed(lambda: cluster.run_tool(CONSUMER_GROUP_TOOL, "--bootstrap-server", bootstrap, "--list"))
    return result | {
        "cli_s": cli_s,
        "tool_all_groups_s": tool_s,
        "tool_rows": tool_rows,
        "tool_list_s": list_s,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--partitions", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--groups", type=int, default=10)
    parser.add_argument("--brokers", type=int, default=3)
    parser.add_argument("--no-tools", action="store_true", help="time only the scaler's read, not Kafka's tool")
    parser.add_argument("--json", action="store_true", help="one JSON object per size instead of the table")
    args = parser.parse_args(argv)
    if any(n % PARTITIONS_PER_TOPIC or n < PARTITIONS_PER_TOPIC * args.groups for n in args.partitions):
        parser.error(f"partitions: multiples of {PARTITIONS_PER_TOPIC}, at least {PARTITIONS_PER_TOPIC} per group")
    results = []
    for partitions in args.partitions:  # a fresh cluster per size: --all-groups sees only that size
        with LocalKafkaCluster(heap="768m", start_timeout_s=180) as cluster:
            cluster.start(brokers=args.brokers)
            results.append(measure(cluster, partitions, args.groups, with_tools=not args.no_tools))
        print(f"measured {partitions} partitions", file=sys.stderr, flush=True)
    if args.json:
        for r in results:
            print(json.dumps(r, sort_keys=True))
        return 0
    print(
        f"{'partitions':>10} {'groups':>6} {'read cold':>10} {'read warm':>10} {'requests':>8} "
        f"{'lag cmd':>8} {'kafka tool':>10} {'tool rows':>9} {'tool --list':>11}"
    )
    for r in results:
        tools = (
            f"{r['cli_s']:>7.2f}s {r['tool_all_groups_s']:>9.2f}s {r['tool_rows']:>9} {r['tool_list_s']:>10.2f}s"
            if "cli_s" in r
            else ""
        )
        print(
            f"{r['partitions']:>10} {r['groups']:>6} {r['read_cold_s']:>9.2f}s {r['read_warm_s']:>9.2f}s "
            f"{r['requests_cold']:>8} {tools}"
        )
        apis = ", ".join(f"{api} {v['requests']} to {v['nodes']} nodes" for api, v in r["requests_by_api"].items())
        print(f"{'':>10} cold read requests: {apis}; warm read: {r['requests_warm']:.0f} requests")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
