"""Failure memory: a change that failed is not sent again until its back-off has passed.

Without it a refused change is retried, and told, on every tick: up to 1,440 messages a day for
one refusal MSK will keep making for hours (its storage cool-down runs from 6 to over 24 hours:
https://docs.aws.amazon.com/msk/latest/developerguide/msk-update-storage.html).
"""

from __future__ import annotations

import dataclasses

from kafka_autoscaler.config import RetryPolicy
from kafka_autoscaler.model import Action, Decision, Failure, Reason, ScalerState

CLEARED = "cleared_failure"  # detail naming the failure a decision clears


def backoff_s(policy: RetryPolicy, attempts: int) -> float:
    """The wait after the n-th failed attempt in a row: initial, doubling, capped."""
    return float(min(policy.initial_backoff_s * 2 ** max(attempts - 1, 0), policy.max_backoff_s))


def after_failure(previous: Failure | None, error: str, policy: RetryPolicy, now: float) -> Failure:
    """The failure memory once an attempt has failed again (or for the first time)."""
    attempts = previous.attempts + 1 if previous else 1
    first = previous.first_t if previous else now
    return Failure(error, first, now, attempts, now + backoff_s(policy, attempts))


def with_backoff(decision: Decision, state: ScalerState, now: float) -> Decision:
    """Hold a change whose last attempt failed until its retry time; say so once the need is gone."""
    failure = state.failures.get(decision.key)
    if failure is None:
        return decision
    if decision.changes_something:
        if now >= failure.retry_at:
            return decision  # the back-off has passed: try again
        wait_min = (failure.retry_at - now) / 60
        return dataclasses.replace(
            decision,
            action=Action.HOLD,
            desired=decision.current,
            reason=Reason.RETRY_BACKOFF,
            message=(
                f"{decision.key}: {decision.action.value} {decision.current} -> {decision.desired} failed "
                f"{failure.attempts} time(s) ({failure.error}); next attempt in {wait_min:.0f} min."
            ),
            details={**decision.details, "wanted": decision.desired, "attempts": failure.attempts},
        )
    # Why: the failing change is no longer wanted; its failure is over and a person is told so.
    return dataclasses.replace(
        decision,
        message=f"{decision.message} (the earlier failure is cleared: {failure.error})",
        details={**decision.details, CLEARED: failure.error},
    )
