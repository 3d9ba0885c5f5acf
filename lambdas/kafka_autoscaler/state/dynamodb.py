"""The state store on one DynamoDB table: string keys `pk`, `sk`; TTL attribute `expires_at`.

Items under pk = the cluster key:
- `lease`: which invocation runs the tick, until `expires_at`.
- `state`: the ScalerState document (JSON, offset histories left out), the histories'
  manifest (state/codec.py), the version and a token naming this save. Put only over
  the version it was loaded at; this put is the moment a save happens.
- `seg#<version>.<token>#<n>`: chunk n of the columns one save added to the offset
  histories (end offsets and commits of that tick). Written before the state item that
  names them, never overwritten; they expire END_OFFSET_MAX_AGE_S + 1 h after the save,
  past the oldest sample a history may still hold.
- `layout#<id>#<n>`: chunk n of a history's keys by row, named after its content; written
  when the keys change and again every LAYOUT_REFRESH_S while named, expiring twice that
  after each write.
- `rates#<version>.<token>#<n>`: chunk n of the rate history (the forecaster's series, state
  field `rate_history`, about 100 KB per full series: too big for the state item). Written
  under new keys, before the state item that names them, only when it changed and at most
  once every RATE_HISTORY_SAVE_S (and every RATE_HISTORY_REFRESH_S even unchanged); they
  expire RATE_HISTORY_TTL_S after the save.
- `log#<time>#<n>`: the decision log, changes and failures only, expiring after 30 days.

A save writes what changed: the tick's new columns, a layout when keys changed, the rate
history when due, the state item. Nothing is deleted: TTL removes what no state names any more, without
consuming write units. A crash before the state item leaves the previous state whole
(the orphaned chunks expire); a crash after it loses at most the decision log of the tick.

Load reads the state item alone when it is the one this store last loaded or saved (a
warm Lambda keeps the histories in memory); otherwise it fetches the layouts and
segments the manifest names with BatchGetItem: only the window the histories keep, and the
rate history chunks the state item's `rates` attribute names.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import secrets
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from kafka_autoscaler.lag.history import END_OFFSET_MAX_AGE_S, Column, SampleTable
from kafka_autoscaler.model import Outcome, OutcomeStatus, RateHistory, ScalerState
from kafka_autoscaler.ports import StateConflictError
from kafka_autoscaler.state.codec import (
    COMMITS,
    END,
    SAMPLE_FIELDS,
    BaseCache,
    SegmentColumn,
    StateCodecError,
    TableManifest,
    blob_id,
    decode_layout,
    decode_manifest,
    decode_segment,
    decode_state,
    encode_layout,
    encode_manifest,
    encode_segment,
    encode_state,
    remapped,
    table_from_parts,
    table_manifest,
)
from kafka_autoscaler.state.rate_codec import RateCodecError, decode_rate_history, encode_rate_history

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, KeysAndAttributesTypeDef

logger = logging.getLogger(__name__)

LEASE_SK = "lease"
STATE_SK = "state"
SEGMENT_PREFIX = "seg#"
LAYOUT_PREFIX = "layout#"
LOG_PREFIX = "log#"
RATES_PREFIX = "rates#"
RATES_FIELD = "rate_history"
LOG_TTL_S = 30 * 86400
SEGMENT_TTL_S = END_OFFSET_MAX_AGE_S + 3600.0
LAYOUT_REFRESH_S = 6 * 3600.0
LAYOUT_TTL_S = 2 * LAYOUT_REFRESH_S
# DynamoDB items are at most 400 KB; chunks stay below half of it with their keys and attributes.
CHUNK_BYTES = 180 * 1024
# The rate history is written at most this often; a warm Lambda keeps the newest in memory between
# writes. A crash (or a cold start after one) loses at most these minutes of forecast history: the
# forecaster learns from weeks of it, so a gap of ten minutes is acceptable, and it saves ~1 WRU per
# KB of it on every other tick.
RATE_HISTORY_SAVE_S = 600.0
# Written again this often even when unchanged, so that its chunks never expire while named.
RATE_HISTORY_REFRESH_S = 86400.0
RATE_HISTORY_TTL_S = 3 * RATE_HISTORY_REFRESH_S
# Rate history chunks: well below the 400 KB item limit with their keys and attributes
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html).
RATE_CHUNK_BYTES = 300 * 1024
# BatchGetItem reads at most 100 keys per request.
BATCH_GET_KEYS = 100
BATCH_GET_ATTEMPTS = 8
CONDITION_FAILED = "ConditionalCheckFailedException"
NO_ROWS = ""  # the layout of a history without series: no item is written for it

Item = dict[str, "AttributeValueTypeDef"]


def _is_condition_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == CONDITION_FAILED


def _n(value: float) -> AttributeValueTypeDef:
    return {"N": repr(value) if isinstance(value, float) else str(value)}


def segment_key(segment: str, index: int) -> str:
    return f"{SEGMENT_PREFIX}{segment}#{index:03d}"


def rates_key(name: str, index: int) -> str:
    return f"{RATES_PREFIX}{name}#{index:03d}"


def encode_rates(history: RateHistory) -> bytes:
    text = json.dumps(encode_rate_history(history), sort_keys=True, separators=(",", ":"))
    return zlib.compress(text.encode("utf-8"), 6)


def decode_rates(blob: bytes) -> RateHistory:
    """Raises StateCodecError."""
    try:
        return decode_rate_history(json.loads(zlib.decompress(blob)))
    except (
        zlib.error,
        json.JSONDecodeError,
        UnicodeDecodeError,
        RateCodecError,
        KeyError,
        TypeError,
        ValueError,
    ) as error:
        raise StateCodecError(f"rate history: {type(error).__name__}: {error}") from error


def layout_key(layout: str, index: int) -> str:
    return f"{LAYOUT_PREFIX}{layout}#{index:03d}"


def log_key(now: float, index: int) -> str:
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    return f"{LOG_PREFIX}{stamp}Z#{index:03d}"


def split(blob: bytes, size: int = CHUNK_BYTES) -> list[bytes]:
    return [blob[start : start + size] for start in range(0, len(blob), size)] or [b""]


@dataclass(frozen=True)
class _RatesRef:
    """The rate history chunks a state item names."""

    name: str  # "<version>.<token>" of the save that wrote them
    chunks: int
    digest: str  # blob_id of the encoded history
    written_at: float

    def as_item(self) -> AttributeValueTypeDef:
        return {
            "M": {
                "name": {"S": self.name},
                "chunks": _n(self.chunks),
                "digest": {"S": self.digest},
                "written_at": _n(self.written_at),
            }
        }

    @staticmethod
    def of_item(value: AttributeValueTypeDef | None) -> _RatesRef | None:
        if value is None or "M" not in value:
            return None
        raw = value["M"]
        try:
            return _RatesRef(
                raw["name"]["S"], int(raw["chunks"]["N"]), raw["digest"]["S"], float(raw["written_at"]["N"])
            )
        except (KeyError, ValueError):
            return None


@dataclass
class _Stored:
    """What this store knows is in the table: the state item it last loaded or saved, and its parts."""

    token: str
    tables: dict[str, SampleTable]
    columns: dict[str, dict[int, tuple[Column, str]]]  # per table: uid -> (the column object, its segment)
    segments: dict[str, int]  # segment id -> chunk count
    segment_layouts: dict[str, frozenset[str]]  # segment id -> layouts its columns follow
    layouts: dict[str, tuple[int, float]]  # layout id -> (chunk count, written at)
    layout_keys: dict[str, tuple[str | None, ...]]  # layout id -> keys by row
    rates: RateHistory = field(default_factory=RateHistory)  # the newest rate history, maybe not yet written
    rates_written: RateHistory | None = None  # the rate history whose encoding `rates_ref` names
    rates_ref: _RatesRef | None = None


class DynamoStateStore:
    """ports.StateStore on DynamoDB for one cluster (`cluster_key`, e.g. its ARN)."""

    def __init__(
        self, dynamodb_client: DynamoDBClient, table_name: str, cluster_key: str, chunk_bytes: int = CHUNK_BYTES
    ) -> None:
        self._db = dynamodb_client
        self._table = table_name
        self._pk = cluster_key
        self._chunk_bytes = chunk_bytes
        self._stored: _Stored | None = None

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

    # ------------------------------------------------------------ load
    def load(self) -> ScalerState:
        item = self._db.get_item(TableName=self._table, Key=self._key(STATE_SK), ConsistentRead=True).get("Item")
        if item is None:
            self._stored = None
            return ScalerState()
        try:
            doc = decode_state(json.loads(item["doc"]["S"]))
        except (json.JSONDecodeError, StateCodecError) as error:
            raise StateCodecError(
                f"state item (pk={self._pk}, sk={STATE_SK}) in {self._table} is unreadable: {error}; "
                "delete the item to start from an empty state"
            ) from error
        token = item["token"]["S"] if "token" in item else ""
        known = self._stored
        if known is None or not token or known.token != token:
            known = self._load_histories(token, item.get("samples", {}).get("B"))
            ref = _RatesRef.of_item(item.get("rates"))
            rates = self._load_rates(ref, doc.rate_history)
            known.rates = rates or RateHistory()
            if ref is not None and rates is not None:
                known.rates_ref, known.rates_written = ref, rates
        self._stored = known
        return dataclasses.replace(
            doc,
            end_offsets=known.tables[END],
            commits=known.tables[COMMITS],
            rate_history=known.rates,
            version=int(item["version"]["N"]),
        )

    def _load_rates(self, ref: _RatesRef | None, in_doc: RateHistory) -> RateHistory | None:
        """The rate history the state item names (None when lost); one kept in the document by an older save."""
        if ref is None:
            return in_doc
        keys = [rates_key(ref.name, i) for i in range(ref.chunks)]
        blob = _joined(self._get_blobs(keys), keys)
        if blob is None:
            logger.warning("rate history of %s: chunks %s are missing (expired); starting it anew", self._pk, ref.name)
            return None
        try:
            return decode_rates(blob)
        except StateCodecError as error:
            logger.warning("rate history of %s is unreadable (%s); starting it anew", self._pk, error)
            return None

    def _load_histories(self, token: str, manifest_blob: bytes | None) -> _Stored:
        empty = _Stored(
            token, {name: SampleTable.of({}) for name in SAMPLE_FIELDS}, {END: {}, COMMITS: {}}, {}, {}, {}, {}
        )
        if manifest_blob is None:
            return empty
        try:
            manifests, segments, layouts = decode_manifest(manifest_blob)
        except StateCodecError as error:
            logger.warning("offset histories of %s are unreadable (%s); starting them anew", self._pk, error)
            return empty
        blobs = self._get_blobs(
            [layout_key(layout, i) for layout, (chunks, _) in layouts.items() for i in range(chunks)]
            + [segment_key(segment, i) for segment, chunks in segments.items() for i in range(chunks)]
        )
        layout_keys: dict[str, tuple[str | None, ...]] = {NO_ROWS: ()}
        for layout, (chunks, _) in layouts.items():
            blob = _joined(blobs, [layout_key(layout, i) for i in range(chunks)])
            try:
                if blob is not None:
                    layout_keys[layout] = decode_layout(blob)
            except StateCodecError as error:
                logger.warning("layout %s of %s is unreadable: %s", layout, self._pk, error)
        found: dict[str, dict[int, tuple[Column, str]]] = {END: {}, COMMITS: {}}
        segment_layouts: dict[str, frozenset[str]] = {}
        same_rows: dict[tuple[str, str], bool] = {}
        named = {(name, uid) for name, manifest in manifests.items() for uid, _ in manifest.columns}
        bases: BaseCache = {}
        for segment, chunks in segments.items():
            blob = _joined(blobs, [segment_key(segment, i) for i in range(chunks)])
            if blob is None:
                continue
            try:
                decoded = decode_segment(blob, layout_keys, lambda t, u: (t, u) in named, bases)
            except StateCodecError as error:
                logger.warning("segment %s of %s is unreadable: %s", segment, self._pk, error)
                continue
            segment_layouts[segment] = decoded.layouts
            for column in decoded.columns:
                placed = self._column(column, manifests, layout_keys, same_rows)
                if placed is not None:
                    found[column.table][column.uid] = (placed, segment)
        tables: dict[str, SampleTable] = {}
        for name in SAMPLE_FIELDS:
            tables[name] = self._table_of(name, manifests.get(name), layout_keys, found[name])
        kept = {name: {c.uid: found[name][c.uid] for c in tables[name].columns} for name in SAMPLE_FIELDS}
        in_use = {segment for columns in kept.values() for _, segment in columns.values()}
        return _Stored(
            token,
            tables,
            kept,
            {s: segments[s] for s in in_use},
            {s: segment_layouts[s] for s in in_use},
            {k: v for k, v in layouts.items() if k in layout_keys},
            layout_keys,
        )

    def _column(
        self,
        column: SegmentColumn,
        manifests: Mapping[str, TableManifest],
        layout_keys: Mapping[str, tuple[str | None, ...]],
        same_rows: dict[tuple[str, str], bool],
    ) -> Column | None:
        """A stored column in the rows of its table's present layout; None without the layout it was written in."""
        manifest = manifests.get(column.table)
        written = layout_keys.get(column.layout)
        if manifest is None or written is None:
            return None
        current = layout_keys.get(manifest.layout)
        if current is None:
            return None
        pair = (column.layout, manifest.layout)
        if pair not in same_rows:
            same_rows[pair] = _same_rows(written, current)
        if same_rows[pair]:
            return Column(column.uid, column.t, column.values)
        rows = {key: row for row, key in enumerate(current) if key is not None}
        return Column(column.uid, column.t, remapped(column.values, written, rows, len(current)))

    def _table_of(
        self,
        name: str,
        manifest: TableManifest | None,
        layout_keys: Mapping[str, tuple[str | None, ...]],
        found: Mapping[int, tuple[Column, str]],
    ) -> SampleTable:
        if manifest is None:
            return SampleTable.of({})
        keys = layout_keys.get(manifest.layout)
        if keys is None:
            logger.warning("%s history of %s: its layout is missing; starting it anew", name, self._pk)
            return SampleTable.of({})
        try:
            table, missing = table_from_parts(manifest, keys, {uid: column for uid, (column, _) in found.items()})
        except StateCodecError as error:
            logger.warning("%s history of %s: %s; starting it anew", name, self._pk, error)
            return SampleTable.of({})
        if missing:
            logger.warning("%s history of %s: missing %d columns (expired or unreadable)", name, self._pk, len(missing))
        return table

    def _get_blobs(self, keys: Sequence[str]) -> dict[str, bytes]:
        """The `data` of the items with these sort keys, by sort key; items not found are left out."""
        found: dict[str, bytes] = {}
        for start in range(0, len(keys), BATCH_GET_KEYS):
            request: dict[str, KeysAndAttributesTypeDef] = {
                self._table: {
                    "Keys": [self._key(sk) for sk in keys[start : start + BATCH_GET_KEYS]],
                    "ConsistentRead": True,
                    "ProjectionExpression": "sk, #d",
                    "ExpressionAttributeNames": {"#d": "data"},
                }
            }
            for attempt in range(BATCH_GET_ATTEMPTS):
                answer = self._db.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self._table, []):
                    found[item["sk"]["S"]] = item["data"]["B"]
                unprocessed = answer.get("UnprocessedKeys", {})
                if not unprocessed:
                    break
                request = dict(unprocessed)  # type: ignore[arg-type]  # the same shape, typed as output
                time.sleep(min(1.0, 0.05 * 2**attempt))  # DynamoDB asks to back off before retrying them
            else:
                raise StateCodecError(f"offset histories of {self._pk}: DynamoDB left keys unread after retries")
        return found

    # ------------------------------------------------------------ save
    def save(self, state: ScalerState, outcomes: Sequence[Outcome], now: float) -> None:
        version = state.version + 1
        token = secrets.token_hex(6)
        segment = f"{version:012d}.{token}"
        known = self._stored
        self._stored = None  # until the state item is put, nothing is known for sure
        tables = {END: SampleTable.of(state.end_offsets), COMMITS: SampleTable.of(state.commits)}

        layout_keys = dict(known.layout_keys) if known else {}
        layouts = dict(known.layouts) if known else {}
        current: dict[str, str] = {}
        for name, table in tables.items():
            current[name] = self._layout_id(table, known, layout_keys)

        columns: dict[str, dict[int, tuple[Column, str]]] = {}
        new: list[SegmentColumn] = []
        for name, table in tables.items():
            stored = known.columns[name] if known else {}
            columns[name] = {}
            for column in table.columns:
                previous = stored.get(column.uid)
                if previous is not None and previous[0] is column:
                    columns[name][column.uid] = previous
                else:
                    columns[name][column.uid] = (column, segment)
                    new.append(SegmentColumn(name, column.uid, column.t, current[name], column.values))
        segments = {s: n for s, n in (known.segments if known else {}).items()}
        segment_layouts = dict(known.segment_layouts) if known else {}
        if new:
            blob = encode_segment(new, layout_keys)
            segment_layouts[segment] = frozenset(c.layout for c in new)
            segments[segment] = len(split(blob, self._chunk_bytes))
        named = {s for table_columns in columns.values() for _, s in table_columns.values()}
        segments = {s: n for s, n in segments.items() if s in named}
        needed = (set(current.values()) | {layout for s in named for layout in segment_layouts[s]}) - {NO_ROWS}

        for layout in sorted(needed):
            _, written = layouts.get(layout, (0, float("-inf")))
            if now - written >= LAYOUT_REFRESH_S:
                layouts[layout] = (
                    self._put_blob(layout_key, layout, encode_layout(layout_keys[layout]), now + LAYOUT_TTL_S),
                    now,
                )
        if new:
            self._put_blob(segment_key, segment, blob, now + SEGMENT_TTL_S)
        rates_written, rates_ref = self._save_rates(state.rate_history, known, segment, now)
        manifests = {
            name: table_manifest(tables[name], current[name], {u: s for u, (_, s) in columns[name].items()})
            for name in SAMPLE_FIELDS
        }
        layouts = {k: v for k, v in layouts.items() if k in needed}
        self._put_state(state, version, token, encode_manifest(manifests, segments, layouts), rates_ref, now)
        self._stored = _Stored(
            token,
            tables,
            columns,
            segments,
            {s: segment_layouts[s] for s in segments},
            layouts,
            {k: v for k, v in layout_keys.items() if k in needed},
            state.rate_history,
            rates_written,
            rates_ref,
        )
        self._append_log(outcomes, now)

    def _save_rates(
        self, history: RateHistory, known: _Stored | None, name: str, now: float
    ) -> tuple[RateHistory | None, _RatesRef | None]:
        """The rate history in the table after this save, and its chunks: written when changed and due."""
        ref = known.rates_ref if known else None
        written = known.rates_written if known else None
        if ref is None and history == RateHistory():
            return None, None  # nothing learnt yet: nothing to write
        refresh_due = ref is not None and now - ref.written_at >= RATE_HISTORY_REFRESH_S
        if not refresh_due and (history is written or (ref is not None and now - ref.written_at < RATE_HISTORY_SAVE_S)):
            return written, ref
        blob = encode_rates(history)
        digest = blob_id(blob)
        if ref is not None and digest == ref.digest and not refresh_due:
            return history, ref
        chunks = self._put_blob(rates_key, name, blob, now + RATE_HISTORY_TTL_S, RATE_CHUNK_BYTES)
        return history, _RatesRef(name, chunks, digest, now)

    def _layout_id(
        self, table: SampleTable, known: _Stored | None, layout_keys: dict[str, tuple[str | None, ...]]
    ) -> str:
        """The id of the table's keys by row, encoded only when they are not the ones last stored."""
        keys = table.keys_by_row
        if not keys:
            return NO_ROWS
        if known is not None:
            for layout, stored_keys in known.layout_keys.items():
                if stored_keys is keys:
                    return layout
        layout = blob_id(encode_layout(keys))
        layout_keys[layout] = keys
        return layout

    def _put_blob(
        self,
        key_of: Callable[[str, int], str],
        name: str,
        blob: bytes,
        expires_at: float,
        chunk_bytes: int | None = None,
    ) -> int:
        pieces = split(blob, chunk_bytes or self._chunk_bytes)
        for index, data in enumerate(pieces):
            self._db.put_item(
                TableName=self._table,
                Item={**self._key(key_of(name, index)), "data": {"B": data}, "expires_at": _n(int(expires_at))},
            )
        return len(pieces)

    def _put_state(
        self, state: ScalerState, version: int, token: str, manifest: bytes, rates: _RatesRef | None, now: float
    ) -> None:
        saved = dataclasses.replace(state, version=version)
        doc = encode_state(saved, with_offsets=False, leave_out=frozenset({RATES_FIELD}))
        item: Item = {
            **self._key(STATE_SK),
            "doc": {"S": json.dumps(doc, sort_keys=True, separators=(",", ":"))},
            "samples": {"B": manifest},
            "version": _n(version),
            "token": {"S": token},
            "saved_at": _n(now),
        }
        if rates is not None:
            item["rates"] = rates.as_item()
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


def _joined(blobs: Mapping[str, bytes], keys: Sequence[str]) -> bytes | None:
    """The chunks in order, or None when one is missing (expired)."""
    if any(key not in blobs for key in keys):
        return None
    return b"".join(blobs[key] for key in keys)


def _same_rows(written: Sequence[str | None], current: Sequence[str | None]) -> bool:
    """Whether rows kept their positions: every written key is where it was, or its row died since."""
    if len(written) > len(current):
        return False
    return all(now is None or now == then for then, now in zip(written, current, strict=False))
