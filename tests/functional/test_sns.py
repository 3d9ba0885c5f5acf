"""SnsNotifier against moto, read back through an SQS subscription."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from kafka_autoscaler.act.sns import JSON_HEADER, SnsNotifier
from kafka_autoscaler.model import Action, Decision, Outcome, OutcomeStatus, Reason, Target
from kafka_autoscaler.ports import ActionError
from kafka_autoscaler.report import render
from moto import mock_aws

REGION = "eu-west-1"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str, Any, str]]:
    with mock_aws():
        sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
        topic = sns.create_topic(Name="kafka-autoscaler-decisions")["TopicArn"]
        queue = sqs.create_queue(QueueName="decisions")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        yield sns, topic, sqs, queue


def received(sqs: Any, queue: str) -> list[dict[str, Any]]:
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def scale_out(key: str, details: dict[str, Any] | None = None) -> Outcome:
    decision = Decision(
        Target.CONSUMERS,
        key,
        Action.SCALE_OUT,
        4,
        8,
        Reason.LAG_ABOVE_TARGET,
        f"{key}: scale out 4 -> 8, lag 95 s above the 60 s target",
        details or {},
    )
    return Outcome(decision, OutcomeStatus.APPLIED, "orders/orders-processor desiredCount=8")


def test_publish_sends_subject_text_json_and_the_decisions_attribute(aws: tuple[Any, str, Any, str]) -> None:
    sns, topic, sqs, queue = aws
    message = render([scale_out("consumer:orders-processor")], "orders", 1_700_000_000.0)

    SnsNotifier(sns, topic).publish(message)

    [notification] = received(sqs, queue)
    assert notification["Subject"] == message.subject
    text, _, body_json = notification["Message"].partition(JSON_HEADER)
    assert text == message.text and "scale out 4 -> 8" in text
    assert json.loads(body_json) == message.payload
    attribute = notification["MessageAttributes"]["decisions"]
    assert attribute["Type"] == "String"
    assert json.loads(attribute["Value"]) == message.payload


def test_a_large_report_still_publishes_within_the_limit(aws: tuple[Any, str, Any, str]) -> None:
    sns, topic, sqs, queue = aws
    outcomes = [scale_out(f"consumer:g{i}", {"hot": ["x" * 100] * 40}) for i in range(40)]  # ~170 KB of JSON
    message = render(outcomes, "orders", 1_700_000_000.0)

    SnsNotifier(sns, topic).publish(message)

    [notification] = received(sqs, queue)
    assert json.loads(notification["Message"].partition(JSON_HEADER)[2]) == message.payload
    summary = json.loads(notification["MessageAttributes"]["decisions"]["Value"])
    assert summary["summarized"] is True and len(summary["decisions"]) == 40


def test_a_publish_failure_is_an_action_error_naming_the_topic(aws: tuple[Any, str, Any, str]) -> None:
    sns, topic, _, _ = aws
    missing = topic.replace("kafka-autoscaler-decisions", "deleted-topic")
    with pytest.raises(ActionError, match="deleted-topic failed: NotFound"):
        SnsNotifier(sns, missing).publish(render([scale_out("consumer:a")], "orders", 1.0))
