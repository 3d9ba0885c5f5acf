"""One tick: observe -> decide -> act -> record. The single code path every runner uses.

The Lambda handler, the local demo, `plan` and the simulator call `tick()` with
different ports; none of them re-implements a step.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kafka_autoscaler.act.executor import carry_out
from kafka_autoscaler.config import AutoscalerConfig
from kafka_autoscaler.model import Outcome, Plan, ScalerState, Snapshot
from kafka_autoscaler.observe.snapshot import take_snapshot
from kafka_autoscaler.policy import decide
from kafka_autoscaler.policy.intents import resolve_intents
from kafka_autoscaler.ports import Notifier, Ports
from kafka_autoscaler.report import Message, render, worth_telling
from kafka_autoscaler.state.evolve import next_state, with_intents

logger = logging.getLogger(__name__)

# The scaler function's timeout (stacks/names.py SCALER_TIMEOUT); the AWS clients' budgets fit inside it.
FUNCTION_TIMEOUT_S = 60.0
# The lease lives a little longer than one invocation can, so a crashed or timed-out
# invocation, or a release that failed, blinds at most the next scheduled tick.
LEASE_TTL_S = FUNCTION_TIMEOUT_S + 15.0
# Undelivered messages kept for the next tick; older ones give way (the decision log has them all).
UNSENT_KEPT = 10


@dataclass(frozen=True)
class TickResult:
    ran: bool  # False: another invocation held the lease
    snapshot: Snapshot | None = None
    plan: Plan | None = None
    outcomes: tuple[Outcome, ...] = ()
    told: tuple[Outcome, ...] = ()  # what was sent to the notifier


def deliver(
    notifier: Notifier, pending: Sequence[dict[str, Any]], message: Message | None
) -> tuple[dict[str, Any], ...]:
    """Publish what earlier ticks could not, then this tick's message; returns what is still unsent."""
    queue = [*pending, *([as_unsent(message)] if message is not None else [])]
    for index, item in enumerate(queue):
        try:
            notifier.publish(Message(str(item["subject"]), str(item["text"]), dict(item["payload"])))
        except Exception:  # kept and sent again next tick; a lost notification must not lose the record
            logger.warning("notification failed; it is sent again next tick", exc_info=True)
            return tuple(queue[index:])[-UNSENT_KEPT:]
    return ()


def as_unsent(message: Message) -> dict[str, Any]:
    return {"subject": message.subject, "text": message.text, "payload": message.payload}


def _record_intent(config: AutoscalerConfig, ports: Ports, state: ScalerState, plan: Plan, now: float) -> ScalerState:
    """Save what is about to change before changing it; the state the final record builds on."""
    if config.paused or config.dry_run or not plan.changes:
        return state
    ports.state.save(with_intents(state, plan.changes, now), (), now)
    return dataclasses.replace(state, version=state.version + 1)


def tick(config: AutoscalerConfig, ports: Ports, now: float, owner: str) -> TickResult:
    """Run one pass. `now` is epoch seconds from the caller's clock (real or simulated).

    Write-ahead: the changes about to be made are saved (with their cooldowns running) before
    any AWS call, and confirmed by the final record. A change left unconfirmed by a crash is
    read back from AWS at the start of the next tick (policy/intents.py) before anything is decided.
    """
    if not ports.state.acquire_lease(owner, now, LEASE_TTL_S):
        logger.info("another invocation holds the lease; skipping this tick")
        return TickResult(ran=False)
    try:
        loaded = ports.state.load()
        observation = take_snapshot(config, ports, loaded, now)
        resolution = resolve_intents(loaded, observation.snapshot.cluster, observation.snapshot.services)
        state = resolution.state
        snapshot = dataclasses.replace(
            observation.snapshot, state=state, problems=(*observation.snapshot.problems, *resolution.notes)
        )
        plan = decide(snapshot, config, now)
        state = _record_intent(config, ports, state, plan, now)
        outcomes = carry_out(plan, config, ports, snapshot)
        told = worth_telling(outcomes, state)
        unsent = deliver(ports.notifier, state.unsent, render(told, config.cluster.name, now) if told else None)
        new_state = next_state(
            state, config, observation.lag, snapshot.services, snapshot.cluster, plan, outcomes, told, now
        )
        try:
            ports.state.save(dataclasses.replace(new_state, unsent=unsent), outcomes, now)
        except Exception:
            # Why: the changes were made and told; the saved intents let the next tick read them back.
            done = [
                f"{o.decision.key} {o.decision.action.value} -> {o.decision.desired}: {o.status.value}"
                for o in outcomes
            ]
            logger.error("the record failed after acting; done this tick: %s", done)
            raise
        return TickResult(True, snapshot, plan, outcomes, tuple(told))
    finally:
        _release(ports, owner)


def _release(ports: Ports, owner: str) -> None:
    try:
        ports.state.release_lease(owner)
    except Exception:  # the lease then expires by itself within LEASE_TTL_S: at most one tick skipped
        logger.warning("lease release failed; it expires in %.0f s", LEASE_TTL_S, exc_info=True)
