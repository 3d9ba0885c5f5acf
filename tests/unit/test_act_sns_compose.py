"""compose(): body and `decisions` attribute stay within SNS's 256 KiB, shrinking the attribute first."""

from __future__ import annotations

import json

from kafka_autoscaler.act.sns import ATTRIBUTE, ATTRIBUTE_TYPE, JSON_HEADER, SNS_MAX_BYTES, compose
from kafka_autoscaler.report import Message


def message(decisions: int, detail_bytes: int = 0) -> Message:
    rows = [
        {
            "target": "consumers",
            "key": f"consumer:g{i}",
            "action": "scale_out",
            "current": 2,
            "desired": 4,
            "reason": "LagAboveTarget",
            "message": "lag is high",
            "status": "applied",
            "detail": "x" * detail_bytes,
            "details": {"partitions": list(range(20))},
        }
        for i in range(decisions)
    ]
    payload = {"cluster": "orders", "decided_at": 1.0, "decisions": rows}
    return Message(
        "[kafka-autoscaler] orders: scale out", "\n".join(f"- g{i} 2 -> 4" for i in range(decisions)), payload
    )


def size(body: str, attribute: str) -> int:
    return len(body.encode()) + len(ATTRIBUTE) + len(ATTRIBUTE_TYPE) + len(attribute.encode())


def test_a_small_message_carries_the_full_json_twice() -> None:
    m = message(3)
    body, attribute = compose(m)
    text, _, body_json = body.partition(JSON_HEADER)
    assert text == m.text
    assert json.loads(body_json) == json.loads(attribute) == m.payload


def test_when_the_json_fits_once_the_attribute_is_summarized() -> None:
    m = message(40, detail_bytes=4000)  # ~170 KB of JSON: once fits, twice does not
    body, attribute = compose(m)
    assert json.loads(body.partition(JSON_HEADER)[2]) == m.payload
    summary = json.loads(attribute)
    assert summary["summarized"] is True
    assert summary["decisions"][0] == {
        "key": "consumer:g0",
        "action": "scale_out",
        "current": 2,
        "desired": 4,
        "reason": "LagAboveTarget",
        "status": "applied",
    }
    assert size(body, attribute) <= SNS_MAX_BYTES


def test_a_huge_payload_falls_back_to_counts() -> None:
    m = message(4000, detail_bytes=200)
    body, attribute = compose(m)
    assert json.loads(attribute)["counts"] == {"scale_out:applied": 4000}
    assert body == m.text + JSON_HEADER + attribute
    assert size(body, attribute) <= SNS_MAX_BYTES


def test_a_text_over_the_limit_is_truncated_and_says_so() -> None:
    m = message(1)
    m = Message(m.subject, "é" * 200_000, m.payload)  # 400 KB of two-byte characters
    body, attribute = compose(m)
    assert body.startswith("é" * 1000)
    assert body.endswith("(truncated: the message was over the SNS size limit)")
    assert size(body, attribute) <= SNS_MAX_BYTES
