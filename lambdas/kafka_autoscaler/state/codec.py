"""ScalerState to and from JSON, and offset histories to and from compact binary blobs.

Pure: no I/O. The DynamoDB and file stores share it.

Every ScalerState field but the offset histories and the version travels through
`FIELDS`, one codec entry per field: a new field persists in every store once it has an
entry (a test fails while one is missing). The offset histories (lag/history.py
SampleTables) travel as JSON lists in the file store, and in the DynamoDB store as
- a layout: the table's keys by row, written when they change;
- segments: the columns one save added, each an array of int64 offsets, byte-shuffled
  (all first bytes, then all second bytes, ...) and zlib-compressed. A commit column is
  stored as the zigzag of (end offset - committed offset) against the end-offset column
  of the same moment in the same segment: the lag, mostly small;
- a manifest in the state item: per table its layout, its columns (uid and segment) and
  the row patterns, run-length encoded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import struct
import sys
import zlib
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any, get_args, get_type_hints

from kafka_autoscaler.lag.history import Column, SampleTable
from kafka_autoscaler.model import Failure, Intent, OffsetSample, ScalerState, Workflow
from kafka_autoscaler.state.rate_codec import decode_rate_history, encode_rate_history

SCHEMA = 1
BLOB_SCHEMA = 2
WORKFLOW_KINDS: frozenset[str] = frozenset(get_args(get_type_hints(Workflow)["kind"]))
SAMPLE_FIELDS = ("end_offsets", "commits")
END, COMMITS = SAMPLE_FIELDS
_HEADER = struct.Struct("<I")
_INT64 = 1 << 64


class StateCodecError(Exception):
    """A stored state document or blob is not in a shape this version reads."""


# ---------------------------------------------------------------- one codec entry per field
@dataclass(frozen=True)
class FieldCodec:
    """How one ScalerState field becomes JSON and back; `decode` may raise KeyError, TypeError, ValueError."""

    encode: Callable[[Any], Any]
    decode: Callable[[Any], Any]


def _workflow(raw: Mapping[str, Any]) -> Workflow:
    kind = raw["kind"]
    if kind not in WORKFLOW_KINDS:
        raise ValueError(f"workflow kind {kind!r} is not one of {sorted(WORKFLOW_KINDS)}")
    return Workflow(
        kind=kind,
        started_at=float(raw["started_at"]),
        from_count=int(raw["from_count"]),
        to_count=int(raw["to_count"]),
        operation_arn=None if raw.get("operation_arn") is None else str(raw["operation_arn"]),
        broker_ids=tuple(int(i) for i in raw.get("broker_ids", [])),
    )


def _optional_float(raw: Any) -> float | None:
    return None if raw is None else float(raw)


FIELDS: dict[str, FieldCodec] = {
    "last_action_t": FieldCodec(dict, lambda raw: {str(k): float(v) for k, v in raw.items()}),
    "recommendations": FieldCodec(
        lambda value: {k: [[t, n] for t, n in v] for k, v in value.items()},
        lambda raw: {str(k): tuple((float(t), int(n)) for t, n in v) for k, v in raw.items()},
    ),
    "task_throughput": FieldCodec(dict, lambda raw: {str(k): float(v) for k, v in raw.items()}),
    "low_load_since": FieldCodec(lambda value: value, _optional_float),
    "workflows": FieldCodec(
        lambda value: [dataclasses.asdict(w) | {"broker_ids": list(w.broker_ids)} for w in value],
        lambda raw: tuple(_workflow(w) for w in raw),
    ),
    "last_notified": FieldCodec(dict, lambda raw: {str(k): str(v) for k, v in raw.items()}),
    "broker_type_low_since": FieldCodec(lambda value: value, _optional_float),
    "failures": FieldCodec(
        lambda value: {k: dataclasses.asdict(f) for k, f in value.items()},
        lambda raw: {str(k): Failure(**v) for k, v in raw.items()},
    ),
    "intents": FieldCodec(
        lambda value: [dataclasses.asdict(i) for i in value], lambda raw: tuple(Intent(**i) for i in raw)
    ),
    "known_desired": FieldCodec(dict, lambda raw: {str(k): int(v) for k, v in raw.items()}),
    "external_changes": FieldCodec(dict, lambda raw: {str(k): float(v) for k, v in raw.items()}),
    "unsent": FieldCodec(list, lambda raw: tuple(dict(m) for m in raw)),
    "rate_history": FieldCodec(encode_rate_history, decode_rate_history),
}


def missing_field_codecs() -> list[str]:
    """ScalerState fields that no store would keep: neither in FIELDS nor the histories nor the version."""
    return [f.name for f in dataclasses.fields(ScalerState) if f.name not in {*FIELDS, *SAMPLE_FIELDS, "version"}]


# ---------------------------------------------------------------- the state document
def encode_state(
    state: ScalerState, *, with_offsets: bool = True, leave_out: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """A JSON-ready mapping of the state; offsets and the FIELDS in `leave_out` left out when stored apart."""
    doc: dict[str, Any] = {"schema": SCHEMA, "version": state.version}
    doc.update({name: codec.encode(getattr(state, name)) for name, codec in FIELDS.items() if name not in leave_out})
    if with_offsets:
        doc[END] = _history_to_json(state.end_offsets)
        doc[COMMITS] = _history_to_json(state.commits)
    return doc


def decode_state(doc: object) -> ScalerState:
    """The ScalerState in a document written by `encode_state`; absent fields take their default.

    Raises StateCodecError.
    """
    if not isinstance(doc, Mapping):
        raise StateCodecError("state document: not a JSON object")
    if doc.get("schema") != SCHEMA:
        raise StateCodecError(f"state document: schema {doc.get('schema')!r} is not {SCHEMA}")
    try:
        values: dict[str, Any] = {name: codec.decode(doc[name]) for name, codec in FIELDS.items() if name in doc}
        for name in SAMPLE_FIELDS:
            if name in doc:
                values[name] = _history_from_json(doc[name])
        return ScalerState(**values, version=int(doc.get("version", 0)))
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        raise StateCodecError(f"state document: {type(error).__name__}: {error}") from error


def dumps_state(state: ScalerState) -> str:
    return json.dumps(encode_state(state), sort_keys=True, separators=(",", ":"))


def loads_state(text: str) -> ScalerState:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as error:
        raise StateCodecError(f"state document: not JSON ({error})") from error
    return decode_state(doc)


def _history_to_json(history: Mapping[str, Sequence[OffsetSample]]) -> dict[str, list[list[float | int]]]:
    return {key: [[s.t, s.offset] for s in samples] for key, samples in history.items()}


def _history_from_json(raw: Mapping[str, Any]) -> SampleTable:
    return SampleTable.of(
        {str(key): tuple(OffsetSample(float(t), int(o)) for t, o in samples) for key, samples in raw.items()}
    )


# ---------------------------------------------------------------- binary helpers
def _pack(header: Mapping[str, Any], payloads: Sequence[bytes] = ()) -> bytes:
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    return zlib.compress(b"".join([_HEADER.pack(len(head)), head, *payloads]), 6)


def _unpack(blob: bytes, what: str) -> tuple[dict[str, Any], memoryview]:
    """Header and payload of a blob written by `_pack`. Raises StateCodecError."""
    try:
        raw = memoryview(zlib.decompress(blob))
        (size,) = _HEADER.unpack_from(raw)
        header = json.loads(bytes(raw[_HEADER.size : _HEADER.size + size]))
    except (zlib.error, struct.error, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise StateCodecError(f"{what}: {type(error).__name__}: {error}") from error
    if not isinstance(header, dict) or header.get("schema") != BLOB_SCHEMA:
        found = header.get("schema") if isinstance(header, dict) else header
        raise StateCodecError(f"{what}: schema {found!r} is not {BLOB_SCHEMA}")
    return header, raw[_HEADER.size + size :]


def _shuffled(values: array[int]) -> bytes:
    """The 8-byte little-endian values, all first bytes, then all second bytes, ...: zlib packs the planes."""
    if sys.byteorder == "big":
        values = array(values.typecode, values)
        values.byteswap()
    raw = values.tobytes()
    return b"".join(raw[i::8] for i in range(8))


def _unshuffled(data: memoryview | bytes, typecode: str) -> array[int]:
    count = len(data) // 8
    raw = bytearray(8 * count)
    for i in range(8):
        raw[i::8] = data[i * count : (i + 1) * count]
    values = array(typecode)
    values.frombytes(bytes(raw))
    if sys.byteorder == "big":
        values.byteswap()
    return values


def blob_id(blob: bytes) -> str:
    """A name for a blob from its content: writing it again under the same name changes nothing."""
    return hashlib.blake2b(blob, digest_size=8).hexdigest()


# ---------------------------------------------------------------- layouts
def encode_layout(keys: Sequence[str | None]) -> bytes:
    """A table's keys by row (None: a dead row)."""
    return _pack({"schema": BLOB_SCHEMA, "keys": list(keys)})


def decode_layout(blob: bytes) -> tuple[str | None, ...]:
    header, _ = _unpack(blob, "layout")
    keys = header.get("keys")
    if not isinstance(keys, list) or not all(k is None or isinstance(k, str) for k in keys):
        raise StateCodecError("layout: keys are not a list of strings")
    return tuple(keys)


def commit_bases(commit_keys: Sequence[str | None], end_keys: Sequence[str | None]) -> list[int]:
    """Per commit row, the end-offset row of the same partition, or -1."""
    end_rows = {key: row for row, key in enumerate(end_keys) if key is not None}
    return [-1 if key is None else end_rows.get(key.rpartition("|")[2], -1) for key in commit_keys]


# ---------------------------------------------------------------- segments
@dataclass(frozen=True)
class SegmentColumn:
    """One column of a segment: which table, its uid and time, the layout its rows follow."""

    table: str  # END or COMMITS
    uid: int
    t: float
    layout: str
    values: array[int]


@dataclass(frozen=True)
class Segment:
    columns: tuple[SegmentColumn, ...]
    layouts: frozenset[str]  # every layout its columns follow, also of those not decoded


def encode_segment(columns: Sequence[SegmentColumn], layouts: Mapping[str, Sequence[str | None]]) -> bytes:
    """The columns of one save in one blob; commit columns as lag against the end column of their moment.

    `layouts` holds the keys of every layout the columns name.
    """
    end_at = {c.t: (i, c) for i, c in enumerate(columns) if c.table == END}
    entries: list[dict[str, Any]] = []
    payloads: list[bytes] = []
    for column in columns:
        entry: dict[str, Any] = {"table": column.table, "uid": column.uid, "t": column.t, "layout": column.layout}
        data = column.values
        base = end_at.get(column.t) if column.table == COMMITS else None
        if column.table == COMMITS:
            reference = _base_values(column, base, layouts, {})
            data = array("Q", [_zigzag(b - v) for b, v in zip(reference, column.values, strict=True)])
            if base is not None:
                entry["base"] = base[0]
        entry["rows"] = len(column.values)
        entries.append(entry)
        payloads.append(_shuffled(data))
    return _pack({"schema": BLOB_SCHEMA, "columns": entries}, payloads)


BaseCache = dict[tuple[str, int, str, int], list[int]]


def decode_segment(
    blob: bytes,
    layouts: Mapping[str, Sequence[str | None]],
    wanted: Callable[[str, int], bool] = lambda table, uid: True,
    bases: BaseCache | None = None,
) -> Segment:
    """The wanted (table, uid) columns of a blob written by `encode_segment`. Raises StateCodecError.

    `bases` caches, across segments, which end-offset row each commit row is stored against.
    """
    header, payload = _unpack(blob, "segment")
    columns: dict[int, SegmentColumn] = {}
    cache: BaseCache = {} if bases is None else bases
    try:
        entries = header["columns"]
        starts = [0]
        for entry in entries:
            starts.append(starts[-1] + 8 * int(entry["rows"]))
        if starts[-1] != len(payload):
            raise ValueError(f"payload of {len(payload)} bytes for columns of {starts[-1]}")
        needed = {i for i, e in enumerate(entries) if wanted(str(e["table"]), int(e["uid"]))}
        needed |= {int(entries[i]["base"]) for i in needed if entries[i].get("base") is not None}
        for index in sorted(needed):
            entry = entries[index]
            data = payload[starts[index] : starts[index + 1]]
            table, layout = str(entry["table"]), str(entry["layout"])
            if table not in SAMPLE_FIELDS:
                raise ValueError(f"column of unknown table {table!r}")
            column = SegmentColumn(table, int(entry["uid"]), float(entry["t"]), layout, _unshuffled(data, "q"))
            if table == COMMITS:
                base_index = entry.get("base")
                base = None if base_index is None else (int(base_index), columns[int(base_index)])
                reference = _base_values(column, base, layouts, cache)
                zigzags = _unshuffled(data, "Q")
                values = array("q", [b - _unzigzag(z) for b, z in zip(reference, zigzags, strict=True)])
                column = dataclasses.replace(column, values=values)
            columns[index] = column
    except (KeyError, IndexError, TypeError, ValueError, OverflowError) as error:
        raise StateCodecError(f"segment: {type(error).__name__}: {error}") from error
    decoded = tuple(columns[i] for i in sorted(columns) if wanted(columns[i].table, columns[i].uid))
    return Segment(decoded, frozenset(str(e["layout"]) for e in entries))


def _base_values(
    column: SegmentColumn,
    base: tuple[int, SegmentColumn] | None,
    layouts: Mapping[str, Sequence[str | None]],
    cache: BaseCache,
) -> list[int]:
    """Per row of a commit column, the end offset it is stored against (0 without one)."""
    rows = len(column.values)
    if base is None:
        return [0] * rows
    end = base[1]
    if column.layout not in layouts or end.layout not in layouts:
        raise KeyError(f"layout {column.layout if column.layout not in layouts else end.layout}")
    key = (column.layout, rows, end.layout, len(end.values))
    if key not in cache:
        cache[key] = commit_bases(layouts[column.layout][:rows], layouts[end.layout][: len(end.values)])
    values = end.values
    return [values[b] if b >= 0 else 0 for b in cache[key]]


def _zigzag(value: int) -> int:
    value = (value << 1) ^ (value >> 63)
    if not 0 <= value < _INT64:
        raise OverflowError("a lag outside 64 bits")
    return value


def _unzigzag(value: int) -> int:
    return (value >> 1) ^ -(value & 1)


# ---------------------------------------------------------------- the manifest
@dataclass(frozen=True)
class TableManifest:
    """Where a table's parts are: its layout, its columns (uid -> segment), its row patterns."""

    layout: str
    columns: tuple[tuple[int, str], ...]  # (uid, segment id) in table order
    patterns: tuple[tuple[int, ...], ...]
    row_pattern: array[int]
    next_uid: int
    monotonic: bool


def table_manifest(table: SampleTable, layout: str, segment_of: Mapping[int, str]) -> TableManifest:
    return TableManifest(
        layout=layout,
        columns=tuple((c.uid, segment_of[c.uid]) for c in table.columns),
        patterns=table.patterns,
        row_pattern=table.row_pattern,
        next_uid=table.next_uid,
        monotonic=table.monotonic,
    )


def encode_manifest(
    tables: Mapping[str, TableManifest], segments: Mapping[str, int], layouts: Mapping[str, tuple[int, float]]
) -> bytes:
    """Tables, the segments (id -> chunk count) and layouts (id -> chunk count, written at) they need."""
    doc = {
        "schema": BLOB_SCHEMA,
        "segments": dict(segments),
        "layouts": {k: list(v) for k, v in layouts.items()},
        "tables": {
            name: {
                "layout": m.layout,
                "columns": [list(c) for c in m.columns],
                "patterns": [list(p) for p in m.patterns],
                "rows": [[p, len(list(run))] for p, run in groupby(m.row_pattern)],
                "next_uid": m.next_uid,
                "monotonic": m.monotonic,
            }
            for name, m in tables.items()
        },
    }
    return _pack(doc)


def decode_manifest(blob: bytes) -> tuple[dict[str, TableManifest], dict[str, int], dict[str, tuple[int, float]]]:
    """What `encode_manifest` wrote. Raises StateCodecError."""
    doc, _ = _unpack(blob, "manifest")
    try:
        tables: dict[str, TableManifest] = {}
        for name, raw in doc["tables"].items():
            row_pattern = array("I")
            for pattern, run in raw["rows"]:
                row_pattern.extend([int(pattern)] * int(run))
            tables[str(name)] = TableManifest(
                layout=str(raw["layout"]),
                columns=tuple((int(uid), str(segment)) for uid, segment in raw["columns"]),
                patterns=tuple(tuple(int(c) for c in p) for p in raw["patterns"]),
                row_pattern=row_pattern,
                next_uid=int(raw["next_uid"]),
                monotonic=bool(raw["monotonic"]),
            )
        segments = {str(k): int(v) for k, v in doc["segments"].items()}
        layouts = {str(k): (int(v[0]), float(v[1])) for k, v in doc["layouts"].items()}
    except (AttributeError, KeyError, IndexError, TypeError, ValueError) as error:
        raise StateCodecError(f"manifest: {type(error).__name__}: {error}") from error
    return tables, segments, layouts


def table_from_parts(
    manifest: TableManifest, keys: Sequence[str | None], columns: Mapping[int, Column]
) -> tuple[SampleTable, list[int]]:
    """The table a manifest describes, from its layout's keys and the columns found.

    Columns not found (their segment expired or was unreadable) are left out of every row;
    a row left without samples is dropped. Returns the table and the uids left out.
    Raises StateCodecError when the parts do not fit together.
    """
    missing = [uid for uid, _ in manifest.columns if uid not in columns]
    present = [columns[uid] for uid, _ in manifest.columns if uid in columns]
    position: dict[int, int] = {}
    for old, (uid, _) in enumerate(manifest.columns):
        if uid in columns:
            position[old] = len(position)
    patterns = [tuple(position[c] for c in p if c in position) for p in manifest.patterns]
    live = list(keys)
    if missing:
        for row, pattern in enumerate(manifest.row_pattern):
            if live[row] is not None and not patterns[pattern] and manifest.patterns[pattern]:
                live[row] = None
    try:
        table = SampleTable(
            live,
            present,
            patterns,
            manifest.row_pattern,
            next_uid=manifest.next_uid,
            monotonic=manifest.monotonic,
        )
    except (IndexError, ValueError) as error:
        raise StateCodecError(f"offset history does not fit its layout: {error}") from error
    return table, missing


def remapped(values: array[int], from_keys: Sequence[str | None], to_rows: Mapping[str, int], rows: int) -> array[int]:
    """A column written under one layout, moved to the rows of another (keys not there dropped)."""
    moved = array("q", bytes(8 * rows))
    for row, key in enumerate(from_keys[: len(values)]):
        target = None if key is None else to_rows.get(key)
        if target is not None:
            moved[target] = values[row]
    return moved
