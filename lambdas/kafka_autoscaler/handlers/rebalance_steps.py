"""The rebalance state machine's steps: one short Lambda call per state.

The Step Functions state machine (stacks/rebalance_workflow.py) calls this one function with
``{"step": NAME, "state": {...}}``; the first step, ``plan``, takes the scaler's decision as
``{"step": "plan", "decision": {...}}``. Each step returns the run's state, which the state
machine passes to the next one. A step that raises is retried by the state machine with backoff
(Kafka unreachable, a controller failover); PlacementError and RebalanceRequestError are not
retried: no retry helps, the execution fails and its alarm tells the topic.

Where the configuration names Cruise Control, ``plan`` hands the decision to it and the run ends.
Environment and clients as for handlers/rebalancer.py (its runtime is shared).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from aws_lambda_powertools import Logger, Tracer

from kafka_autoscaler.handlers.rebalancer import RebalancerRuntime, parse_decision, runtime
from kafka_autoscaler.rebalance.service import (
    RebalanceRequest,
    RebalanceRequestError,
    clear_step,
    elect_step,
    plan_step,
    poll_step,
    submit_step,
)

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
tracer = Tracer()

Step = Callable[[Mapping[str, Any], RebalancerRuntime], dict[str, Any]]


def _plan(event: Mapping[str, Any], run: RebalancerRuntime) -> dict[str, Any]:
    decision = parse_decision(event.get("decision"))
    if run.cruise_control is not None:
        detail = run.cruise_control.start(decision)
        return {"decision": decision.as_dict(), "status": "handed_off", "message": detail, "done": True}
    return plan_step(decision.as_dict(), run.admin(), cpu=run.cpu, max_cpu_pct=run.config.brokers.rebalance_max_cpu_pct)


def _submit(event: Mapping[str, Any], run: RebalancerRuntime) -> dict[str, Any]:
    return submit_step(
        _state(event),
        run.admin(),
        settings=run.settings,
        cpu=run.cpu,
        max_cpu_pct=run.config.brokers.rebalance_max_cpu_pct,
        budget_s=run.submit_budget_s,
    )


def _poll(event: Mapping[str, Any], run: RebalancerRuntime) -> dict[str, Any]:
    return poll_step(_state(event), run.admin(), settings=run.settings)


def _clear(event: Mapping[str, Any], run: RebalancerRuntime) -> dict[str, Any]:
    return clear_step(_state(event), run.admin())


def _elect(event: Mapping[str, Any], run: RebalancerRuntime) -> dict[str, Any]:
    return elect_step(_state(event), run.admin())


STEPS: Final[dict[str, Step]] = {"plan": _plan, "submit": _submit, "poll": _poll, "clear": _clear, "elect": _elect}


def _state(event: Mapping[str, Any]) -> Mapping[str, Any]:
    state = event.get("state")
    if not isinstance(state, Mapping) or not isinstance(state.get("decision"), Mapping):
        raise RebalanceRequestError("the event's state must be the object the previous step returned")
    RebalanceRequest.from_dict(state["decision"])  # a clear error before Kafka is touched
    return state


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Run the step the event names and return the run's new state; errors propagate for the retry."""
    name = event.get("step") if isinstance(event, Mapping) else None
    step = STEPS.get(str(name))
    if step is None:
        raise RebalanceRequestError(f"unknown step {name!r}; the steps are {', '.join(STEPS)}")
    logger.append_keys(step=name)
    tracer.put_annotation("step", str(name))
    state = step(event, runtime())
    logger.info("step done", extra={"state": {k: v for k, v in state.items() if k != "decision"}})
    return state
