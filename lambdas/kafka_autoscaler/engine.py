"""One tick: observe -> decide -> act -> record. The single code path every runner uses.

The Lambda handler, the local demo, `plan` and the simulator call `tick()` with
different ports; none of them re-implements a step.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from kafka_autoscaler.act.executor import carry_out
from kafka_autoscaler.config import AutoscalerConfig
from kafka_autoscaler.model import Outcome, Plan, Snapshot
from kafka_autoscaler.observe.snapshot import take_snapshot
from kafka_autoscaler.policy import decide
from kafka_autoscaler.ports import Ports
from kafka_autoscaler.report import render, worth_telling
from kafka_autoscaler.state.evolve import next_state

logger = logging.getLogger(__name__)

# The lease outlives the slowest tick (Lambda's 15-minute limit is far above a tick's
# seconds) but expires on its own if an invocation dies holding it.
LEASE_TTL_S = 300.0


@dataclass(frozen=True)
class TickResult:
    ran: bool  # False: another invocation held the lease
    snapshot: Snapshot | None = None
    plan: Plan | None = None
    outcomes: tuple[Outcome, ...] = ()
    told: tuple[Outcome, ...] = ()  # what was sent to the notifier


def tick(config: AutoscalerConfig, ports: Ports, now: float, owner: str) -> TickResult:
    """Run one pass. `now` is epoch seconds from the caller's clock (real or simulated)."""
    if not ports.state.acquire_lease(owner, now, LEASE_TTL_S):
        logger.info("another invocation holds the lease; skipping this tick")
        return TickResult(ran=False)
    try:
        state = ports.state.load()
        observation = take_snapshot(config, ports, state, now)
        snapshot = observation.snapshot
        plan = decide(snapshot, config, now)
        outcomes = carry_out(plan, config, ports, snapshot)
        told = worth_telling(outcomes, state)
        if told:
            try:
                ports.notifier.publish(render(told, config.cluster.name, now))
            except Exception:  # a lost notification must not lose the record of what was done
                logger.warning("notification failed", exc_info=True)
        new_state = next_state(
            state, config, observation.lag, snapshot.services, snapshot.cluster, plan, outcomes, told, now
        )
        ports.state.save(new_state, outcomes, now)
        return TickResult(True, snapshot, plan, outcomes, tuple(told))
    finally:
        ports.state.release_lease(owner)
