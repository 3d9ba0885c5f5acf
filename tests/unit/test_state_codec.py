"""The state codec: ScalerState <-> JSON, and per-topic offset blobs, round-trip exactly."""

from __future__ import annotations

import json
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka_autoscaler.model import OffsetSample, ScalerState, Workflow
from kafka_autoscaler.state.codec import (
    StateCodecError,
    TopicOffsets,
    decode_offsets,
    decode_state,
    dumps_state,
    encode_offsets,
    encode_state,
    loads_state,
    offsets_by_topic,
    topic_of,
    with_offsets,
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


@settings(max_examples=150, deadline=None)
@given(states)
def test_offsets_split_by_topic_round_trip_through_blobs(state: ScalerState) -> None:
    parts = {topic: decode_offsets(encode_offsets(part)) for topic, part in offsets_by_topic(state).items()}
    document = decode_state(json.loads(json.dumps(encode_state(state, with_offsets=False))))
    assert document.end_offsets == {} and document.commits == {}
    assert with_offsets(document, parts) == state


@pytest.mark.parametrize(
    ("key", "topic"),
    [
        ("orders:3", "orders"),
        ("orders.v2-eu:11", "orders.v2-eu"),
        ("orders-processor|orders:3", "orders"),
        ("team:a|b|payments:0", "payments"),  # a group id holding ':' and '|'
    ],
)
def test_topic_of_reads_end_offset_and_commit_keys(key: str, topic: str) -> None:
    assert topic_of(key) == topic


def test_offset_blob_keeps_out_of_order_and_repeated_times_exact() -> None:
    part = TopicOffsets(
        end_offsets={"t:0": (OffsetSample(10.5, 100), OffsetSample(10.5, 90), OffsetSample(3.25, 1 << 62))},
        commits={"g|t:0": ()},
    )
    assert decode_offsets(encode_offsets(part)) == part


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


@pytest.mark.parametrize(
    ("blob", "mentions"),
    [
        (b"not zlib", "error"),
        (zlib.compress(b'{"schema": 7}'), "schema 7"),
        (zlib.compress(b'{"schema": 1, "times": [1.0], "end": {"t:0": [0, 5, 1]}, "commits": {}}'), "odd number"),
        (zlib.compress(b'{"schema": 1, "times": [1.0], "end": {"t:0": [4, 5]}, "commits": {}}'), "IndexError"),
    ],
)
def test_unreadable_offset_blobs_raise_a_named_error(blob: bytes, mentions: str) -> None:
    with pytest.raises(StateCodecError, match=mentions):
        decode_offsets(blob)
