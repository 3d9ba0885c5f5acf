"""DynamoStateStore against moto: lease, versioned saves, offset histories in segments, crashes, the decision log."""

from __future__ import annotations

import dataclasses
import json
import logging
import random
from collections.abc import Iterator
from typing import Any

import boto3
import numpy as np
import pytest
from kafka_autoscaler.lag.history import (
    COMMIT_MAX_AGE_S,
    COMMIT_MAX_SAMPLES,
    END_OFFSET_MAX_AGE_S,
    END_OFFSET_MAX_SAMPLES,
    SampleTable,
    append_sample,
    record_offsets,
)
from kafka_autoscaler.lag.observation import GroupOffsets, OffsetsRead, build_observation
from kafka_autoscaler.model import (
    Action,
    Decision,
    OffsetSample,
    Outcome,
    OutcomeStatus,
    RateHistory,
    RateSeries,
    Reason,
    ScalerState,
    Target,
    Workflow,
)
from kafka_autoscaler.ports import StateConflictError
from kafka_autoscaler.state.codec import StateCodecError
from kafka_autoscaler.state.dynamodb import (
    CHUNK_BYTES,
    LAYOUT_REFRESH_S,
    LAYOUT_TTL_S,
    LOG_TTL_S,
    RATE_HISTORY_REFRESH_S,
    RATE_HISTORY_SAVE_S,
    RATE_HISTORY_TTL_S,
    RATES_PREFIX,
    SEGMENT_TTL_S,
    DynamoStateStore,
)
from kafka_autoscaler.state.rate_history import COARSE_KEEP, FINE_KEEP_MIN, add_sample
from moto import mock_aws
from moto_tables import create_state_table

REGION = "eu-west-1"
TABLE = "kafka-autoscaler-state"
CLUSTER = "arn:aws:kafka:eu-west-1:123456789012:cluster/orders/6f1d2c3b-1a2b-4c5d-9e8f-0a1b2c3d4e5f-2"
NOW = 1_700_000_000.0


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        create_state_table(client, TABLE)
        client.update_time_to_live(
            TableName=TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
        )
        yield client


def store(client: Any) -> DynamoStateStore:
    return DynamoStateStore(client, TABLE, CLUSTER)


def items(client: Any, prefix: str = "") -> list[dict[str, Any]]:
    found = [item for page in client.get_paginator("scan").paginate(TableName=TABLE) for item in page["Items"]]
    return sorted((i for i in found if i["sk"]["S"].startswith(prefix)), key=lambda i: i["sk"]["S"])


def item_size(item: dict[str, Any]) -> int:
    """DynamoDB's item size: attribute names plus values (numbers counted generously as their text)."""
    total = 0
    for name, value in item.items():
        ((kind, data),) = value.items()
        total += len(name.encode()) + (len(data) if kind == "B" else len(str(data).encode()))
    return total


def outcome(action: Action, status: OutcomeStatus = OutcomeStatus.APPLIED, key: str = "consumer:orders") -> Outcome:
    reason = Reason.LAG_ABOVE_TARGET if action is Action.SCALE_OUT else Reason.WITHIN_TOLERANCE
    return Outcome(Decision(Target.CONSUMERS, key, action, 2, 4, reason, "why"), status, "detail")


def full_state() -> ScalerState:
    return ScalerState(
        last_action_t={"consumer:orders": NOW - 30},
        recommendations={"consumer:orders": ((NOW - 60, 4), (NOW, 6))},
        end_offsets={
            "orders:0": (OffsetSample(NOW - 60, 100), OffsetSample(NOW, 160)),
            "payments:3": (OffsetSample(NOW, 7),),
        },
        commits={"orders-processor|orders:0": (OffsetSample(NOW, 120),)},
        task_throughput={"orders-processor": 512.5},
        low_load_since=NOW - 3600,
        workflows=(
            Workflow("broker_scale_out", NOW - 600, 3, 6, "arn:aws:kafka:op/1"),
            Workflow("broker_drain", NOW, 6, 3, None, (4, 5, 6)),
        ),
        last_notified={"consumer:orders": "scale_out:LagAboveTarget:6:applied"},
    )


# ---------------------------------------------------------------- lease
def test_a_second_invocation_cannot_take_a_held_lease(dynamodb: Any) -> None:
    first, second = store(dynamodb), store(dynamodb)
    assert first.acquire_lease("request-1", NOW, 300)
    assert not second.acquire_lease("request-2", NOW + 1, 300)
    assert first.acquire_lease("request-1", NOW + 2, 300)  # the holder may renew


def test_an_expired_lease_is_taken_over_and_the_old_holder_cannot_release_it(dynamodb: Any) -> None:
    first, second = store(dynamodb), store(dynamodb)
    assert first.acquire_lease("request-1", NOW, 300)
    assert second.acquire_lease("request-2", NOW + 301, 300)
    first.release_lease("request-1")  # too late: it must not free request-2's lease
    assert not first.acquire_lease("request-1", NOW + 302, 300)
    second.release_lease("request-2")
    assert first.acquire_lease("request-1", NOW + 303, 300)


def test_the_lease_item_expires_through_ttl(dynamodb: Any) -> None:
    store(dynamodb).acquire_lease("request-1", NOW, 300)
    [lease] = items(dynamodb, "lease")
    assert lease["owner"] == {"S": "request-1"} and float(lease["expires_at"]["N"]) == NOW + 300


# ---------------------------------------------------------------- state
def test_a_fresh_table_loads_an_empty_state(dynamodb: Any) -> None:
    assert store(dynamodb).load() == ScalerState()


def test_saved_state_round_trips_with_the_next_version(dynamodb: Any) -> None:
    store(dynamodb).save(full_state(), [], NOW)
    assert store(dynamodb).load() == dataclasses.replace(full_state(), version=1)
    loaded = store(dynamodb).load()
    store(dynamodb).save(loaded, [], NOW + 60)
    assert store(dynamodb).load().version == 2


def test_a_stale_save_raises_state_conflict_and_changes_nothing(dynamodb: Any) -> None:
    first, second = store(dynamodb), store(dynamodb)
    first.save(first.load(), [], NOW)  # version 1
    a, b = first.load(), second.load()  # both at version 1
    first.save(dataclasses.replace(a, task_throughput={"g": 1.0}), [outcome(Action.SCALE_OUT)], NOW + 60)
    with pytest.raises(StateConflictError, match="since version 1 was loaded"):
        second.save(dataclasses.replace(b, task_throughput={"g": 2.0}), [outcome(Action.SCALE_OUT)], NOW + 61)
    assert store(dynamodb).load().task_throughput == {"g": 1.0}
    assert len(items(dynamodb, "log#")) == 1
    with pytest.raises(StateConflictError):  # a first save over an existing state is stale too
        store(dynamodb).save(ScalerState(), [], NOW + 62)


def test_an_unreadable_state_document_raises_a_named_error(dynamodb: Any) -> None:
    dynamodb.put_item(
        TableName=TABLE,
        Item={"pk": {"S": CLUSTER}, "sk": {"S": "state"}, "doc": {"S": "{not json"}, "version": {"N": "3"}},
    )
    with pytest.raises(StateCodecError, match=r"sk=state.* is unreadable: .*delete the item to start"):
        store(dynamodb).load()


# ---------------------------------------------------------------- offset histories
class Recorder:
    """The moto client, recording every call; `crash_after` writes raise CrashError (an invocation cut short)."""

    WRITES = frozenset({"put_item", "delete_item", "update_item", "batch_write_item"})

    def __init__(self, client: Any, crash_after: int | None = None) -> None:
        self._client = client
        self.crash_after = crash_after
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._client, name)

        def recorded(**kwargs: Any) -> Any:
            if name in self.WRITES and self.crash_after is not None and self.writes() >= self.crash_after:
                raise CrashError(name)
            self.calls.append((name, kwargs))
            return call(**kwargs)

        return recorded

    def writes(self) -> int:
        return sum(1 for name, _ in self.calls if name in self.WRITES)

    def written(self) -> list[dict[str, Any]]:
        return [kwargs["Item"] for name, kwargs in self.calls if name == "put_item"]


class CrashError(Exception):
    pass


class Cluster:
    """Partitions and groups ticking along: offsets grow, groups commit, partitions come and go."""

    def __init__(self, topics: dict[str, int], groups: dict[str, tuple[str, ...]], seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.topics = dict(topics)
        self.groups = dict(groups)
        self.end: dict[tuple[str, int], int] = {}
        self.committed: dict[tuple[str, str, int], int] = {}

    def tick(self, now: float) -> OffsetsRead:
        for topic, count in self.topics.items():
            for p in range(count):
                self.end[topic, p] = self.end.get((topic, p), self.rng.randrange(10**9)) + self.rng.randrange(50_000)
        groups = {}
        for group, topics in self.groups.items():
            committed = {}
            for topic in topics:
                for p in range(self.topics.get(topic, 0)):
                    lag = self.rng.randrange(100_000)
                    position = max(self.committed.get((group, topic, p), 0), self.end[topic, p] - lag)
                    self.committed[group, topic, p] = committed[topic, p] = position
            groups[group] = GroupOffsets(group, "Stable", 2, frozenset(committed), committed)
        return OffsetsRead(
            groups=groups,
            topics={g: tuple(t for t in ts if t in self.topics) for g, ts in self.groups.items()},
            partitions={t: tuple(range(n)) for t, n in self.topics.items()},
            end={tp: o for tp, o in self.end.items() if tp[1] < self.topics.get(tp[0], 0)},
            start={},
        )


def kafka_groups(observed: Any) -> set[str]:
    return {g.group_id for g in observed.groups.values() if g.source == "kafka"}


def ticked(state: ScalerState, fetched: OffsetsRead, now: float) -> ScalerState:
    """What `record` keeps of one read: the production code path, without a plan."""
    observed = build_observation(fetched, state, now)
    end, commits = record_offsets(
        state.end_offsets, state.commits, observed.end_offsets, observed.commits, kafka_groups(observed), now
    )
    return dataclasses.replace(state, end_offsets=end, commits=commits)


def run(client: Any, cluster: Cluster, ticks: int, start: float = NOW, state: ScalerState | None = None) -> ScalerState:
    writer = store(client)
    state = writer.load() if state is None else state
    for i in range(ticks):
        now = start + 60 * i
        state = ticked(state, cluster.tick(now), now)
        writer.save(state, [], now)
        state = writer.load()
    return state


def test_histories_round_trip_warm_and_cold(dynamodb: Any) -> None:
    cluster = Cluster({"orders": 40, "payments": 8}, {"orders-processor": ("orders",), "audit": ("orders", "payments")})
    warm = run(dynamodb, cluster, 70)
    cold = store(dynamodb).load()
    assert isinstance(cold.end_offsets, SampleTable)
    assert len(cold.end_offsets.columns) == max(len(s) for s in cold.end_offsets.values()) <= END_OFFSET_MAX_SAMPLES
    assert cold == warm
    assert max(len(s) for s in cold.commits.values()) == 12


def test_a_warm_load_reads_the_state_item_alone(dynamodb: Any) -> None:
    cluster = Cluster({"orders": 20}, {"orders-processor": ("orders",)})
    recorder = Recorder(dynamodb)
    writer = store(recorder)
    state = writer.load()
    for i in range(5):
        state = ticked(state, cluster.tick(NOW + 60 * i), NOW + 60 * i)
        writer.save(state, [], NOW + 60 * i)
        recorder.calls.clear()
        state = writer.load()
        assert [name for name, _ in recorder.calls] == ["get_item"]
    recorder.calls.clear()
    assert store(recorder).load() == state  # cold: the state item, then one batch for layouts and segments
    assert [name for name, _ in recorder.calls] == ["get_item", "batch_get_item"]


def test_a_tick_writes_its_new_samples_and_the_state_item_never_the_window(dynamodb: Any) -> None:
    cluster = Cluster({f"t{i}": 100 for i in range(20)}, {f"g{i}": (f"t{i}",) for i in range(20)})
    state = run(dynamodb, cluster, 50)
    recorder = Recorder(dynamodb)
    writer = store(recorder)
    state = writer.load()
    recorder.calls.clear()
    state = ticked(state, cluster.tick(NOW + 3000), NOW + 3000)
    writer.save(state, [], NOW + 3000)
    written = recorder.written()
    assert [i["sk"]["S"].split("#")[0] for i in written] == ["seg", "state"]  # keys unchanged: no layout
    assert all(name in {"get_item", "batch_get_item", "put_item"} for name, _ in recorder.calls)  # nothing deleted
    # 2,000 partitions, one end offset and one commit each: about 3 bytes a sample, not the 48 ticks kept.
    assert item_size(written[0]) < 4 * 4_000
    assert item_size(written[1]) < 4096
    assert float(written[0]["expires_at"]["N"]) == NOW + 3000 + SEGMENT_TTL_S


def test_large_segments_and_layouts_are_split_into_chunks_and_read_back(dynamodb: Any) -> None:
    cluster = Cluster({f"t{i}": 1000 for i in range(10)}, {f"g{i}": (f"t{i}",) for i in range(10)})
    writer = DynamoStateStore(dynamodb, TABLE, CLUSTER, chunk_bytes=8 * 1024)
    state = writer.load()
    for i in range(3):
        state = ticked(state, cluster.tick(NOW + 60 * i), NOW + 60 * i)
        writer.save(state, [], NOW + 60 * i)
        state = writer.load()
    chunked = [i["sk"]["S"] for i in items(dynamodb) if i["sk"]["S"].endswith("#001")]
    assert any(k.startswith("seg#") for k in chunked) and any(k.startswith("layout#") for k in chunked)
    assert max(item_size(i) for i in items(dynamodb)) <= 8 * 1024 + 200
    assert store(dynamodb).load() == state


def test_default_chunks_stay_under_half_the_item_limit() -> None:
    # DynamoDB's item limit is 400 KB, attribute names and values included; keys and attributes add < 1 KB.
    # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html
    assert CHUNK_BYTES + 1024 <= 200 * 1000


def test_a_crash_between_any_two_writes_loses_at_most_that_tick() -> None:
    """Every write of a tick that adds partitions (a new layout) and a decision, each cut short in turn."""

    def tick(writer: DynamoStateStore, cluster: Cluster, state: ScalerState, now: float) -> ScalerState:
        state = ticked(state, cluster.tick(now), now)
        writer.save(state, [outcome(Action.SCALE_OUT)], now)
        return state

    def setup(client: Any) -> tuple[Cluster, ScalerState, ScalerState]:
        cluster = Cluster({"orders": 30}, {"orders-processor": ("orders",)})
        writer = DynamoStateStore(client, TABLE, CLUSTER, chunk_bytes=256)  # many chunks: many writes
        state = writer.load()
        for i in range(3):
            state = tick(writer, cluster, state, NOW + 60 * i)
            state = writer.load()
        cluster.topics["payments"] = 20
        cluster.groups["payments-processor"] = ("payments",)
        return cluster, state, writer.load()

    with mock_aws():
        counting = Recorder(boto3.client("dynamodb", region_name=REGION))
        create_state_table(counting, TABLE)
        cluster, state, _ = setup(counting)
        before = counting.writes()
        tick(DynamoStateStore(counting, TABLE, CLUSTER, chunk_bytes=256), cluster, state, NOW + 180)
        writes = counting.writes() - before
        order = [i["sk"]["S"].split("#")[0] for i in counting.written()[-writes:]]
        put_state = order.index("state")
    assert order[0] == "layout" and order.count("seg") > 1 and order[-1] == "log"  # layouts, segment chunks, state, log

    for crash_at in range(writes):
        with mock_aws():
            client = boto3.client("dynamodb", region_name=REGION)
            create_state_table(client, TABLE)
            cluster, state, loaded_before = setup(client)
            crashing = Recorder(client)
            writer = DynamoStateStore(crashing, TABLE, CLUSTER, chunk_bytes=256)
            assert writer.load() == loaded_before
            crashing.crash_after = crash_at
            with pytest.raises(CrashError):
                tick(writer, cluster, state, NOW + 180)
            after = store(client).load()
            if crash_at <= put_state:
                assert after == loaded_before, crash_at  # the tick being written is lost, nothing else
            else:
                assert after.version == loaded_before.version + 1, crash_at  # saved; only its log entry is lost
                assert set(after.end_offsets) == {*loaded_before.end_offsets, *(f"payments:{p}" for p in range(20))}
            assert writer.load() == after  # the store that crashed does not trust what it had in memory
            crashing.crash_after = None
            following = ticked(after, cluster.tick(NOW + 240), NOW + 240)
            writer.save(following, [], NOW + 240)
            assert store(client).load() == writer.load() == dataclasses.replace(following, version=after.version + 1)


def test_a_stale_writer_never_overwrites_what_the_winner_wrote(dynamodb: Any) -> None:
    cluster = Cluster({"orders": 10}, {"orders-processor": ("orders",)})
    run(dynamodb, cluster, 3)
    first, second = store(dynamodb), store(dynamodb)
    a, b = first.load(), second.load()
    fetched = cluster.tick(NOW + 180)
    winner = ticked(a, fetched, NOW + 180)
    first.save(winner, [], NOW + 180)
    with pytest.raises(StateConflictError):
        second.save(ticked(b, fetched, NOW + 180), [], NOW + 180)  # same version, same moment: its own segment
    assert store(dynamodb).load() == dataclasses.replace(winner, version=4)


def test_an_expired_segment_drops_its_samples_only(dynamodb: Any, caplog: pytest.LogCaptureFixture) -> None:
    cluster = Cluster({"orders": 10}, {"orders-processor": ("orders",)})
    full = run(dynamodb, cluster, 5)
    oldest = items(dynamodb, "seg#")[0]["sk"]["S"]
    dynamodb.delete_item(TableName=TABLE, Key={"pk": {"S": CLUSTER}, "sk": {"S": oldest}})  # as TTL would
    with caplog.at_level(logging.WARNING):
        loaded = store(dynamodb).load()
    assert caplog.text.count(": missing 1 columns") == 2  # the tick's end offsets and its commits
    assert {k: v[1:] for k, v in full.end_offsets.items()} == dict(loaded.end_offsets)
    assert loaded.task_throughput == full.task_throughput and loaded.version == full.version


def test_an_unreadable_segment_drops_its_samples(dynamodb: Any, caplog: pytest.LogCaptureFixture) -> None:
    cluster = Cluster({"orders": 10}, {"orders-processor": ("orders",)})
    full = run(dynamodb, cluster, 3)
    newest = items(dynamodb, "seg#")[-1]["sk"]["S"]
    dynamodb.update_item(
        TableName=TABLE,
        Key={"pk": {"S": CLUSTER}, "sk": {"S": newest}},
        UpdateExpression="SET #d = :garbage",
        ExpressionAttributeNames={"#d": "data"},
        ExpressionAttributeValues={":garbage": {"B": b"not zlib"}},
    )
    with caplog.at_level(logging.WARNING):
        loaded = store(dynamodb).load()
    assert f"segment {newest.split('#')[1]}" in caplog.text and "unreadable" in caplog.text
    assert {k: v[:-1] for k, v in full.end_offsets.items()} == dict(loaded.end_offsets)


def test_layouts_are_written_again_before_they_expire(dynamodb: Any) -> None:
    cluster = Cluster({"orders": 10}, {"orders-processor": ("orders",)})
    run(dynamodb, cluster, 1)
    first = {i["sk"]["S"]: int(i["expires_at"]["N"]) for i in items(dynamodb, "layout#")}
    assert set(first.values()) == {int(NOW + LAYOUT_TTL_S)}
    state = run(dynamodb, cluster, 2, start=NOW + LAYOUT_REFRESH_S)
    again = {i["sk"]["S"]: int(i["expires_at"]["N"]) for i in items(dynamodb, "layout#")}
    assert again.keys() == first.keys() and set(again.values()) == {int(NOW + LAYOUT_REFRESH_S + LAYOUT_TTL_S)}
    assert store(dynamodb).load() == state


def test_series_of_vanished_partitions_and_groups_are_pruned_from_the_store(dynamodb: Any) -> None:
    cluster = Cluster({"orders": 10, "payments": 4}, {"orders-processor": ("orders",), "payer": ("payments",)})
    run(dynamodb, cluster, 3)
    cluster.topics["orders"] = 6  # orders recreated with fewer partitions
    del cluster.groups["payer"]  # payer unbound: its commits age out after an hour, payments' ends after 6 h
    state = run(dynamodb, cluster, 2, start=NOW + 180)
    assert set(state.end_offsets) == {f"orders:{p}" for p in range(6)} | {f"payments:{p}" for p in range(4)}
    assert {k.split("|")[0] for k in state.commits} == {"orders-processor", "payer"}
    state = run(dynamodb, cluster, 1, start=NOW + 180 + COMMIT_MAX_AGE_S)
    assert {k.split("|")[0] for k in state.commits} == {"orders-processor"}
    state = run(dynamodb, cluster, 1, start=NOW + 180 + END_OFFSET_MAX_AGE_S)
    assert set(state.end_offsets) == {f"orders:{p}" for p in range(6)}
    assert store(dynamodb).load() == state


def test_time_lag_from_the_new_store_equals_the_old_store_on_the_same_samples(dynamodb: Any) -> None:
    """The old store kept per series `append_sample`'s tuples, exactly (its codec round-tripped them).

    Here every tick is saved and loaded cold through the new store, and the policy's view of lag
    (time lag, rates, stalls per partition) is compared with the one from the old per-series
    histories, on reads with gaps: a group unreadable for some ticks, a clock step back, a topic
    recreated (offsets start again lower), partitions added.
    """
    cluster = Cluster({"orders": 12, "payments": 5}, {"orders-processor": ("orders",), "payer": ("payments", "orders")})
    old = ScalerState()
    new = store(dynamodb).load()
    rng = random.Random(11)
    now = NOW
    for i in range(150):
        now += rng.choice([60.0, 60.0, 60.0, 30.0, 240.0, -20.0])
        if i == 40:
            cluster.topics["orders"] = 16
        if i == 90:
            cluster.end.update({("payments", p): rng.randrange(1000) for p in range(5)})
            cluster.committed.update({("payer", "payments", p): 0 for p in range(5)})
        fetched = cluster.tick(now)
        if i % 7 == 3:  # payer could not be read this tick
            fetched = dataclasses.replace(fetched, groups={g: o for g, o in fetched.groups.items() if g != "payer"})
        seen_old = build_observation(fetched, old, now)
        seen_new = build_observation(fetched, new, now)
        assert seen_new == seen_old, i
        old = dataclasses.replace(
            old,
            end_offsets={
                **old.end_offsets,
                **{
                    k: append_sample(old.end_offsets.get(k, ()), s, now, END_OFFSET_MAX_AGE_S, END_OFFSET_MAX_SAMPLES)
                    for k, s in seen_old.end_offsets.items()
                },
            },
            commits={
                **old.commits,
                **{
                    k: append_sample(old.commits.get(k, ()), s, now, COMMIT_MAX_AGE_S, COMMIT_MAX_SAMPLES)
                    for k, s in seen_old.commits.items()
                },
            },
        )
        new = ticked(new, fetched, now)
        store(dynamodb).save(new, [], now)
        new = store(dynamodb).load()
    lags = [p.time_lag_s for g in seen_new.groups.values() for p in g.partitions]
    assert len(lags) > 30 and all(t is not None and t > 0 for t in lags)


# ---------------------------------------------------------------- decision log
def test_the_log_keeps_changes_and_failures_for_thirty_days(dynamodb: Any) -> None:
    outcomes = [
        outcome(Action.SCALE_OUT),
        outcome(Action.HOLD, key="brokers"),
        outcome(Action.SCALE_OUT, OutcomeStatus.FAILED, key="consumer:audit"),
    ]
    store(dynamodb).save(ScalerState(), outcomes, NOW)
    logged = items(dynamodb, "log#")
    assert [i["sk"]["S"] for i in logged] == ["log#2023-11-14T22:13:20.000Z#000", "log#2023-11-14T22:13:20.000Z#001"]
    assert [json.loads(i["entry"]["S"])["key"] for i in logged] == ["consumer:orders", "consumer:audit"]
    assert [i["status"]["S"] for i in logged] == ["applied", "failed"]
    assert {int(i["expires_at"]["N"]) for i in logged} == {int(NOW) + LOG_TTL_S}
    assert "expires_at" not in items(dynamodb, "state")[0]


# ---------------------------------------------------------------- rate history
def full_rate_history(count: int, seed: int = 7) -> RateHistory:
    """`count` series filled to what rate_history keeps, float32 values (the codec's precision), a few NaN."""
    rng = np.random.default_rng(seed)

    def numbers(n: int) -> tuple[float, ...]:
        values = rng.uniform(0, 5e4, n).astype("<f4")
        values[rng.integers(0, n, 20)] = np.nan  # minutes not seen
        return tuple(float(v) for v in values)

    series = {
        f"consumer:group-{i}": RateSeries(
            NOW - 60 * FINE_KEEP_MIN,
            numbers(FINE_KEEP_MIN),
            3,
            NOW - 60 * FINE_KEEP_MIN - 900 * COARSE_KEEP,
            numbers(COARSE_KEEP),
            (1440,),
            NOW - 3600,
        )
        for i in range(count)
    }
    return RateHistory(series, {"brokers": 1500.0}, {"consumer:group-0": NOW - 600}, {"consumer:group-1": NOW - 30})


def same_rates(a: RateHistory, b: RateHistory) -> bool:
    """Exactly equal, NaN where NaN (NaN != NaN, so tuples of decoded NaN never compare equal)."""

    def same(x: tuple[float, ...], y: tuple[float, ...]) -> bool:
        return len(x) == len(y) and bool(np.array_equal(np.array(x), np.array(y), equal_nan=True))

    return (
        a.series.keys() == b.series.keys()
        and all(
            same(s.values, b.series[k].values)
            and same(s.coarse, b.series[k].coarse)
            and dataclasses.replace(s, values=(), coarse=()) == dataclasses.replace(b.series[k], values=(), coarse=())
            for k, s in a.series.items()
        )
        and (a.lead_times_s, a.scaled_out_at, a.starting_since) == (b.lead_times_s, b.scaled_out_at, b.starting_since)
    )


def with_sample(history: RateHistory, t: float) -> RateHistory:
    key = next(iter(history.series))
    return dataclasses.replace(history, series={**history.series, key: add_sample(history.series[key], t, 123.0)})


def rate_puts(recorder: Recorder) -> list[dict[str, Any]]:
    return [i for i in recorder.written() if i["sk"]["S"].startswith(RATES_PREFIX)]


def test_twelve_full_rate_series_save_and_load_with_every_item_under_the_limit(dynamodb: Any) -> None:
    """https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html: items at most 400 KB."""
    history = full_rate_history(12)
    state = dataclasses.replace(full_state(), rate_history=history)
    store(dynamodb).save(state, [], NOW)
    stored = items(dynamodb)
    assert max(item_size(i) for i in stored) < 400 * 1024
    chunks = [i for i in stored if i["sk"]["S"].startswith(RATES_PREFIX)]
    assert len(chunks) > 1  # the encoded history is bigger than one item may be
    assert all(int(i["expires_at"]["N"]) == int(NOW + RATE_HISTORY_TTL_S) for i in chunks)
    state_item = next(i for i in stored if i["sk"]["S"] == "state")
    assert "rate_history" not in json.loads(state_item["doc"]["S"])
    assert item_size(state_item) < 8 * 1024
    loaded = store(dynamodb).load()  # a cold load: another store instance
    assert same_rates(loaded.rate_history, history)
    assert dataclasses.replace(loaded, rate_history=history) == dataclasses.replace(state, version=1)


def test_the_rate_history_is_written_when_changed_at_most_once_an_interval(dynamodb: Any) -> None:
    recorder = Recorder(dynamodb)
    writer = DynamoStateStore(recorder, TABLE, CLUSTER)
    first = full_rate_history(2)
    writer.save(dataclasses.replace(writer.load(), rate_history=first), [], NOW)
    assert len(rate_puts(recorder)) > 0
    history, now = first, NOW
    for _ in range(int(RATE_HISTORY_SAVE_S // 60) - 1):  # ticks within the interval: kept in memory only
        now += 60
        history = with_sample(history, now)
        before = len(rate_puts(recorder))
        writer.save(dataclasses.replace(writer.load(), rate_history=history), [], now)
        assert len(rate_puts(recorder)) == before
        assert same_rates(writer.load().rate_history, history)  # a warm load has the newest
    assert same_rates(store(dynamodb).load().rate_history, first)  # a cold load has the one written
    now = NOW + RATE_HISTORY_SAVE_S
    history = with_sample(history, now)
    before = len(rate_puts(recorder))
    writer.save(dataclasses.replace(writer.load(), rate_history=history), [], now)
    assert len(rate_puts(recorder)) > before  # due and changed
    assert same_rates(store(dynamodb).load().rate_history, history)
    before = len(rate_puts(recorder))
    writer.save(writer.load(), [], now + 2 * RATE_HISTORY_SAVE_S)  # due, unchanged: not written
    assert len(rate_puts(recorder)) == before
    state = writer.load()
    writer.save(state, [], now + RATE_HISTORY_REFRESH_S)  # unchanged for a day: written again before it expires
    assert len(rate_puts(recorder)) > before
    assert same_rates(store(dynamodb).load().rate_history, history)


def test_an_empty_rate_history_writes_no_chunks(dynamodb: Any) -> None:
    store(dynamodb).save(full_state(), [], NOW)
    assert items(dynamodb, RATES_PREFIX) == []
    assert store(dynamodb).load().rate_history == RateHistory()


def test_a_crash_between_rate_history_chunk_writes_keeps_the_previous_one(dynamodb: Any) -> None:
    first, second = full_rate_history(4, seed=1), full_rate_history(4, seed=2)
    store(dynamodb).save(dataclasses.replace(full_state(), rate_history=first), [], NOW)
    loaded = store(dynamodb).load()
    counting = Recorder(dynamodb)
    DynamoStateStore(counting, TABLE, CLUSTER).save(
        dataclasses.replace(store(dynamodb).load(), rate_history=second), [], NOW + RATE_HISTORY_SAVE_S
    )
    chunks = len(rate_puts(counting))
    assert chunks > 1
    for crash_at in range(1, chunks + 1):  # after the first, ..., after the last chunk: before the state item
        dynamodb.delete_table(TableName=TABLE)
        create_state_table(dynamodb, TABLE)
        store(dynamodb).save(dataclasses.replace(full_state(), rate_history=first), [], NOW)
        crashing = Recorder(dynamodb, crash_after=crash_at)
        writer = DynamoStateStore(crashing, TABLE, CLUSTER)
        state = writer.load()
        with pytest.raises(CrashError):
            writer.save(dataclasses.replace(state, rate_history=second), [], NOW + RATE_HISTORY_SAVE_S)
        assert [i["sk"]["S"].split("#")[0] for i in crashing.written()][-1] == "rates"
        after = store(dynamodb).load()
        assert after.version == loaded.version
        assert same_rates(after.rate_history, first), crash_at


def test_lost_rate_history_chunks_start_it_anew(dynamodb: Any, caplog: pytest.LogCaptureFixture) -> None:
    store(dynamodb).save(dataclasses.replace(full_state(), rate_history=full_rate_history(2)), [], NOW)
    for item in items(dynamodb, RATES_PREFIX)[:1]:
        dynamodb.delete_item(TableName=TABLE, Key={"pk": item["pk"], "sk": item["sk"]})  # as TTL would
    with caplog.at_level(logging.WARNING):
        loaded = store(dynamodb).load()
    assert loaded.rate_history == RateHistory()  # missing is missing, never zeros
    assert "rate history" in caplog.text
    assert loaded.last_action_t == full_state().last_action_t
