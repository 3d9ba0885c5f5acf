"""Hostile events: every one is a trigger, an ignored event or a MalformedEventError; never another error.

Mutations of AWS's documented examples (the fixtures): values replaced at random paths, alarm
states CloudWatch does not have, and SNS messages nested deeply. A malformed alarm never ticks.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from fuzzing import mutate
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka_autoscaler.handlers.events import (
    ALARM_STATES,
    AlarmTrigger,
    IgnoredEvent,
    MalformedEventError,
    ScheduledTrigger,
    parse_event,
)

EVENTS = Path(__file__).parent.parent / "fixtures" / "events"
FIXTURES = ("scheduled.json", "alarm_state_change.json", "alarm_lambda_action.json", "alarm_sns.json")


def event(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())


def _outcome(raw: object) -> str:
    try:
        parsed = parse_event(raw)
    except MalformedEventError as error:
        assert str(error), "a malformed event says what is wrong"
        return "malformed"
    if isinstance(parsed, AlarmTrigger):
        assert parsed.state in ALARM_STATES and (parsed.previous_state in ALARM_STATES | {None}), parsed
        return "alarm"
    assert isinstance(parsed, ScheduledTrigger | IgnoredEvent)
    return "scheduled" if isinstance(parsed, ScheduledTrigger) else "ignored"


def _sns(message: str) -> dict[str, Any]:
    raw = event("alarm_sns.json")
    raw["Records"][0]["Sns"]["Message"] = message
    return raw


@pytest.mark.parametrize("state", ["BOGUS", "alarm", "Ok", "", "INSUFFICIENT DATA", "ALARM "])
def test_an_alarm_state_cloudwatch_does_not_have_is_malformed_in_every_shape(state: str) -> None:
    bridge, action = event("alarm_state_change.json"), event("alarm_lambda_action.json")
    bridge["detail"]["state"]["value"] = state
    action["alarmData"]["state"]["value"] = state
    notification = json.loads(event("alarm_sns.json")["Records"][0]["Sns"]["Message"])
    notification["NewStateValue"] = state
    for raw in (bridge, action, _sns(json.dumps(notification))):
        with pytest.raises(MalformedEventError):
            parse_event(raw)


def test_an_unknown_previous_state_is_malformed_too() -> None:
    raw = event("alarm_state_change.json")
    raw["detail"]["previousState"]["value"] = "WHATEVER"
    with pytest.raises(MalformedEventError, match="previous state 'WHATEVER'"):
        parse_event(raw)


@pytest.mark.parametrize("depth", [33, 200, 100_000])
def test_a_deeply_nested_sns_message_is_malformed(depth: int) -> None:
    notification = json.loads(event("alarm_sns.json")["Records"][0]["Sns"]["Message"])
    text = json.dumps(notification)[:-1] + ', "Deep": ' + "[" * depth + "]" * depth + "}"
    with pytest.raises(MalformedEventError, match="nests"):
        parse_event(_sns(text))


HOSTILE: list[object] = [None, 0, -1, 1e308, "", "BOGUS", "ALARM", [], {}, [[[]]], {"value": "BOGUS"}, "{", "[" * 5000]


def _mutated(rng: random.Random) -> object:
    name = rng.choice(FIXTURES)
    raw = event(name)
    if name == "alarm_sns.json" and rng.random() < 0.5:  # mutate inside the JSON text of the message
        inner = json.loads(raw["Records"][0]["Sns"]["Message"])
        mutate(rng, inner, HOSTILE)
        raw["Records"][0]["Sns"]["Message"] = json.dumps(inner)
    else:
        mutate(rng, raw, HOSTILE)
    return raw


FUZZ_EVENTS = 3000


def test_fuzzed_events_never_raise_anything_but_malformed(capsys: pytest.CaptureFixture[str]) -> None:
    rng = random.Random(13)
    outcomes = {"alarm": 0, "scheduled": 0, "ignored": 0, "malformed": 0}
    for _ in range(FUZZ_EVENTS):
        outcomes[_outcome(_mutated(rng))] += 1
    with capsys.disabled():
        print(f"\nevent fuzz: {FUZZ_EVENTS} tried, {outcomes['malformed']} rejected as malformed, {outcomes}")
    assert outcomes["malformed"] > 0 and outcomes["alarm"] > 0


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(
    st.fixed_dictionaries(
        {"source": st.sampled_from(["aws.cloudwatch", "aws.events", "x"])},
        optional={"detail-type": st.sampled_from(["CloudWatch Alarm State Change", "Scheduled Event"]), "detail": JSON},
    )
    | st.builds(_sns, st.text(max_size=200) | JSON.map(json.dumps))
)
def test_any_event_of_a_known_source_is_parsed_or_malformed(raw: object) -> None:
    _outcome(raw)
