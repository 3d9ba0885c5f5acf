"""The local adapters' arithmetic and bookkeeping, without Kafka: fake clusters, fake /proc, fake processes."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from builders import binding
from kafka_autoscaler.local import consumers as consumers_module
from kafka_autoscaler.local.adapters import (
    LocalBrokers,
    LocalClusterControl,
    LocalClusterReader,
    LogDirsRead,
    cpu_percent,
    leader_bytes_in,
    leader_bytes_out,
    parse_log_dirs,
    parse_topics,
    partition_growth,
    process_cpu_seconds,
)
from kafka_autoscaler.local.consumers import LocalServices
from kafka_autoscaler.local.demo import even_assignment
from kafka_autoscaler.ports import ActionError

TP = ("orders", 0)


def log_dirs_answer(sizes: dict[int, dict[tuple[str, int], int]]) -> list[dict[str, Any]]:
    return [
        {
            "broker": broker,
            "log_dirs": [
                {
                    "error_code": 0,
                    "log_dir": f"/data/{broker}",
                    "topics": [
                        {
                            "name": t,
                            "partitions": [{"partition_index": p, "partition_size": size, "is_future_key": False}],
                        }
                        for (t, p), size in per.items()
                    ],
                }
            ],
        }
        for broker, per in sizes.items()
    ]


def test_log_dirs_are_read_per_broker_and_partition() -> None:
    answer = log_dirs_answer({1: {TP: 100, ("orders", 1): 50}, 2: {TP: 100}})
    answer[1]["log_dirs"][0]["topics"][0]["partitions"].append(
        {"partition_index": 0, "partition_size": 999, "is_future_key": True}
    )
    read = parse_log_dirs(answer)
    assert read.sizes[1] == {TP: 100, ("orders", 1): 50}
    assert read.sizes[2] == {TP: 100}, "a future replica (a move in progress) is not counted"
    assert (read.bytes_on(1), read.bytes_on(3)) == (150, 0)


def test_bytes_in_counts_produce_growth_once_per_partition_at_its_leader() -> None:
    before = LogDirsRead({1: {TP: 1000, ("orders", 1): 500}, 2: {TP: 1000, ("orders", 1): 500}})
    after = LogDirsRead({1: {TP: 6000, ("orders", 1): 2500}, 2: {TP: 6000, ("orders", 1): 2500}})
    rates = leader_bytes_in(before, after, {TP: 1, ("orders", 1): 2}, seconds=5.0)
    assert rates == {1: 1000.0, 2: 400.0}, "follower growth is replication, not bytes in"
    assert leader_bytes_in(after, before, {TP: 1}, seconds=5.0) == {1: 0.0}, "shrinking (retention) is no growth"
    assert leader_bytes_in(before, after, {TP: 1}, seconds=0.0) == {}


def test_a_replica_being_copied_is_not_counted_as_bytes_in() -> None:
    before = LogDirsRead({1: {TP: 1_000_000}, 2: {TP: 1_000_000}})
    after = LogDirsRead({1: {TP: 1_005_000}, 2: {TP: 1_005_000}, 4: {TP: 700_000}})
    assert leader_bytes_in(before, after, {TP: 4}, seconds=5.0) == {4: 1000.0}, "leader moved to the new broker"
    assert partition_growth(before, LogDirsRead({4: {TP: 5}}), TP) == 0, "no replica seen twice: unknown, not a jump"


def test_internal_topics_are_not_produce_traffic() -> None:
    offsets = ("__consumer_offsets", 0)
    before, after = LogDirsRead({1: {offsets: 0}}), LogDirsRead({1: {offsets: 50_000}})
    assert leader_bytes_in(before, after, {offsets: 1}, seconds=5.0) == {}


def test_bytes_out_is_records_consumed_times_mean_record_size() -> None:
    sizes = LogDirsRead({1: {TP: 10_000}})
    rates = leader_bytes_out({TP: 50}, sizes, {TP: 100}, {TP: 1}, seconds=5.0)
    assert rates == {1: pytest.approx(50 * 100 / 5.0)}
    assert leader_bytes_out({TP: 50}, sizes, {TP: 0}, {TP: 1}, 5.0) == {}, "an empty partition has no record size"


def test_topics_give_leaders_and_replicas_per_broker() -> None:
    placement = parse_topics(
        [
            {
                "error_code": 0,
                "name": "orders",
                "partitions": [
                    {"partition_index": 0, "leader_id": 1, "replica_nodes": [1, 2]},
                    {"partition_index": 1, "leader_id": -1, "replica_nodes": [2, 3]},
                ],
            },
            {"error_code": 3, "name": "gone", "partitions": []},
        ]
    )
    assert placement.leaders == {TP: 1}, "a leaderless partition has no leader to count"
    assert placement.replicas == {1: 1, 2: 2, 3: 1}


def test_cpu_percent_is_of_the_whole_machine() -> None:
    assert cpu_percent((0.0, 10.0), (5.0, 12.0), cores=2) == pytest.approx(20.0)
    assert cpu_percent((5.0, 10.0), (5.0, 12.0), cores=2) is None
    assert cpu_percent((0.0, 12.0), (5.0, 10.0), cores=2) == 0.0


def test_process_cpu_seconds_reads_utime_and_stime(tmp_path: Path) -> None:
    ticks = os.sysconf("SC_CLK_TCK")
    fields = ["S", *["0"] * 10, str(3 * ticks), str(2 * ticks), *["0"] * 30]
    (tmp_path / "42").mkdir()
    (tmp_path / "42" / "stat").write_text(f"42 (java (kafka) x) {' '.join(fields)}\n")
    assert process_cpu_seconds(42, proc=tmp_path) == pytest.approx(5.0)


def test_even_assignment_gives_every_broker_the_same_share() -> None:
    assignment = even_assignment(24, 2, [3, 1, 2])
    counts = {b: sum(b in replicas for replicas in assignment.values()) for b in (1, 2, 3)}
    leaders = {b: sum(replicas[0] == b for replicas in assignment.values()) for b in (1, 2, 3)}
    assert counts == {1: 16, 2: 16, 3: 16} and leaders == {1: 8, 2: 8, 3: 8}
    assert all(len(set(r)) == 2 for r in assignment.values())
    with pytest.raises(ValueError, match="needs at least 3 brokers"):
        even_assignment(3, 3, [1, 2])


# ---------------------------------------------------------------------- cluster adapters on a fake cluster
class FakeCluster:
    def __init__(self, brokers: int = 3) -> None:
        self.pids = {i: 1000 + i for i in range(1, brokers + 1)}
        self.release = threading.Event()
        self.stopped: list[int] = []

    def broker_pids(self) -> dict[int, int]:
        return dict(self.pids)

    def racks(self) -> dict[int, str]:
        return {i: f"az-{(i - 1) % 3 + 1}" for i in self.pids}

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(f"127.0.0.1:{9000 + i}" for i in self.pids)

    def add_broker(self) -> int:
        self.release.wait(5)
        new = max(self.pids) + 1
        self.pids[new] = 1000 + new
        return new

    def stop_broker(self, node_id: int, *, unregister: bool = False) -> None:
        self.stopped.append(node_id)
        del self.pids[node_id]


class FakeAdmin:
    def __init__(self, replicas: dict[int, list[int]]) -> None:
        self.replicas = replicas

    def describe_topics(self, topics: Any = None) -> list[dict[str, Any]]:
        return [
            {
                "error_code": 0,
                "name": "orders",
                "partitions": [
                    {"partition_index": p, "leader_id": r[0], "replica_nodes": r} for p, r in self.replicas.items()
                ],
            }
        ]


ARN = "arn:aws:kafka:local:000000000000:cluster/demo/x"


def adapters(cluster: FakeCluster, admin: FakeAdmin) -> tuple[LocalBrokers, LocalClusterReader, LocalClusterControl]:
    brokers = LocalBrokers(cluster, clock=lambda: 100.0, volume_gib=10)  # type: ignore[arg-type]
    return brokers, LocalClusterReader(brokers, ARN, az_count=1), LocalClusterControl(brokers, admin, lambda: 100.0)


def test_a_scale_out_reports_updating_until_the_broker_has_started() -> None:
    cluster = FakeCluster()
    brokers, reader, control = adapters(cluster, FakeAdmin({0: [1, 2]}))
    before = reader.describe()
    assert (before.state, before.broker_count, before.az_count, before.instance_type) == ("ACTIVE", 3, 1, "local")
    control.update_broker_count(before.current_version, 4)
    during = reader.describe()
    assert (during.state, during.operation_in_progress, during.broker_count) == ("UPDATING", "UPDATE_BROKER_COUNT", 3)
    with pytest.raises(ActionError, match="in progress"):
        control.update_broker_count(during.current_version, 5)
    cluster.release.set()
    brokers.wait(5)
    after = reader.describe()
    assert (after.state, after.broker_count) == ("ACTIVE", 4)
    assert int(after.current_version) > int(before.current_version)


def test_a_stale_version_is_refused_as_msk_does() -> None:
    _, reader, control = adapters(FakeCluster(), FakeAdmin({}))
    stale = reader.describe().current_version
    control.update_broker_storage(stale, 20)
    with pytest.raises(ActionError, match="stale"):
        control.update_broker_storage(stale, 30)
    assert reader.describe().volume_gib == 20


def test_volumes_only_grow() -> None:
    _, reader, control = adapters(FakeCluster(), FakeAdmin({}))
    with pytest.raises(ActionError, match="only grow"):
        control.update_broker_storage(reader.describe().current_version, 10)


def test_a_scale_in_stops_only_empty_brokers() -> None:
    cluster = FakeCluster(brokers=4)
    admin = FakeAdmin({0: [1, 4], 1: [2, 3]})
    brokers, reader, control = adapters(cluster, admin)
    with pytest.raises(ActionError, match=r"brokers \[4\] still hold partitions"):
        control.update_broker_count(reader.describe().current_version, 3)
    admin.replicas = {0: [1, 2], 1: [2, 3]}
    control.update_broker_count(reader.describe().current_version, 3)
    brokers.wait(5)
    assert cluster.stopped == [4] and reader.describe().broker_count == 3


def test_a_failed_change_is_kept_and_the_cluster_stays_usable() -> None:
    cluster = FakeCluster()

    def broken() -> int:
        raise RuntimeError("java exited")

    cluster.add_broker = broken  # type: ignore[method-assign]
    brokers, reader, control = adapters(cluster, FakeAdmin({}))
    control.update_broker_count(reader.describe().current_version, 4)
    brokers.wait(5)
    assert brokers.last_error == "RuntimeError: java exited"
    assert (reader.describe().state, reader.describe().broker_count) == ("ACTIVE", 3)


# ---------------------------------------------------------------------- the consumer pool, processes faked
class FakeProcess:
    next_pid = 500

    def __init__(self) -> None:
        FakeProcess.next_pid += 1
        self.pid = FakeProcess.next_pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        return self.returncode


@pytest.fixture
def spawned(monkeypatch: pytest.MonkeyPatch) -> list[FakeProcess]:
    started: list[FakeProcess] = []

    def spawn(module: str, args: list[str], log: Path) -> FakeProcess:
        assert module == "kafka_autoscaler.local.worker"
        started.append(FakeProcess())
        return started[-1]

    def request_stop(process: FakeProcess) -> None:
        process.returncode = -15

    monkeypatch.setattr(consumers_module.processes, "spawn_module", spawn)
    monkeypatch.setattr(consumers_module.processes, "request_stop", request_stop)
    return started


def pool(clock: Callable[[], float]) -> LocalServices:
    return LocalServices("127.0.0.1:9092", Path("/tmp/unused"), clock, cost_ms=20, start_delay_s=3)


def test_new_tasks_start_after_the_delay_and_are_pending_until_then(spawned: list[FakeProcess]) -> None:
    now = [0.0]
    services = pool(lambda: now[0])
    b = binding()
    services.set_desired(b, 3)
    state = services.describe([b])[b.group_id]
    assert (state.desired, state.running, state.pending) == (3, 0, 3)
    now[0] = 3.0
    state = services.describe([b])[b.group_id]
    assert (state.running, state.pending, len(spawned)) == (3, 0, 3)


def test_a_scale_in_drops_pending_tasks_first_then_the_newest(spawned: list[FakeProcess]) -> None:
    now = [0.0]
    services = pool(lambda: now[0])
    b = binding()
    services.set_desired(b, 2)
    now[0] = 3.0
    services.reconcile()
    services.set_desired(b, 4)
    services.set_desired(b, 1)
    state = services.describe([b])[b.group_id]
    assert (state.desired, state.running, state.pending) == (1, 1, 0)
    assert [p.returncode for p in spawned] == [None, -15], "the newest running task was stopped"


def test_a_task_that_dies_is_replaced(spawned: list[FakeProcess]) -> None:
    now = [0.0]
    services = pool(lambda: now[0])
    b = binding()
    services.set_desired(b, 1)
    now[0] = 3.0
    services.reconcile()
    spawned[0].returncode = 1
    now[0] = 4.0
    assert services.describe([b])[b.group_id].pending == 1
    now[0] = 7.0
    assert services.describe([b])[b.group_id].running == 1 and len(spawned) == 2


def test_unknown_services_are_left_out_and_bad_counts_refused(spawned: list[FakeProcess]) -> None:
    services = pool(lambda: 0.0)
    assert services.describe([binding()]) == {}
    with pytest.raises(ActionError, match="negative"):
        services.set_desired(binding(), -1)
    with pytest.raises(ActionError, match="exactly one topic"):
        services.set_desired(binding(topics=["a", "b"]), 1)
