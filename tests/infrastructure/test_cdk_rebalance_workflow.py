"""The rebalance state machine: its states, how they connect, retries, timeouts, and its one role."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cdk_support import Synthesized

from stacks.rebalance_workflow import state_machine_name

pytestmark = pytest.mark.infrastructure

STEPS_ARN = "STEPS_FUNCTION_ARN"
TASKS = {"Plan": "plan", "Submit": "submit", "Poll": "poll", "ClearThrottles": "clear", "ElectLeaders": "elect"}


def machine(synth: Synthesized) -> tuple[dict[str, Any], dict[str, Any]]:
    """(properties, the definition with the steps function's ARN as STEPS_FUNCTION_ARN)."""
    (resource,) = synth.resources("AWS::StepFunctions::StateMachine").values()
    properties = resource["Properties"]
    (steps,) = [n for n in synth.resources("AWS::Lambda::Function") if n.startswith("FunctionsRebalancer")]
    separator, parts = properties["DefinitionString"]["Fn::Join"]
    text = separator.join(STEPS_ARN if p == {"Fn::GetAtt": [steps, "Arn"]} else p for p in parts)
    definition: dict[str, Any] = json.loads(text)
    return properties, definition


def test_a_standard_workflow_with_a_run_timeout_tracing_and_logs(example: Synthesized) -> None:
    properties, definition = machine(example)
    assert properties["StateMachineType"] == "STANDARD"  # Express runs stop at 5 minutes
    assert definition["TimeoutSeconds"] == 24 * 3600
    assert properties["TracingConfiguration"] == {"Enabled": True}
    assert properties["LoggingConfiguration"]["Level"] == "ALL"


def test_every_step_is_a_short_call_of_the_steps_function_retried_with_backoff(example: Synthesized) -> None:
    _, definition = machine(example)
    states = definition["States"]
    for name, step in TASKS.items():
        task = states[name]
        assert task["Type"] == "Task"
        assert task["Resource"] == STEPS_ARN
        assert task["Parameters"]["step"] == step
        assert task["TimeoutSeconds"] == 130  # the function's 120 s and a little
        no_retry, backoff = task["Retry"]
        assert no_retry == {"ErrorEquals": ["PlacementError", "RebalanceRequestError"], "MaxAttempts": 0}
        assert backoff["ErrorEquals"] == ["States.ALL"]
        assert backoff["BackoffRate"] == 2
        assert backoff["MaxAttempts"] == 5
        assert backoff["JitterStrategy"] == "FULL"
        assert task["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}]
    assert states["Plan"]["Parameters"] == {"step": "plan", "decision.$": "$.decision"}
    assert states["Submit"]["Parameters"] == {"step": "submit", "state.$": "$"}
    assert states["Failed"]["Type"] == "Fail"


def test_the_flow_plans_submits_waits_polls_and_finishes(example: Synthesized) -> None:
    _, definition = machine(example)
    states = definition["States"]
    assert definition["StartAt"] == "Plan"
    assert states["Plan"]["Next"] == "Planned"
    assert states["Planned"]["Choices"] == [{"Variable": "$.done", "BooleanEquals": True, "Next": "Done"}]
    assert states["Planned"]["Default"] == "Submit"
    assert states["Submit"]["Next"] == "Submitted"
    assert states["Submitted"]["Choices"] == [{"Variable": "$.done", "BooleanEquals": True, "Next": "ClearThrottles"}]
    assert states["Submitted"]["Default"] == "Wait"
    assert states["Wait"] == {"Type": "Wait", "Seconds": 30, "Next": "Poll"}
    assert states["Poll"]["Next"] == "Polled"
    assert states["Polled"]["Choices"] == [{"Variable": "$.room", "NumericGreaterThan": 0, "Next": "Submit"}]
    assert states["Polled"]["Default"] == "Wait"
    assert states["ClearThrottles"]["Next"] == "ElectLeaders"
    assert states["ElectLeaders"]["Next"] == "Done"
    assert states["Done"] == {"Type": "Succeed"}


def test_every_state_is_reachable_and_every_transition_names_a_state(example: Synthesized) -> None:
    _, definition = machine(example)
    states = definition["States"]

    def targets(state: dict[str, Any]) -> set[str]:
        found = {state[k] for k in ("Next", "Default") if k in state}
        found |= {c["Next"] for c in state.get("Choices", []) + state.get("Catch", [])}
        return found

    seen, frontier = set(), [definition["StartAt"]]
    while frontier:
        name = frontier.pop()
        if name not in seen:
            seen.add(name)
            frontier += sorted(targets(states[name]))
    assert seen == set(states)


def test_the_name_fits_step_functions_limit() -> None:
    assert state_machine_name("KafkaAutoscaler-orders") == "KafkaAutoscaler-orders-rebalance"
    long_a, long_b = state_machine_name("K" * 100 + "a"), state_machine_name("K" * 100 + "b")
    assert len(long_a) == len(long_b) == 80
    assert long_a != long_b
