"""Runs the rebalance state machine's definition (stacks/rebalance_workflow.py) in-process, for tests.

Only the part of the Amazon States Language the definition uses, as the language specification
states it (https://states-language.net/spec.html): Task (Parameters with `.$` paths, Retry with
ErrorEquals / MaxAttempts, Catch with ResultPath), Choice (BooleanEquals, NumericGreaterThan), Wait,
Succeed and Fail. A Task calls `invoke(payload)` in place of the Lambda function; an error's name is
its exception's class name, as Lambda reports a Python function's error type. Waits call `wait(seconds)`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# stacks/ lives at the repository root, which pytest does not put on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from stacks.rebalance_definition import definition

REBALANCE = definition("STEPS_FUNCTION_ARN")

Invoke = Callable[[dict[str, Any]], dict[str, Any]]


class StateMachineFailedError(Exception):
    def __init__(self, error: str, cause: str) -> None:
        super().__init__(f"{error}: {cause}")
        self.error, self.cause = error, cause


@dataclass
class Run:
    output: dict[str, Any] = field(default_factory=dict)
    visited: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # every error a Task raised, retried or not


def _path(data: dict[str, Any], path: str) -> Any:
    value: Any = data
    for key in path.removeprefix("$").strip(".").split(".") if path != "$" else []:
        value = value[key]
    return value


def _parameters(template: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    return {k.removesuffix(".$"): _path(data, v) if k.endswith(".$") else v for k, v in template.items()}


def _matches(names: list[str], error: str) -> bool:
    return error in names or "States.ALL" in names


def _task(state: dict[str, Any], data: dict[str, Any], invoke: Invoke, run: Run) -> tuple[str, dict[str, Any]]:
    attempts: dict[int, int] = {}
    while True:
        try:
            return state["Next"], invoke(_parameters(state["Parameters"], data))
        except Exception as raised:
            name = type(raised).__name__
            run.errors.append(name)
            retrier = next((i for i, r in enumerate(state.get("Retry", [])) if _matches(r["ErrorEquals"], name)), None)
            if retrier is not None and attempts.get(retrier, 0) < state["Retry"][retrier].get("MaxAttempts", 3):
                attempts[retrier] = attempts.get(retrier, 0) + 1
                continue
            catcher = next((c for c in state.get("Catch", []) if _matches(c["ErrorEquals"], name)), None)
            if catcher is None:
                raise StateMachineFailedError(name, str(raised)) from raised
            caught = dict(data)
            caught[catcher["ResultPath"].removeprefix("$.")] = {"Error": name, "Cause": str(raised)}
            return catcher["Next"], caught


def _choice(state: dict[str, Any], data: dict[str, Any]) -> str:
    for rule in state["Choices"]:
        value = _path(data, rule["Variable"])
        if "BooleanEquals" in rule and value is rule["BooleanEquals"]:
            return str(rule["Next"])
        if "NumericGreaterThan" in rule and value > rule["NumericGreaterThan"]:
            return str(rule["Next"])
    return str(state["Default"])


def run_definition(
    definition: dict[str, Any], data: dict[str, Any], invoke: Invoke, wait: Callable[[float], None], max_states: int
) -> Run:
    """Run from StartAt until Succeed; a Fail state raises StateMachineFailedError."""
    run = Run()
    name = definition["StartAt"]
    while len(run.visited) < max_states:
        run.visited.append(name)
        state = definition["States"][name]
        kind = state["Type"]
        if kind == "Task":
            name, data = _task(state, data, invoke, run)
        elif kind == "Choice":
            name = _choice(state, data)
        elif kind == "Wait":
            wait(state["Seconds"])
            name = state["Next"]
        elif kind == "Succeed":
            run.output = data
            return run
        else:  # Fail
            raise StateMachineFailedError(_path(data, state["ErrorPath"]), _path(data, state["CausePath"]))
    raise AssertionError(f"more than {max_states} states: {run.visited[-10:]}")
