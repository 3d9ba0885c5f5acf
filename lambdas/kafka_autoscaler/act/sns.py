"""SNS notifier: the human text and the JSON in the body, the JSON again as a message attribute.

Subscribers that filter or parse read the `decisions` attribute; people read the body.
SNS counts the body and every attribute (name, type and value) against one 256 KiB limit,
so when the full JSON does not fit twice, the attribute carries a compact summary.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from kafka_autoscaler.observe.msk import aws_error_text
from kafka_autoscaler.ports import ActionError
from kafka_autoscaler.report import Message

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

SNS_MAX_BYTES = 256 * 1024
SAFETY_BYTES = 1024  # headroom for SNS's own accounting
ATTRIBUTE = "decisions"
ATTRIBUTE_TYPE = "String"
JSON_HEADER = "\n\n--- decisions as JSON ---\n"
TRUNCATED = "\n... (truncated: the message was over the SNS size limit)"
SUMMARY_FIELDS = ("key", "action", "current", "desired", "reason", "status")


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def _dumps(payload: dict[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)


def summaries(payload: dict[str, Any]) -> Iterator[str]:
    """Ever smaller JSON renderings of the payload: full, per-decision essentials, counts only."""
    yield _dumps(payload)
    decisions: list[dict[str, Any]] = list(payload.get("decisions", []))
    head = {k: v for k, v in payload.items() if k != "decisions"} | {"summarized": True}
    yield _dumps(head | {"decisions": [{k: d.get(k) for k in SUMMARY_FIELDS} for d in decisions]})
    counts = Counter(f"{d.get('action')}:{d.get('status')}" for d in decisions)
    yield _dumps(head | {"counts": dict(sorted(counts.items()))})


def _truncate(text: str, max_bytes: int) -> str:
    if _size(text) <= max_bytes:
        return text
    room = max(max_bytes - _size(TRUNCATED), 0)
    return text.encode("utf-8")[:room].decode("utf-8", errors="ignore") + TRUNCATED


def compose(message: Message, max_bytes: int = SNS_MAX_BYTES - SAFETY_BYTES) -> tuple[str, str]:
    """The body and the `decisions` attribute value, together within `max_bytes`."""
    renderings = list(summaries(message.payload))
    fixed = _size(ATTRIBUTE) + _size(ATTRIBUTE_TYPE)
    for body_json in renderings:
        body = message.text + JSON_HEADER + body_json
        for attribute in renderings:
            if _size(body) + fixed + _size(attribute) <= max_bytes:
                return body, attribute
    attribute = renderings[-1]
    return _truncate(message.text + JSON_HEADER + attribute, max_bytes - fixed - _size(attribute)), attribute


class SnsNotifier:
    """ports.Notifier on an SNS topic."""

    def __init__(self, sns_client: SNSClient, topic_arn: str) -> None:
        self._sns = sns_client
        self._topic_arn = topic_arn

    def publish(self, message: Message) -> None:
        body, attribute = compose(message)
        try:
            self._sns.publish(
                TopicArn=self._topic_arn,
                Subject=message.subject,
                Message=body,
                MessageAttributes={ATTRIBUTE: {"DataType": ATTRIBUTE_TYPE, "StringValue": attribute}},
            )
        except (BotoCoreError, ClientError) as error:
            raise ActionError(f"SNS Publish to {self._topic_arn} failed: {aws_error_text(error)}") from error
