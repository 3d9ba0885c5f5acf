"""parse_event: every documented trigger shape, unknown events, and malformed ones."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from kafka_autoscaler.handlers.events import (
    AlarmTrigger,
    IgnoredEvent,
    MalformedEventError,
    ScheduledTrigger,
    parse_event,
)

EVENTS = Path(__file__).parent.parent / "fixtures" / "events"


def event(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        (
            "scheduled.json",
            ScheduledTrigger(
                "arn:aws:events:eu-west-1:123456789012:rule/kafka-autoscaler-orders-schedule", "2024-05-14T09:31:00Z"
            ),
        ),
        ("alarm_state_change.json", AlarmTrigger("eventbridge", "kafka-autoscaler-orders-cpu-high", "ALARM", "OK")),
        ("alarm_lambda_action.json", AlarmTrigger("lambda_action", "kafka-autoscaler-orders-lag-high", "ALARM", "OK")),
        ("alarm_sns.json", AlarmTrigger("sns", "kafka-autoscaler-orders-disk-high", "ALARM", "OK")),
    ],
)
def test_each_trigger_shape_is_recognised(fixture: str, expected: object) -> None:
    assert parse_event(event(fixture)) == expected


@pytest.mark.parametrize(
    ("payload", "reason_mentions"),
    [
        (event("unknown_s3_put.json"), "aws:s3"),
        (event("unknown_custom.json"), "com.example.orders"),
        (
            {"source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm Configuration Change", "detail": {}},
            "Configuration Change",
        ),
        ({}, "not a schedule or alarm event"),
        ([1, 2], "list"),
        ("tick", "str"),
    ],
)
def test_other_events_are_ignored_with_a_reason(payload: object, reason_mentions: str) -> None:
    result = parse_event(payload)
    assert isinstance(result, IgnoredEvent)
    assert reason_mentions in result.reason


@pytest.mark.parametrize(
    ("fixture", "message_mentions"),
    [
        ("malformed_sns_not_json.json", "SNS message is not JSON"),
        ("malformed_sns_not_alarm.json", "no 'AlarmName'"),
        ("malformed_alarm_no_state.json", "no 'state.value'"),
        ("malformed_state_change_no_detail.json", "'detail' is missing"),
    ],
)
def test_known_shapes_with_missing_parts_raise_a_clear_error(fixture: str, message_mentions: str) -> None:
    with pytest.raises(MalformedEventError, match=re.escape(message_mentions)):
        parse_event(event(fixture))


def test_sns_record_without_a_message_is_malformed() -> None:
    broken = event("alarm_sns.json")
    del broken["Records"][0]["Sns"]["Message"]
    with pytest.raises(MalformedEventError, match=r"no 'Sns\.Message'"):
        parse_event(broken)


def test_sns_alarm_without_new_state_is_malformed() -> None:
    broken = event("alarm_sns.json")
    alarm = json.loads(broken["Records"][0]["Sns"]["Message"])
    del alarm["NewStateValue"]
    broken["Records"][0]["Sns"]["Message"] = json.dumps(alarm)
    with pytest.raises(MalformedEventError, match="kafka-autoscaler-orders-disk-high has no 'NewStateValue'"):
        parse_event(broken)


def test_triggers_describe_themselves_for_the_logs() -> None:
    alarm = parse_event(event("alarm_state_change.json"))
    assert isinstance(alarm, AlarmTrigger)
    assert alarm.describe() == "alarm kafka-autoscaler-orders-cpu-high (OK -> ALARM) via eventbridge"
    schedule = parse_event(event("scheduled.json"))
    assert isinstance(schedule, ScheduledTrigger)
    assert schedule.describe().startswith("schedule arn:aws:events:eu-west-1:123456789012:rule/")
