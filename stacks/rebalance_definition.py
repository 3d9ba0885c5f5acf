"""The rebalance state machine in Amazon States Language, without CDK (tests run it in-process).

    Plan -> (nothing to move | refused) -> Done
    Plan -> Submit -> (done) -> ClearThrottles -> ElectLeaders -> Done
                   -> Wait -> Poll -> (room for more moves) -> Submit
                                   -> (window full) -> Wait

Every Task retries with exponential backoff and full jitter on any error except the two no retry
helps (PlacementError, RebalanceRequestError); once the retries are spent the execution fails
(https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html).
"""

from __future__ import annotations

from typing import Any, Final

STEP_TIMEOUT_S: Final = 120  # the steps function's timeout: a submit step watches its batch for 20 s
POLL_S: Final = 30  # the wait between polls of the moves
RUN_TIMEOUT_S: Final = 24 * 3600  # a whole run, drains of hours included

NOT_RETRIED: Final = ["PlacementError", "RebalanceRequestError"]
RETRY_INTERVAL_S: Final = 5
RETRY_BACKOFF: Final = 2.0
RETRY_ATTEMPTS: Final = 5  # 5, 10, 20, 40, 80 s at most (full jitter): rides out a controller failover
RETRY_MAX_DELAY_S: Final = 120
# A step's own limit: the function's timeout, and a little for Lambda to answer.
TASK_TIMEOUT_S: Final = STEP_TIMEOUT_S + 10


def _task(function_arn: str, step: str, next_state: str, *, first: bool = False) -> dict[str, Any]:
    # The plan step takes the scaler's decision; the others the state the previous step returned.
    parameters = {"step": step, "decision.$": "$.decision"} if first else {"step": step, "state.$": "$"}
    return {
        "Type": "Task",
        "Resource": function_arn,
        "Parameters": parameters,
        "TimeoutSeconds": TASK_TIMEOUT_S,
        "Retry": [
            {"ErrorEquals": NOT_RETRIED, "MaxAttempts": 0},
            {
                "ErrorEquals": ["States.ALL"],
                "IntervalSeconds": RETRY_INTERVAL_S,
                "BackoffRate": RETRY_BACKOFF,
                "MaxAttempts": RETRY_ATTEMPTS,
                "MaxDelaySeconds": RETRY_MAX_DELAY_S,
                "JitterStrategy": "FULL",
            },
        ],
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}],
        "Next": next_state,
    }


def definition(function_arn: str) -> dict[str, Any]:
    """The state machine in Amazon States Language."""
    return {
        "Comment": "kafka-autoscaler: one rebalance or drain, in short steps",
        "StartAt": "Plan",
        "TimeoutSeconds": RUN_TIMEOUT_S,
        "States": {
            "Plan": _task(function_arn, "plan", "Planned", first=True),
            "Planned": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.done", "BooleanEquals": True, "Next": "Done"}],
                "Default": "Submit",
            },
            "Submit": _task(function_arn, "submit", "Submitted"),
            "Submitted": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.done", "BooleanEquals": True, "Next": "ClearThrottles"}],
                "Default": "Wait",
            },
            "Wait": {"Type": "Wait", "Seconds": POLL_S, "Next": "Poll"},
            "Poll": _task(function_arn, "poll", "Polled"),
            "Polled": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.room", "NumericGreaterThan": 0, "Next": "Submit"}],
                "Default": "Wait",
            },
            "ClearThrottles": _task(function_arn, "clear", "ElectLeaders"),
            "ElectLeaders": _task(function_arn, "elect", "Done"),
            "Done": {"Type": "Succeed"},
            "Failed": {
                "Type": "Fail",
                "Comment": "A step failed after its retries; the failure alarm tells the topic.",
                "ErrorPath": "$.error.Error",
                "CausePath": "$.error.Cause",
            },
        },
    }
