"""DynamoStateStore against moto: lease, versioned saves, chunked offsets, the decision log."""

from __future__ import annotations

import dataclasses
import json
import logging
import random
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from kafka_autoscaler.model import (
    Action,
    Decision,
    OffsetSample,
    Outcome,
    OutcomeStatus,
    Reason,
    ScalerState,
    Target,
    Workflow,
)
from kafka_autoscaler.ports import StateConflictError
from kafka_autoscaler.state.codec import StateCodecError
from kafka_autoscaler.state.dynamodb import LOG_TTL_S, DynamoStateStore
from moto import mock_aws
from moto_tables import create_state_table

REGION = "eu-west-1"
TABLE = "kafka-autoscaler-state"
CLUSTER = "arn:aws:kafka:eu-west-1:123456789012:cluster/orders/6f1d2c3b-1a2b-4c5d-9e8f-0a1b2c3d4e5f-2"
NOW = 1_700_000_000.0
ITEM_LIMIT = 350 * 1024


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


# ---------------------------------------------------------------- offsets
def big_history(partitions: int, samples: int = 48, commits: int = 12) -> ScalerState:
    rng = random.Random(42)
    moments = [NOW - 60 * (samples - i) + rng.random() for i in range(samples)]
    end: dict[str, tuple[OffsetSample, ...]] = {}
    committed: dict[str, tuple[OffsetSample, ...]] = {}
    for p in range(partitions):
        offset, rate = rng.randrange(10**9), rng.uniform(10, 2000)
        series = []
        for t in moments:
            offset += int(rate * 60 * rng.uniform(0.8, 1.2))
            series.append(OffsetSample(t, offset))
        end[f"orders:{p}"] = tuple(series)
        committed[f"orders-processor|orders:{p}"] = tuple(
            OffsetSample(s.t, s.offset - rng.randrange(5000)) for s in series[-commits:]
        )
    return ScalerState(end_offsets=end, commits=committed)


def test_ten_thousand_partitions_round_trip_with_every_item_under_350_kb(dynamodb: Any) -> None:
    state = big_history(10_000)
    store(dynamodb).save(state, [], NOW)

    chunks = items(dynamodb, "offsets#")
    assert len(chunks) == 6  # ~2 MB compressed, in chunks of at most 340 KiB
    assert max(item_size(i) for i in chunks) < ITEM_LIMIT
    assert {i["generation"]["N"] for i in chunks} == {"1"}
    loaded = store(dynamodb).load()
    assert loaded.end_offsets == state.end_offsets
    assert loaded.commits == state.commits


def test_chunks_no_longer_needed_are_deleted(dynamodb: Any) -> None:
    writer = store(dynamodb)
    writer.save(big_history(3000), [], NOW)
    before = {i["sk"]["S"] for i in items(dynamodb, "offsets#")}
    small = dataclasses.replace(
        big_history(10), version=1, end_offsets={**big_history(10).end_offsets, "payments:0": (OffsetSample(NOW, 1),)}
    )
    store(dynamodb).save(small, [], NOW + 60)  # a fresh store: it must find the old chunks itself
    after = {i["sk"]["S"] for i in items(dynamodb, "offsets#")}
    assert len(before) > 1
    assert after == {"offsets#orders#0000", "offsets#payments#0000"}
    assert store(dynamodb).load().end_offsets == small.end_offsets


def test_a_topic_with_a_missing_chunk_starts_its_history_anew(dynamodb: Any, caplog: pytest.LogCaptureFixture) -> None:
    state = dataclasses.replace(big_history(3000), commits={})
    state = dataclasses.replace(state, end_offsets={**state.end_offsets, "payments:0": (OffsetSample(NOW, 5),)})
    store(dynamodb).save(state, [], NOW)
    dynamodb.delete_item(TableName=TABLE, Key={"pk": {"S": CLUSTER}, "sk": {"S": "offsets#orders#0001"}})
    with caplog.at_level(logging.WARNING):
        loaded = store(dynamodb).load()
    assert loaded.end_offsets == {"payments:0": (OffsetSample(NOW, 5),)}
    assert "topic orders is incomplete" in caplog.text


def test_an_unreadable_offsets_blob_starts_that_topic_anew(dynamodb: Any, caplog: pytest.LogCaptureFixture) -> None:
    store(dynamodb).save(full_state(), [], NOW)
    dynamodb.update_item(
        TableName=TABLE,
        Key={"pk": {"S": CLUSTER}, "sk": {"S": "offsets#orders#0000"}},
        UpdateExpression="SET #d = :garbage",
        ExpressionAttributeNames={"#d": "data"},
        ExpressionAttributeValues={":garbage": {"B": b"not zlib"}},
    )
    with caplog.at_level(logging.WARNING):
        loaded = store(dynamodb).load()
    assert loaded.end_offsets == {"payments:3": (OffsetSample(NOW, 7),)} and loaded.commits == {}
    assert loaded.task_throughput == full_state().task_throughput
    assert "topic orders is unreadable" in caplog.text


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
