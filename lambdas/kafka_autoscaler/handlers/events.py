"""What invoked the scaler: the event, parsed into a typed trigger.

Four shapes start a tick:
- the EventBridge schedule ("source": "aws.events", "detail-type": "Scheduled Event");
- an alarm state change through EventBridge ("detail-type": "CloudWatch Alarm State Change");
- an alarm invoking the function as its action ("source": "aws.cloudwatch", "alarmData");
- an alarm notification through SNS (Records[0].EventSource "aws:sns", the alarm as JSON text).
Any other event is an IgnoredEvent. One of these shapes with parts missing or unreadable
raises MalformedEventError naming what is wrong, and so does an alarm state CloudWatch does
not have (OK, ALARM, INSUFFICIENT_DATA:
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-evaluation.html#alarm-states)
and an SNS message nested deeper than any alarm notification is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

SCHEDULED = "Scheduled Event"
ALARM_STATE_CHANGE = "CloudWatch Alarm State Change"
ALARM_STATES = frozenset({"OK", "ALARM", "INSUFFICIENT_DATA"})
MAX_MESSAGE_DEPTH = 32  # an alarm notification nests 4 levels (Trigger.Metrics[].MetricStat.Metric)


class MalformedEventError(Exception):
    """The event has a known shape but a part of it is missing or unreadable."""


@dataclass(frozen=True)
class ScheduledTrigger:
    rule: str  # the rule's ARN, as EventBridge names it in `resources`
    time: str

    def describe(self) -> str:
        return f"schedule {self.rule or '(unnamed rule)'} at {self.time or '(no time)'}"


@dataclass(frozen=True)
class AlarmTrigger:
    via: Literal["eventbridge", "lambda_action", "sns"]
    alarm_name: str
    state: str  # ALARM, OK or INSUFFICIENT_DATA
    previous_state: str | None = None

    def describe(self) -> str:
        change = f"{self.previous_state} -> {self.state}" if self.previous_state else self.state
        return f"alarm {self.alarm_name} ({change}) via {self.via}"


@dataclass(frozen=True)
class IgnoredEvent:
    reason: str


Trigger = ScheduledTrigger | AlarmTrigger


def parse_event(event: object) -> Trigger | IgnoredEvent:
    """The trigger in a Lambda event. Raises MalformedEventError for a known shape gone wrong."""
    if not isinstance(event, Mapping):
        return IgnoredEvent(f"the event is a {type(event).__name__}, not a JSON object")
    records = event.get("Records")
    if isinstance(records, list) and records and isinstance(records[0], Mapping):
        source = records[0].get("EventSource", records[0].get("eventSource"))
        if source == "aws:sns":
            return _sns_alarm(records)
        return IgnoredEvent(f"records from {source!r} are not alarm notifications")
    source, detail_type = event.get("source"), event.get("detail-type")
    if source == "aws.events" and detail_type == SCHEDULED:
        resources = event.get("resources")
        rule = resources[0] if isinstance(resources, list) and resources and isinstance(resources[0], str) else ""
        return ScheduledTrigger(rule=rule, time=str(event.get("time", "")))
    if source == "aws.cloudwatch" and detail_type == ALARM_STATE_CHANGE:
        return _alarm_data(event.get("detail"), "eventbridge", "the EventBridge event's 'detail'")
    if source == "aws.cloudwatch" and "alarmData" in event:
        return _alarm_data(event.get("alarmData"), "lambda_action", "the alarm action's 'alarmData'")
    return IgnoredEvent(f"not a schedule or alarm event (source={source!r}, detail-type={detail_type!r})")


def _alarm_data(data: object, via: Literal["eventbridge", "lambda_action"], where: str) -> AlarmTrigger:
    """The alarm in EventBridge's `detail` or the alarm action's `alarmData` (same fields)."""
    if not isinstance(data, Mapping):
        raise MalformedEventError(f"{where} is missing or not an object")
    name = data.get("alarmName")
    state = _state_value(data.get("state"))
    if not isinstance(name, str) or not name:
        raise MalformedEventError(f"{where} has no 'alarmName'")
    if state is None:
        raise MalformedEventError(f"{where} of alarm {name} has no 'state.value'")
    previous = _state_value(data.get("previousState"))
    return AlarmTrigger(via, name, _known_state(state, name, "state.value"), _known_previous(previous, name))


def _known_state(state: str, alarm: str, field: str) -> str:
    if state not in ALARM_STATES:
        allowed = ", ".join(sorted(ALARM_STATES))
        raise MalformedEventError(f"alarm {alarm}: {field} {state[:40]!r} is not a CloudWatch alarm state ({allowed})")
    return state


def _known_previous(state: str | None, alarm: str) -> str | None:
    return None if state is None else _known_state(state, alarm, "the previous state")


def _state_value(state: object) -> str | None:
    value = state.get("value") if isinstance(state, Mapping) else None
    return value if isinstance(value, str) and value else None


def _sns_alarm(records: list[Any]) -> AlarmTrigger:
    """The alarm in the first SNS record: its Message is the alarm notification as JSON text."""
    sns = records[0].get("Sns")
    text = sns.get("Message") if isinstance(sns, Mapping) else None
    if not isinstance(text, str):
        raise MalformedEventError("the SNS record has no 'Sns.Message' text")
    try:
        alarm = json.loads(text)
    except json.JSONDecodeError as error:
        raise MalformedEventError(f"the SNS message is not JSON ({error.msg} at character {error.pos})") from None
    except RecursionError:
        raise MalformedEventError("the SNS message nests too deeply to be an alarm notification") from None
    if _depth(alarm) > MAX_MESSAGE_DEPTH:
        raise MalformedEventError(f"the SNS message nests more than {MAX_MESSAGE_DEPTH} levels deep")
    if not isinstance(alarm, Mapping) or not isinstance(alarm.get("AlarmName"), str):
        raise MalformedEventError("the SNS message is JSON but not a CloudWatch alarm notification (no 'AlarmName')")
    state = alarm.get("NewStateValue")
    if not isinstance(state, str) or not state:
        raise MalformedEventError(f"the SNS alarm notification of {alarm['AlarmName']} has no 'NewStateValue'")
    name = alarm["AlarmName"]
    previous = alarm.get("OldStateValue")
    previous = previous if isinstance(previous, str) and previous else None
    return AlarmTrigger("sns", name, _known_state(state, name, "NewStateValue"), _known_previous(previous, name))


def _depth(value: object, limit: int = MAX_MESSAGE_DEPTH) -> int:
    """Levels of nested objects and arrays in a parsed JSON value, counted no further than `limit` + 1."""
    depth, level = 0, [value]
    while depth <= limit:
        containers = [node for node in level if isinstance(node, Mapping | list)]
        if not containers:
            return depth
        depth += 1
        level = [child for node in containers for child in (node.values() if isinstance(node, Mapping) else node)]
    return depth
