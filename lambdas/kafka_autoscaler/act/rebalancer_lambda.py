"""Rebalancer in AWS: a Step Functions execution per rebalance, and its progress read back.

Partition moves outlast a scaler tick and a Lambda run, so the scaler only starts an execution of
the rebalance state machine (stacks/rebalance_workflow.py) and reads its progress on later ticks.
One execution at a time: while one runs, `start` starts nothing and `in_progress` reports the moves
it has left, so the scaler asks again only when no execution runs.

The execution name is the idempotency key. StartExecution with the name of an open execution and the
same input returns that execution; with another input, or once it has closed, it fails with
ExecutionAlreadyExists (https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html).
The name holds the decision's digest and the minute, so a retried call in the same tick starts one run.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from kafka_autoscaler.model import Decision
from kafka_autoscaler.observe.msk import aws_error_text
from kafka_autoscaler.ports import ActionError, ObserveError

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

FAILED: Final = ("FAILED", "TIMED_OUT", "ABORTED")
# The latest events hold the state the last step returned; a step's retries add a few more.
HISTORY_EVENTS: Final = 25


@dataclass(frozen=True)
class RebalanceProgress:
    """What the scaler knows of the rebalance executions."""

    running: str | None = None  # name of the execution under way
    moves_left: int | None = None  # as its last step reported; None before the first step returned
    last_error: str | None = None  # the latest execution's error, when it failed, timed out or was aborted

    def describe(self) -> str:
        if self.running is not None:
            left = "moves left unknown" if self.moves_left is None else f"{self.moves_left} moves left"
            return f"rebalance {self.running} running, {left}"
        return (
            f"no rebalance running; the last one ended with {self.last_error}"
            if self.last_error
            else "no rebalance running"
        )


def execution_name(decision: Decision, now: float) -> str:
    """`<action>-<UTC minute>-<digest of the decision>`: within Step Functions' 80 allowed characters."""
    digest = hashlib.sha256(_input(decision).encode()).hexdigest()[:12]
    return f"{decision.action.value}-{time.strftime('%Y%m%dT%H%MZ', time.gmtime(now))}-{digest}"


def _input(decision: Decision) -> str:
    return json.dumps({"decision": decision.as_dict()}, sort_keys=True, default=str)


def _moves_left(events: list[Mapping[str, Any]]) -> int | None:
    """The `moves_left` of the newest state a step returned or a state received, newest event first."""
    for event in events:
        for key in ("stateExitedEventDetails", "stateEnteredEventDetails"):
            text = event.get(key, {}).get("output" if key.startswith("stateExited") else "input")
            if not text:
                continue
            try:
                value = json.loads(text).get("moves_left")
            except (json.JSONDecodeError, AttributeError):
                continue
            if isinstance(value, int):
                return value
    return None


class StepFunctionsRebalancer:
    """ports.Rebalancer that starts executions of the rebalance state machine and reads their progress."""

    def __init__(self, sfn: SFNClient, state_machine_arn: str, clock: Callable[[], float] = time.time) -> None:
        self._sfn = sfn
        self._arn = state_machine_arn
        self._clock = clock
        self._seen: RebalanceProgress | None = None

    def progress(self) -> RebalanceProgress:
        """The running execution and its moves left, else the last execution's error if it failed."""
        try:
            running = self._sfn.list_executions(stateMachineArn=self._arn, statusFilter="RUNNING", maxResults=1)
            if running["executions"]:
                current = running["executions"][0]
                history = self._sfn.get_execution_history(
                    executionArn=current["executionArn"], reverseOrder=True, maxResults=HISTORY_EVENTS
                )
                events: list[Mapping[str, Any]] = [dict(e) for e in history["events"]]
                return RebalanceProgress(running=current["name"], moves_left=_moves_left(events))
            latest = self._sfn.list_executions(stateMachineArn=self._arn, maxResults=1)["executions"]
            if not latest or latest[0]["status"] not in FAILED:
                return RebalanceProgress()
            described = self._sfn.describe_execution(executionArn=latest[0]["executionArn"])
        except (BotoCoreError, ClientError) as error:
            raise ObserveError(
                f"rebalance executions of {self._arn} could not be read: {aws_error_text(error)}"
            ) from error
        why = ": ".join(part for part in (described.get("error"), described.get("cause")) if part)
        return RebalanceProgress(last_error=f"{latest[0]['name']} {described['status']}" + (f" ({why})" if why else ""))

    def in_progress(self) -> int | None:
        """Moves the running execution has left (at least 1 while one runs); 0 when none runs."""
        progress = self._seen = self.progress()
        if progress.running is None:
            return 0
        return max(progress.moves_left or 0, 1)

    def last_problem(self) -> str | None:
        """The last execution's failure, for the tick's problems; None when it did not fail.

        From the progress `in_progress` read this tick, when it did.
        """
        seen, self._seen = self._seen, None
        return (seen or self.progress()).last_error

    def start(self, decision: Decision) -> str:
        progress = self.progress()
        if progress.running is not None:
            return f"{progress.describe()}; not started again"
        name = execution_name(decision, self._clock())
        try:
            self._sfn.start_execution(stateMachineArn=self._arn, name=name, input=_input(decision))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
                return f"rebalance {name} was already started for this decision; not started again"
            raise ActionError(f"StartExecution of {self._arn} failed: {aws_error_text(error)}") from error
        except BotoCoreError as error:
            raise ActionError(f"StartExecution of {self._arn} failed: {aws_error_text(error)}") from error
        return f"rebalance {name} started on Step Functions"
