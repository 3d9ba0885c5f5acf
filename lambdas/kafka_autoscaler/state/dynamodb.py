"""The state store on one DynamoDB table: string keys `pk`, `sk`; TTL attribute `expires_at`.

Items under pk = the cluster key:
- `lease`: which invocation runs the tick, until `expires_at`.
- `state`: the ScalerState document (JSON, offsets left out), saved only over the version it was loaded at.
- `offsets#<topic>#<n>`: chunk n of the topic's compressed offset histories. Every chunk of one
  save carries that save's `generation` and the chunk count, so a reader never stitches chunks of
  two saves together.
- `log#<time>#<n>`: the decision log, changes and failures only, expiring after 30 days.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from kafka_autoscaler.model import Outcome, OutcomeStatus, ScalerState
from kafka_autoscaler.ports import StateConflictError
from kafka_autoscaler.state.codec import (
    StateCodecError,
    TopicOffsets,
    decode_offsets,
    decode_state,
    encode_offsets,
    encode_state,
    offsets_by_topic,
    with_offsets,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

logger = logging.getLogger(__name__)

LEASE_SK = "lease"
STATE_SK = "state"
OFFSETS_PREFIX = "offsets#"
LOG_PREFIX = "log#"
LOG_TTL_S = 30 * 86400
# DynamoDB items are at most 400 KB; chunks stay well below with their keys and attributes.
CHUNK_BYTES = 340 * 1024
CONDITION_FAILED = "ConditionalCheckFailedException"

Item = dict[str, "AttributeValueTypeDef"]


def _is_condition_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == CONDITION_FAILED


def _n(value: float) -> AttributeValueTypeDef:
    return {"N": repr(value) if isinstance(value, float) else str(value)}


def chunk_key(topic: str, index: int) -> str:
    return f"{OFFSETS_PREFIX}{topic}#{index:04d}"


def log_key(now: float, index: int) -> str:
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    return f"{LOG_PREFIX}{stamp}Z#{index:03d}"


def split(blob: bytes, size: int = CHUNK_BYTES) -> list[bytes]:
    return [blob[start : start + size] for start in range(0, len(blob), size)] or [b""]


class DynamoStateStore:
    """ports.StateStore on DynamoDB for one cluster (`cluster_key`, e.g. its ARN)."""

    def __init__(self, dynamodb_client: DynamoDBClient, table_name: str, cluster_key: str) -> None:
        self._db = dynamodb_client
        self._table = table_name
        self._pk = cluster_key
        self._stored_chunks: set[str] | None = None  # chunk keys as last loaded or saved

    # ------------------------------------------------------------ lease
    def acquire_lease(self, owner: str, now: float, ttl_s: float) -> bool:
        try:
            self._db.put_item(
                TableName=self._table,
                Item={
                    "pk": {"S": self._pk},
                    "sk": {"S": LEASE_SK},
                    "owner": {"S": owner},
                    "expires_at": _n(now + ttl_s),
                },
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now OR #owner = :me",
                ExpressionAttributeNames={"#owner": "owner"},  # OWNER is a reserved word
                ExpressionAttributeValues={":now": _n(now), ":me": {"S": owner}},
            )
        except ClientError as error:
            if _is_condition_failure(error):
                return False
            raise
        return True

    def release_lease(self, owner: str) -> None:
        try:
            self._db.delete_item(
                TableName=self._table,
                Key=self._key(LEASE_SK),
                ConditionExpression="#owner = :me",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":me": {"S": owner}},
            )
        except ClientError as error:
            if not _is_condition_failure(error):
                raise
            logger.warning("lease of %s was no longer held by %s at release", self._pk, owner)

    # ------------------------------------------------------------ state
    def load(self) -> ScalerState:
        item = self._db.get_item(TableName=self._table, Key=self._key(STATE_SK), ConsistentRead=True).get("Item")
        state = ScalerState()
        if item is not None:
            try:
                doc = decode_state(json.loads(item["doc"]["S"]))
            except (json.JSONDecodeError, StateCodecError) as error:
                raise StateCodecError(
                    f"state item (pk={self._pk}, sk={STATE_SK}) in {self._table} is unreadable: {error}; "
                    "delete the item to start from an empty state"
                ) from error
            state = dataclasses.replace(doc, version=int(item["version"]["N"]))
        return with_offsets(state, self._load_offsets())

    def save(self, state: ScalerState, outcomes: Sequence[Outcome], now: float) -> None:
        version = state.version + 1
        self._put_state(state, version, now)
        self._put_offsets(offsets_by_topic(state), version)
        self._append_log(outcomes, now)

    def _put_state(self, state: ScalerState, version: int, now: float) -> None:
        saved = dataclasses.replace(state, version=version)
        item: Item = {
            **self._key(STATE_SK),
            "doc": {"S": json.dumps(encode_state(saved, with_offsets=False), sort_keys=True, separators=(",", ":"))},
            "version": _n(version),
            "saved_at": _n(now),
        }
        if state.version == 0:
            condition, values = "attribute_not_exists(pk)", None
        else:
            condition, values = "version = :loaded", {":loaded": _n(state.version)}
        try:
            if values is None:
                self._db.put_item(TableName=self._table, Item=item, ConditionExpression=condition)
            else:
                self._db.put_item(
                    TableName=self._table, Item=item, ConditionExpression=condition, ExpressionAttributeValues=values
                )
        except ClientError as error:
            if _is_condition_failure(error):
                raise StateConflictError(
                    f"state of {self._pk} was saved by another invocation since version {state.version} was loaded"
                ) from error
            raise

    # ------------------------------------------------------------ offsets
    def _load_offsets(self) -> dict[str, TopicOffsets]:
        chunks: dict[str, list[Item]] = {}
        for item in self._query_prefix(OFFSETS_PREFIX):
            chunks.setdefault(item["topic"]["S"], []).append(item)
        self._stored_chunks = {item["sk"]["S"] for items in chunks.values() for item in items}
        topics: dict[str, TopicOffsets] = {}
        for topic, items in chunks.items():
            generations = {item["generation"]["N"] for item in items}
            expected = {int(item["chunks"]["N"]) for item in items}
            if len(generations) != 1 or expected != {len(items)}:
                logger.warning(
                    "offset history of topic %s is incomplete (a save was cut short); starting it anew", topic
                )
                continue
            ordered = sorted(items, key=lambda item: item["sk"]["S"])
            try:
                topics[topic] = decode_offsets(b"".join(item["data"]["B"] for item in ordered))
            except StateCodecError as error:
                logger.warning("offset history of topic %s is unreadable (%s); starting it anew", topic, error)
        return topics

    def _put_offsets(self, topics: dict[str, TopicOffsets], version: int) -> None:
        previous = self._stored_chunks if self._stored_chunks is not None else self._chunk_keys()
        written: set[str] = set()
        for topic, part in topics.items():
            pieces = split(encode_offsets(part))
            for index, data in enumerate(pieces):
                key = chunk_key(topic, index)
                self._db.put_item(
                    TableName=self._table,
                    Item={
                        **self._key(key),
                        "topic": {"S": topic},
                        "generation": _n(version),
                        "chunks": _n(len(pieces)),
                        "data": {"B": data},
                    },
                )
                written.add(key)
        for stale in sorted(previous - written):
            self._db.delete_item(TableName=self._table, Key=self._key(stale))
        self._stored_chunks = written

    def _chunk_keys(self) -> set[str]:
        return {item["sk"]["S"] for item in self._query_prefix(OFFSETS_PREFIX)}

    # ------------------------------------------------------------ decision log
    def _append_log(self, outcomes: Sequence[Outcome], now: float) -> None:
        logged = [o for o in outcomes if o.decision.changes_something or o.status is OutcomeStatus.FAILED]
        for index, outcome in enumerate(logged):
            self._db.put_item(
                TableName=self._table,
                Item={
                    **self._key(log_key(now, index)),
                    "decision_key": {"S": outcome.decision.key},
                    "status": {"S": outcome.status.value},
                    "entry": {"S": json.dumps(outcome.as_dict() | {"decided_at": now}, sort_keys=True, default=str)},
                    "expires_at": _n(int(now) + LOG_TTL_S),
                },
            )

    # ------------------------------------------------------------ helpers
    def _key(self, sk: str) -> Item:
        return {"pk": {"S": self._pk}, "sk": {"S": sk}}

    def _query_prefix(self, prefix: str) -> list[Item]:
        paginator = self._db.get_paginator("query")
        pages = paginator.paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": self._pk}, ":prefix": {"S": prefix}},
            ConsistentRead=True,
        )
        return [dict(item) for page in pages for item in page.get("Items", [])]
