"""The state codec: ScalerState <-> JSON, and the binary layouts, segments and manifest, round-trip exactly."""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka_autoscaler.lag.history import Column, SampleTable
from kafka_autoscaler.model import OffsetSample, ScalerState, Workflow
from kafka_autoscaler.state.codec import (
    COMMITS,
    END,
    SegmentColumn,
    StateCodecError,
    decode_layout,
    decode_manifest,
    decode_segment,
    decode_state,
    dumps_state,
    encode_layout,
    encode_manifest,
    encode_segment,
    encode_state,
    loads_state,
    missing_field_codecs,
    table_from_parts,
    table_manifest,
)

times = st.floats(min_value=0, max_value=4e9, allow_nan=False, allow_infinity=False)
offsets = st.integers(min_value=0, max_value=2**63 - 1)
samples = st.lists(st.builds(OffsetSample, times, offsets), max_size=6).map(tuple)
topics = st.from_regex(r"[A-Za-z0-9._-]{1,12}", fullmatch=True)
groups = st.text(min_size=1, max_size=10)  # group ids may hold any character, '|' and ':' included
end_keys = st.builds(lambda t, p: f"{t}:{p}", topics, st.integers(0, 5000))
commit_keys = st.builds(lambda g, t, p: f"{g}|{t}:{p}", groups, topics, st.integers(0, 5000))
workflows = st.builds(
    Workflow,
    kind=st.sampled_from(["broker_scale_out", "broker_drain", "broker_scale_in"]),
    started_at=times,
    from_count=st.integers(1, 30),
    to_count=st.integers(1, 30),
    operation_arn=st.none() | st.text(max_size=40),
    broker_ids=st.lists(st.integers(1, 30), max_size=4).map(tuple),
)
states = st.builds(
    ScalerState,
    last_action_t=st.dictionaries(st.text(max_size=12), times, max_size=3),
    recommendations=st.dictionaries(
        st.text(max_size=12), st.lists(st.tuples(times, st.integers(0, 100)), max_size=4).map(tuple), max_size=3
    ),
    end_offsets=st.dictionaries(end_keys, samples, max_size=4),
    commits=st.dictionaries(commit_keys, samples, max_size=4),
    task_throughput=st.dictionaries(st.text(max_size=12), st.floats(0, 1e6), max_size=3),
    low_load_since=st.none() | times,
    workflows=st.lists(workflows, max_size=3).map(tuple),
    last_notified=st.dictionaries(st.text(max_size=12), st.text(max_size=20), max_size=3),
    version=st.integers(0, 10**6),
)


@settings(max_examples=150, deadline=None)
@given(states)
def test_state_round_trips_through_json(state: ScalerState) -> None:
    assert loads_state(dumps_state(state)) == state


def test_every_state_field_has_a_codec_entry() -> None:
    # A field without one would silently not persist: add it to state/codec.py FIELDS.
    assert missing_field_codecs() == []


def test_a_document_without_a_field_decodes_it_as_its_default() -> None:
    doc = encode_state(ScalerState(task_throughput={"g": 2.0}, low_load_since=5.0))
    del doc["task_throughput"]
    assert decode_state(doc) == ScalerState(low_load_since=5.0)


def through_blobs(end: SampleTable, commits: SampleTable) -> tuple[SampleTable, SampleTable]:
    """Both tables written as the DynamoDB store writes them (layouts, one segment, a manifest) and read back."""
    layouts = {"end-layout": end.keys_by_row, "commit-layout": commits.keys_by_row}
    columns = [SegmentColumn(END, c.uid, c.t, "end-layout", c.values) for c in end.columns]
    columns += [SegmentColumn(COMMITS, c.uid, c.t, "commit-layout", c.values) for c in commits.columns]
    read_layouts = {name: decode_layout(encode_layout(keys)) for name, keys in layouts.items()}
    segment = decode_segment(encode_segment(columns, layouts), read_layouts)
    manifests = {
        END: table_manifest(end, "end-layout", {c.uid: "s" for c in end.columns}),
        COMMITS: table_manifest(commits, "commit-layout", {c.uid: "s" for c in commits.columns}),
    }
    tables, segments, _ = decode_manifest(encode_manifest(manifests, {"s": 1}, {"end-layout": (1, 0.0)}))
    assert segments == {"s": 1}
    found = {
        name: {c.uid: Column(c.uid, c.t, c.values) for c in segment.columns if c.table == name}
        for name in (END, COMMITS)
    }
    end_back, missing = table_from_parts(tables[END], read_layouts["end-layout"], found[END])
    commits_back, missing_commits = table_from_parts(tables[COMMITS], read_layouts["commit-layout"], found[COMMITS])
    assert missing == missing_commits == []
    return end_back, commits_back


@settings(max_examples=150, deadline=None)
@given(states)
def test_histories_round_trip_through_layouts_segments_and_manifest(state: ScalerState) -> None:
    end, commits = SampleTable.of(state.end_offsets), SampleTable.of(state.commits)
    end_back, commits_back = through_blobs(end, commits)
    assert end_back == state.end_offsets and commits_back == state.commits
    assert end_back.patterns == end.patterns and commits_back.monotonic == commits.monotonic


def test_commits_are_stored_as_lag_against_the_end_offset_of_their_moment() -> None:
    end = SampleTable.of({f"t:{p}": (OffsetSample(60.0, 10**12 + 7919 * p * p),) for p in range(2000)})
    commits = SampleTable.of({f"g|t:{p}": (OffsetSample(60.0, 10**12 + 7919 * p * p - p % 7),) for p in range(2000)})
    alone = SampleTable.of({f"g|t:{p}": (OffsetSample(61.0, 10**12 + 7919 * p * p - p % 7),) for p in range(2000)})

    def size(end: SampleTable, commits: SampleTable) -> int:
        columns = [SegmentColumn(END, c.uid, c.t, "e", c.values) for c in end.columns]
        columns += [SegmentColumn(COMMITS, c.uid, c.t, "c", c.values) for c in commits.columns]
        return len(encode_segment(columns, {"e": end.keys_by_row, "c": commits.keys_by_row}))

    assert through_blobs(end, commits) == (end, commits)
    # The same offsets at another moment have no end column to be stored against: absolute, far larger.
    assert size(end, commits) - size(end, SampleTable.of({})) < (size(end, alone) - size(end, SampleTable.of({}))) / 3


def test_a_layout_keeps_dead_rows_in_place() -> None:
    assert decode_layout(encode_layout(["a:0", None, "b|a:0"])) == ("a:0", None, "b|a:0")


def test_a_table_whose_columns_were_lost_drops_those_samples_and_rows_left_empty() -> None:
    end = SampleTable.of(
        {"t:0": (OffsetSample(1.0, 5), OffsetSample(2.0, 9)), "t:1": (OffsetSample(1.0, 3),), "t:2": ()}
    )
    manifest = table_manifest(end, "l", {c.uid: "s" for c in end.columns})
    kept = {c.uid: c for c in end.columns if c.t == 2.0}
    table, missing = table_from_parts(manifest, end.keys_by_row, kept)
    assert dict(table) == {"t:0": (OffsetSample(2.0, 9),), "t:2": ()}  # t:1 had only the lost sample
    assert missing == [c.uid for c in end.columns if c.t == 1.0]


def packed(header: object, payload: bytes = b"") -> bytes:
    """A blob as the codec frames one: zlib of (header length, JSON header, payload)."""
    head = json.dumps(header).encode()
    return zlib.compress(struct.pack("<I", len(head)) + head + payload)


ONE_COLUMN = {"table": "end", "uid": 0, "t": 1.0, "layout": "l", "rows": 2}


@pytest.mark.parametrize(
    ("decode", "blob", "mentions"),
    [
        (decode_layout, b"not zlib", "layout: error"),
        (decode_layout, packed([1, 2]), "layout: schema \\[1, 2\\]"),
        (decode_layout, packed({"schema": 2, "keys": [1]}), "not a list of strings"),
        (decode_manifest, packed({}), "manifest: schema None"),
        (decode_manifest, packed({"schema": 2}), "manifest: KeyError"),
        (decode_segment, zlib.compress(b"\x08\x00\x00\x00{no json"), "segment: JSONDecodeError"),
        (decode_segment, packed({"schema": 2, "columns": [ONE_COLUMN]}), "payload of 0 bytes for columns of 16"),
        (decode_segment, packed({"schema": 2, "columns": [ONE_COLUMN | {"table": "x"}]}, bytes(16)), "table 'x'"),
        (
            decode_segment,
            packed({"schema": 2, "columns": [ONE_COLUMN | {"table": "commits", "base": 0}]}, bytes(16)),
            "KeyError",
        ),
    ],
)
def test_unreadable_blobs_raise_a_named_error(decode: Any, blob: bytes, mentions: str) -> None:
    with pytest.raises(StateCodecError, match=mentions):
        decode(blob, {}) if decode is decode_segment else decode(blob)


@pytest.mark.parametrize(
    ("document", "mentions"),
    [
        ([], "not a JSON object"),
        ({"schema": 99}, "schema 99"),
        ({"schema": 1, "last_action_t": {"k": "soon"}}, "ValueError"),
        (
            {"schema": 1, "workflows": [{"kind": "broker_teleport", "started_at": 1, "from_count": 3, "to_count": 6}]},
            "broker_teleport",
        ),
        ({"schema": 1, "workflows": [{"kind": "broker_drain"}]}, "KeyError"),
        ({"schema": 1, "end_offsets": {"t:0": [[1.0]]}}, "ValueError"),
    ],
)
def test_unreadable_state_documents_raise_a_named_error(document: object, mentions: str) -> None:
    with pytest.raises(StateCodecError, match=mentions):
        decode_state(document)


def test_state_text_that_is_not_json_raises_a_named_error() -> None:
    with pytest.raises(StateCodecError, match="not JSON"):
        loads_state("{version: 3")
