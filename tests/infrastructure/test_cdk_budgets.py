"""The scaler's time budgets against the function the stack deploys."""

from __future__ import annotations

from kafka_autoscaler.engine import FUNCTION_TIMEOUT_S, LEASE_TTL_S
from kafka_autoscaler.handlers.wiring import ATTEMPTS, CONNECT_TIMEOUT_S, READ_RESERVE_S, READ_TIMEOUT_S

from stacks import names

# Standard-mode retries wait at most base 1 s x random before the second attempt.
RETRY_WAIT_S = 1.0


def test_the_lease_outlives_one_invocation_and_blinds_at_most_one_scheduled_tick() -> None:
    assert names.SCALER_TIMEOUT.to_seconds() == FUNCTION_TIMEOUT_S
    assert FUNCTION_TIMEOUT_S < LEASE_TTL_S < FUNCTION_TIMEOUT_S + 60  # the schedule's shortest period is 60 s


def test_a_read_started_at_the_deadline_and_the_writes_after_it_end_inside_the_timeout() -> None:
    one_call = ATTEMPTS * (CONNECT_TIMEOUT_S + READ_TIMEOUT_S) + RETRY_WAIT_S
    # The read in flight, then one slow write (SNS or the rebalancer), inside the reserve.
    assert 2 * one_call < READ_RESERVE_S < FUNCTION_TIMEOUT_S
