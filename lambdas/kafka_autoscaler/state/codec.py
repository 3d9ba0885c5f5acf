"""ScalerState to and from JSON, and offset histories to and from compact compressed blobs.

Pure: no I/O. The DynamoDB and file stores share it, so both read what either wrote.

Offset histories are by far the largest part of the state (48 end-offset samples per
partition), so they travel apart from the document, one blob per topic: the distinct
sample times of the topic in one table, and per series the deltas of (time index,
offset), which zlib packs tightly because neighbouring deltas repeat.
"""

from __future__ import annotations

import dataclasses
import json
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any, get_args, get_type_hints

from kafka_autoscaler.model import Failure, Intent, OffsetSample, ScalerState, Workflow
from kafka_autoscaler.state.rate_codec import decode_rate_history, encode_rate_history

SCHEMA = 1
OFFSETS_SCHEMA = 1
WORKFLOW_KINDS: frozenset[str] = frozenset(get_args(get_type_hints(Workflow)["kind"]))
History = dict[str, tuple[OffsetSample, ...]]


class StateCodecError(Exception):
    """A stored state document or offsets blob is not in a shape this version reads."""


# ---------------------------------------------------------------- the state document
def encode_state(state: ScalerState, *, with_offsets: bool = True) -> dict[str, Any]:
    """A JSON-ready mapping of the state; offsets left out when stored apart."""
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "version": state.version,
        "last_action_t": dict(state.last_action_t),
        "recommendations": {k: [[t, n] for t, n in v] for k, v in state.recommendations.items()},
        "task_throughput": dict(state.task_throughput),
        "low_load_since": state.low_load_since,
        "workflows": [dataclasses.asdict(w) | {"broker_ids": list(w.broker_ids)} for w in state.workflows],
        "last_notified": dict(state.last_notified),
        "broker_type_low_since": state.broker_type_low_since,
        "failures": {k: dataclasses.asdict(f) for k, f in state.failures.items()},
        "intents": [dataclasses.asdict(i) for i in state.intents],
        "known_desired": dict(state.known_desired),
        "external_changes": dict(state.external_changes),
        "unsent": list(state.unsent),
        "rate_history": encode_rate_history(state.rate_history),
    }
    if with_offsets:
        doc["end_offsets"] = _history_to_json(state.end_offsets)
        doc["commits"] = _history_to_json(state.commits)
    return doc


def decode_state(doc: object) -> ScalerState:
    """The ScalerState in a document written by `encode_state`. Raises StateCodecError."""
    if not isinstance(doc, Mapping):
        raise StateCodecError("state document: not a JSON object")
    if doc.get("schema") != SCHEMA:
        raise StateCodecError(f"state document: schema {doc.get('schema')!r} is not {SCHEMA}")
    try:
        return ScalerState(
            last_action_t={str(k): float(v) for k, v in doc.get("last_action_t", {}).items()},
            recommendations={
                str(k): tuple((float(t), int(n)) for t, n in v) for k, v in doc.get("recommendations", {}).items()
            },
            end_offsets=_history_from_json(doc.get("end_offsets", {})),
            commits=_history_from_json(doc.get("commits", {})),
            task_throughput={str(k): float(v) for k, v in doc.get("task_throughput", {}).items()},
            low_load_since=None if doc.get("low_load_since") is None else float(doc["low_load_since"]),
            workflows=tuple(_workflow(w) for w in doc.get("workflows", [])),
            last_notified={str(k): str(v) for k, v in doc.get("last_notified", {}).items()},
            version=int(doc.get("version", 0)),
            broker_type_low_since=(
                None if doc.get("broker_type_low_since") is None else float(doc["broker_type_low_since"])
            ),
            failures={str(k): Failure(**v) for k, v in doc.get("failures", {}).items()},
            intents=tuple(Intent(**i) for i in doc.get("intents", [])),
            known_desired={str(k): int(v) for k, v in doc.get("known_desired", {}).items()},
            external_changes={str(k): float(v) for k, v in doc.get("external_changes", {}).items()},
            unsent=tuple(dict(m) for m in doc.get("unsent", [])),
            rate_history=decode_rate_history(doc.get("rate_history")),
        )
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


def _history_to_json(history: Mapping[str, tuple[OffsetSample, ...]]) -> dict[str, list[list[float | int]]]:
    return {key: [[s.t, s.offset] for s in samples] for key, samples in history.items()}


def _history_from_json(raw: Mapping[str, Any]) -> History:
    return {str(key): tuple(OffsetSample(float(t), int(o)) for t, o in samples) for key, samples in raw.items()}


# ---------------------------------------------------------------- offsets, per topic
@dataclass(frozen=True)
class TopicOffsets:
    """The offset histories of one topic: end offsets by "topic:partition", commits by "group|topic:partition"."""

    end_offsets: History = field(default_factory=dict)
    commits: History = field(default_factory=dict)


def topic_of(key: str) -> str:
    """The topic of an end-offset or commit key (topic names hold neither '|' nor ':')."""
    return key.rpartition("|")[2].rpartition(":")[0]


def offsets_by_topic(state: ScalerState) -> dict[str, TopicOffsets]:
    """The state's offset histories, split by topic."""
    topics: dict[str, TopicOffsets] = {}
    for key, samples in state.end_offsets.items():
        topics.setdefault(topic_of(key), TopicOffsets()).end_offsets[key] = samples
    for key, samples in state.commits.items():
        topics.setdefault(topic_of(key), TopicOffsets()).commits[key] = samples
    return topics


def with_offsets(state: ScalerState, topics: Mapping[str, TopicOffsets]) -> ScalerState:
    """The state with its offset histories replaced by the union of `topics`."""
    end_offsets: History = {}
    commits: History = {}
    for part in topics.values():
        end_offsets.update(part.end_offsets)
        commits.update(part.commits)
    return dataclasses.replace(state, end_offsets=end_offsets, commits=commits)


def _deltas(values: Sequence[int]) -> list[int]:
    return [b - a for a, b in zip((0, *values), values, strict=False)]


def encode_offsets(part: TopicOffsets) -> bytes:
    """A zlib-compressed blob of one topic's histories; exact for any float times and int offsets."""
    times = sorted({s.t for series in (*part.end_offsets.values(), *part.commits.values()) for s in series})
    index = {t: i for i, t in enumerate(times)}

    def pack(samples: tuple[OffsetSample, ...]) -> list[int]:
        indexes = [index[s.t] for s in samples]
        offsets = [s.offset for s in samples]
        packed = [0] * (2 * len(samples))
        packed[0::2] = _deltas(indexes)
        packed[1::2] = _deltas(offsets)
        return packed

    doc = {
        "schema": OFFSETS_SCHEMA,
        "times": times,
        "end": {k: pack(v) for k, v in part.end_offsets.items()},
        "commits": {k: pack(v) for k, v in part.commits.items()},
    }
    return zlib.compress(json.dumps(doc, separators=(",", ":")).encode("utf-8"), 6)


def decode_offsets(blob: bytes) -> TopicOffsets:
    """The histories in a blob written by `encode_offsets`. Raises StateCodecError."""
    try:
        doc = json.loads(zlib.decompress(blob))
        if doc.get("schema") != OFFSETS_SCHEMA:
            raise StateCodecError(f"offsets blob: schema {doc.get('schema')!r} is not {OFFSETS_SCHEMA}")
        times = [float(t) for t in doc["times"]]

        def unpack(packed: list[int]) -> tuple[OffsetSample, ...]:
            if len(packed) % 2:
                raise ValueError("a series has an odd number of values")
            moments = map(times.__getitem__, accumulate(packed[0::2]))
            return tuple(map(OffsetSample, moments, accumulate(packed[1::2])))

        return TopicOffsets(
            end_offsets={str(k): unpack(v) for k, v in doc["end"].items()},
            commits={str(k): unpack(v) for k, v in doc["commits"].items()},
        )
    except (zlib.error, json.JSONDecodeError, AttributeError, KeyError, IndexError, TypeError, ValueError) as error:
        raise StateCodecError(f"offsets blob: {type(error).__name__}: {error}") from error
