"""The Kafka lag reader without a broker: lag arithmetic, partial failures, client settings, output."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

import pytest
from kafka.errors import GroupAuthorizationFailedError, IncompatibleBrokerVersion, KafkaConnectionError
from kafka.structs import OffsetAndMetadata, OffsetAndTimestamp, TopicPartition
from kafka_autoscaler.cli.lag import GroupView, PartitionView, _seconds, _servers, as_table
from kafka_autoscaler.config import ClusterSettings, ConsumerBinding, EcsService
from kafka_autoscaler.lag.health import Status
from kafka_autoscaler.lag.observation import GroupOffsets, OffsetsRead, build_observation
from kafka_autoscaler.lag.timelag import TimeLag
from kafka_autoscaler.model import GroupLag, OffsetSample, PartitionLag, ScalerState
from kafka_autoscaler.observe.kafka_client import KafkaAuthError, ScramCredentials, admin_kwargs
from kafka_autoscaler.observe.kafka_lag import KafkaLagSource

ARN = "arn:aws:kafka:eu-west-1:123456789012:cluster/orders/6f1d2c3b-1a2b"
NOW = 1000.0


def partition_lag(
    end: int,
    committed: int | None,
    log_start: int | None,
    ends: tuple[OffsetSample, ...] = (),
    commits: tuple[OffsetSample, ...] = (),
) -> PartitionLag:
    """Partition t[0] of group g, read through build_observation with the given kept samples."""
    offsets = {} if committed is None else {("t", 0): committed}
    group = GroupOffsets("g", "Stable", 1, frozenset({("t", 0)}), offsets)
    start = {} if log_start is None else {("t", 0): log_start}
    read = OffsetsRead({"g": group}, {"g": ("t",)}, {"t": (0,)}, {("t", 0): end}, start)
    state = ScalerState(end_offsets={"t:0": ends}, commits={"g|t:0": commits})
    return build_observation(read, state, NOW).groups["g"].partitions[0]


@pytest.mark.parametrize(
    ("end", "committed", "log_start", "expected_lag", "why"),
    [
        (100, 40, 0, 60, "end minus commit"),
        (100, 10, 30, 90, "commit below the log start: Kafka's LAG still counts from the commit"),
        (100, 120, 0, 0, "commit past the end (truncated log): never negative"),
        (100, None, 30, 70, "no commit: from the log start, where Kafka's tool prints '-'"),
        (100, None, None, 0, "no commit, log start unknown: from the end"),
    ],
)
def test_partition_lag(end: int, committed: int | None, log_start: int | None, expected_lag: int, why: str) -> None:
    row = partition_lag(end, committed, log_start)
    assert (row.committed_offset, row.lag) == (committed, expected_lag), why


def test_partition_lag_uses_the_kept_history_for_rates_time_lag_and_stall() -> None:
    ends = (OffsetSample(700.0, 0), OffsetSample(900.0, 400))
    commits = (OffsetSample(800.0, 100), OffsetSample(900.0, 100))
    row = partition_lag(600, 100, 0, ends, commits)
    assert row.produce_rate == pytest.approx(2.0)  # 400 -> 600 since the previous sample, 100 s ago
    assert row.time_lag_s == pytest.approx(250.0)  # offset 100 was written at t=750
    assert row.consume_rate == 0.0
    assert row.stalled_for_s == pytest.approx(200.0)  # unchanged since the sample at t=800


class FakeAdmin:
    """Answers like kafka-python 3's KafkaAdminClient; `refuse` makes a group's batch fail."""

    def __init__(self, refuse: frozenset[str] = frozenset(), unreachable: bool = False) -> None:
        self.refuse = refuse
        self.unreachable = unreachable
        self.calls: list[str] = []

    def describe_groups(self, ids: list[str]) -> dict[str, Any]:
        self.calls.append(f"describe {sorted(ids)}")
        if self.unreachable:
            raise KafkaConnectionError("broker gone")
        if self.refuse & set(ids):
            raise GroupAuthorizationFailedError("not allowed")
        return {g: {"group_state": "Stable", "error": None, "members": [_member("orders", [0, 1])]} for g in ids}

    def list_group_offsets(self, specs: Mapping[str, None]) -> dict[str, Any]:
        return {g: {TopicPartition("orders", 0): OffsetAndMetadata(5, "", -1)} for g in specs}

    def list_groups(self) -> list[dict[str, Any]]:
        return []

    def describe_topics(self, topics: list[str]) -> list[dict[str, Any]]:
        return [
            {"name": t, "error_code": 0, "partitions": [{"partition_index": p, "leader_id": 1} for p in range(2)]}
            for t in topics
        ]

    def list_partition_offsets(self, specs: Mapping[TopicPartition, Any]) -> dict[TopicPartition, Any]:
        self.calls.append(f"offsets {len(specs)} {next(iter(specs.values())).name}")
        latest = int(next(iter(specs.values()))) == -1
        return {tp: OffsetAndTimestamp(20 if latest else 2, -1, None) for tp in specs}


def _member(topic: str, partitions: list[int]) -> dict[str, Any]:
    return {"member_assignment": {"assigned_partitions": [{"topic": topic, "partitions": partitions}]}}


def _binding(group_id: str) -> ConsumerBinding:
    return ConsumerBinding(group_id=group_id, ecs=EcsService(cluster="c", service=group_id))


def test_a_refused_group_is_left_out_and_named_while_the_others_are_read() -> None:
    admin = FakeAdmin(refuse=frozenset({"secret"}))
    observed = KafkaLagSource(admin).read([_binding("open"), _binding("secret")], ScalerState(), NOW)
    assert set(observed.groups) == {"open"}
    assert observed.problems == (
        "group secret could not be described: [Error 30] GroupAuthorizationFailedError: not allowed",
    )
    group = observed.groups["open"]
    assert [(p.partition, p.committed_offset, p.lag) for p in group.partitions] == [(0, 5, 15), (1, None, 18)]
    assert (group.state, group.members, group.total_lag) == ("Stable", 1, 33)
    assert set(observed.end_offsets) == {"orders:0", "orders:1"}
    assert set(observed.commits) == {"open|orders:0"}
    # One batched call, then one per group to find the refused one.
    assert admin.calls[:3] == ["describe ['open', 'secret']", "describe ['open']", "describe ['secret']"]
    assert admin.calls[3:] == ["offsets 2 LATEST", "offsets 1 EARLIEST"]


def test_an_unreachable_broker_leaves_every_group_out_with_one_problem() -> None:
    observed = KafkaLagSource(FakeAdmin(unreachable=True)).read([_binding("a"), _binding("b")], ScalerState(), NOW)
    assert observed.groups == {}
    assert len(observed.problems) == 1
    assert "Kafka could not be read" in observed.problems[0]


def test_a_group_unknown_to_describe_but_with_commits_is_reported_without_members() -> None:
    class NewProtocolAdmin(FakeAdmin):
        def describe_groups(self, ids: list[str]) -> dict[str, Any]:
            return {g: {"group_state": "Dead", "error": "GroupIdNotFoundError", "members": []} for g in ids}

    class OldBroker:  # before Kafka 4.0: no ConsumerGroupDescribe
        def describe_consumer_groups(self, ids: list[str]) -> dict[str, Any]:
            raise IncompatibleBrokerVersion("ConsumerGroupDescribe")

    source = KafkaLagSource(NewProtocolAdmin(), requests=OldBroker())  # type: ignore[arg-type]
    group = source.read([_binding("kip848")], ScalerState(), NOW).groups["kip848"]
    assert (group.state, group.members) == ("Unknown", None)

    class ListingAdmin(NewProtocolAdmin):
        def list_groups(self) -> list[dict[str, Any]]:
            return [{"group_id": "kip848", "group_state": "Stable", "group_type": "consumer"}]

    source = KafkaLagSource(ListingAdmin(), requests=OldBroker())  # type: ignore[arg-type]
    group = source.read([_binding("kip848")], ScalerState(), NOW).groups["kip848"]
    assert (group.state, group.members) == ("Stable", None), "the ListGroups state where that is all there is"


@pytest.mark.parametrize(
    ("mechanism", "expected"),
    [
        ("iam", {"security_protocol": "SASL_SSL", "sasl_mechanism": "AWS_MSK_IAM"}),
        ("tls", {"security_protocol": "SSL"}),
        ("plaintext", {"security_protocol": "PLAINTEXT"}),
    ],
)
def test_admin_kwargs_per_mechanism(mechanism: str, expected: dict[str, str]) -> None:
    cluster = ClusterSettings(arn=ARN, bootstrap_servers="b-1:9098, b-2:9098", auth={"mechanism": mechanism})
    kwargs = admin_kwargs(cluster)
    assert {k: kwargs[k] for k in expected} == expected
    assert kwargs["bootstrap_servers"] == ["b-1:9098", "b-2:9098"]
    assert "sasl_plain_password" not in kwargs


def test_scram_takes_the_credentials_from_the_caller_and_hides_the_password() -> None:
    cluster = ClusterSettings(
        arn=ARN, bootstrap_servers="b-1:9096", auth={"mechanism": "scram", "scram_secret_arn": "arn:secret"}
    )
    with pytest.raises(KafkaAuthError, match="arn:secret"):
        admin_kwargs(cluster)
    credentials = ScramCredentials("scaler", "s3cret")
    kwargs = admin_kwargs(cluster, credentials)
    assert (kwargs["security_protocol"], kwargs["sasl_mechanism"]) == ("SASL_SSL", "SCRAM-SHA-512")
    assert (kwargs["sasl_plain_username"], kwargs["sasl_plain_password"]) == ("scaler", "s3cret")
    assert "s3cret" not in repr(credentials)


@pytest.mark.parametrize("text", ["-1", "soon", "nan", "inf"])
def test_interval_must_be_a_finite_number_of_seconds(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        _seconds(text)


def test_table_aligns_columns_and_says_na_for_what_one_read_cannot_tell() -> None:
    rows = (
        PartitionLag("orders", 0, 120, 100, 20),
        PartitionLag("orders", 11, 5, None, 5, time_lag_s=3.0, produce_rate=1.5),
    )
    group = GroupLag("g", "kafka", 25, None, None, None, 2, rows, state="Stable", members=2)
    views = (
        PartitionView(rows[0], None, None, "history_too_short"),
        PartitionView(rows[1], TimeLag(3.0, lower_bound=True), Status.STALL, "stalled"),
    )
    lines = as_table([GroupView(group, views, Status.ERR)]).splitlines()
    assert lines[0] == ("group g: state Stable, members 2, partitions 2, total lag 25, max time lag n/a, status ERR")
    header, first, second, _, note = lines[2:]
    assert note.startswith(">= : a lower bound")
    assert first.split() == ["g", "orders", "0", "100", "120", "20", "n/a", "n/a", "n/a", "n/a"]
    assert second.split() == ["g", "orders", "11", "-", "5", "5", ">=3.0s", "1.5", "n/a", "STALL"]
    assert header.index("STATUS") == second.index("STALL") == first.rindex("n/a")


def test_group_time_lag_is_the_oldest_partition_and_keeps_the_lower_bound_flag() -> None:
    rows = (PartitionLag("t", 0, 10, 5, 5), PartitionLag("t", 1, 10, 9, 1), PartitionLag("t", 2, 10, 10, 0))
    group = GroupLag("g", "kafka", 6, None, None, None, 3, rows)
    views = (
        PartitionView(rows[0], TimeLag(4.0, lower_bound=True), None, "history_too_short"),
        PartitionView(rows[1], TimeLag(2.5), None, "history_too_short"),
        PartitionView(rows[2], TimeLag(0.0), Status.OK, "lag_is_zero"),
    )
    assert GroupView(group, views, Status.OK).max_time_lag == TimeLag(4.0, lower_bound=True)
    unknown = (views[0], PartitionView(rows[1], None, None, "history_too_short"))
    assert GroupView(group, unknown, None).max_time_lag is None


@pytest.mark.parametrize("text", ["b-1.example.com", "b-1:", ":9092", "b-1:70000", "b-1:0", "a:9092,", "b-1:9x"])
def test_a_bootstrap_address_needs_a_host_and_a_port_from_1_to_65535(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="host:port with a port from 1 to 65535"):
        _servers(text)


def test_several_bootstrap_addresses_are_accepted() -> None:
    assert _servers("a:9092,b.example.com:9098") == "a:9092,b.example.com:9098"
