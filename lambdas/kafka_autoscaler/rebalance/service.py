"""One rebalance or drain, run the same way by the Step Functions steps and the local mode.

`run_rebalance` reads the cluster, plans the placement, and executes it until done or
until its deadline; calling it again resumes (Kafka reports what is still moving).
The `*_step` functions cut it into the short steps of the AWS state machine.
`LocalRebalancer` is the local mode's ports.Rebalancer: it runs `run_rebalance` in a
background thread so that a tick returns at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from kafka.errors import KafkaError

from kafka_autoscaler.model import Action, Decision, Target
from kafka_autoscaler.rebalance.cpu_guard import DEFAULT_MAX_CPU_PCT, CpuProbe, cpu_refusal
from kafka_autoscaler.rebalance.executor import (
    TIME_IS_UP,
    ExecutionReport,
    ExecutorSettings,
    ReassignmentExecutor,
    elect_preferred_leaders,
)
from kafka_autoscaler.rebalance.layout import KafkaAdmin, read_layout, reassignments_in_flight
from kafka_autoscaler.rebalance.placement import plan_placement, replica_counts
from kafka_autoscaler.rebalance.throttle import ReplicationThrottle

logger = logging.getLogger(__name__)

Status = Literal["balanced", "complete", "incomplete", "refused"]


class RebalanceRequestError(ValueError):
    """The decision is not one the rebalancer carries out, or its details are malformed."""


@dataclass(frozen=True)
class RebalanceRequest:
    """Spread partitions evenly ("rebalance") or empty some brokers first ("drain")."""

    kind: Literal["rebalance", "drain"]
    exclude_brokers: tuple[int, ...] = ()  # brokers that must end with no replica

    @classmethod
    def from_decision(cls, decision: Decision) -> RebalanceRequest:
        return cls.from_dict(decision.as_dict())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RebalanceRequest:
        """From `Decision.as_dict()`: rebalance/rebalance with exclude_brokers, or brokers/drain with broker_ids."""
        target, action = data.get("target"), data.get("action")
        details = data.get("details") or {}
        if not isinstance(details, Mapping):
            raise RebalanceRequestError(f"decision details must be a mapping, not {type(details).__name__}")
        if target == Target.REBALANCE.value and action == Action.REBALANCE.value:
            return cls("rebalance", _broker_ids(details.get("exclude_brokers", []), "exclude_brokers"))
        if target == Target.BROKERS.value and action == Action.DRAIN.value:
            brokers = _broker_ids(details.get("broker_ids"), "broker_ids")
            if not brokers:
                raise RebalanceRequestError("a drain decision needs details.broker_ids: the brokers to empty")
            return cls("drain", brokers)
        raise RebalanceRequestError(
            f"the rebalancer carries out rebalance/rebalance and brokers/drain decisions, not {target}/{action}"
        )

    def describe(self) -> str:
        if self.kind == "drain":
            return f"drain of brokers {list(self.exclude_brokers)}"
        if self.exclude_brokers:
            return f"rebalance keeping brokers {list(self.exclude_brokers)} empty"
        return "rebalance"


def _broker_ids(value: object, name: str) -> tuple[int, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(b, int) and not isinstance(b, bool) for b in value):
        raise RebalanceRequestError(f"details.{name} must be a list of broker ids (integers), not {value!r}")
    return tuple(sorted(set(value)))


@dataclass(frozen=True)
class RebalanceResult:
    request: RebalanceRequest
    status: Status
    message: str
    elapsed_s: float
    plan: str | None = None  # Placement.summary() of what this run planned
    report: ExecutionReport | None = None
    replicas_per_broker: Mapping[int, int] = field(default_factory=dict)  # after the run, when it finished

    def as_dict(self) -> dict[str, Any]:
        return {
            "request": self.request.describe(),
            "status": self.status,
            "message": self.message,
            "elapsed_s": round(self.elapsed_s, 1),
            "plan": self.plan,
            "execution": self.report.as_dict() if self.report else None,
            "replicas_per_broker": {str(b): n for b, n in sorted(self.replicas_per_broker.items())},
        }


def run_rebalance(
    request: RebalanceRequest,
    admin: KafkaAdmin,
    *,
    settings: ExecutorSettings | None = None,
    cpu: CpuProbe | None = None,
    max_cpu_pct: float = DEFAULT_MAX_CPU_PCT,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> RebalanceResult:
    """Plan and move partitions until balanced or ``deadline`` (``clock`` time); safe to call again.

    Raises PlacementError when no valid placement exists (e.g. fewer brokers than the
    replication factor once the drained ones are left out) and KafkaError when Kafka
    cannot be reached; a re-run resumes from what Kafka reports.
    """
    started = clock()

    def finish(status: Status, message: str, **extra: Any) -> RebalanceResult:
        logger.info("%s: %s", request.describe(), message)
        return RebalanceResult(request, status, message, clock() - started, **extra)

    layout = read_layout(admin)
    down = [b for b in layout.fenced if b not in request.exclude_brokers]
    if down:
        # Why: a broker that is down cannot receive copies, and moving its replicas away would
        # turn a restart (MSK patching, a crash) into a needless mass reassignment.
        return finish("refused", f"brokers {down} are registered but not running; no partition moves until they are")
    placement = plan_placement(layout.assignment, layout.racks, request.exclude_brokers)
    refusal = (lambda: cpu_refusal(cpu(), max_cpu_pct)) if cpu is not None else None
    if placement.moves and not layout.in_flight and refusal is not None and (reason := refusal()) is not None:
        return finish("refused", f"{placement.summary()}, but {reason}", plan=placement.summary())
    executor = ReassignmentExecutor(admin, settings, clock=clock, sleep=sleep)
    report = executor.execute(
        placement.moves,
        brokers=layout.racks,
        topics={topic for topic, _ in layout.assignment},
        resumed=layout.in_flight,
        deadline=deadline,
        settled=layout.assignment,
        refusal=refusal,
    )
    if not report.finished:
        left = len(report.in_flight) + len(report.not_started)
        return finish(
            "incomplete",
            f"{len(report.completed)} partition moves done, {left} left ({report.stopped}); the next run resumes",
            plan=placement.summary(),
            report=report,
        )
    counts = replica_counts(read_layout(admin).assignment, layout.racks)
    spread = _spread(counts, request.exclude_brokers)
    if not placement.moves and not layout.in_flight:
        return finish(
            "balanced",
            f"nothing to move; {spread}",
            plan=placement.summary(),
            report=report,
            replicas_per_broker=counts,
        )
    failed = f"; Kafka refused {len(report.failed)} moves: {report.as_dict()['failed']}" if report.failed else ""
    return finish(
        "incomplete" if report.failed else "complete",
        f"moved {len(report.completed)} partitions ({placement.replica_copies} replica copies), "
        f"{report.leaders_elected} leaders elected; {spread}{failed}",
        plan=placement.summary(),
        report=report,
        replicas_per_broker=counts,
    )


def _spread(counts: Mapping[int, int], drained: tuple[int, ...]) -> str:
    staying = [n for b, n in counts.items() if b not in drained] or [0]
    text = f"replicas per broker now {min(staying)}-{max(staying)}"
    if drained:
        held = {b: counts.get(b, 0) for b in drained}
        text += f"; drained brokers hold {held}" if any(held.values()) else f"; brokers {list(drained)} hold none"
    return text


class LocalRebalancer:
    """ports.Rebalancer for the local mode: each start runs `run_rebalance` in a background thread.

    One run at a time; a start while one runs is answered, not queued (the running one
    already works toward balance, and the next tick asks again if needed).
    """

    def __init__(
        self,
        admin: KafkaAdmin,
        *,
        settings: ExecutorSettings | None = None,
        cpu: CpuProbe | None = None,
        max_cpu_pct: float = DEFAULT_MAX_CPU_PCT,
    ) -> None:
        self._admin = admin
        self._settings = settings
        self._cpu = cpu
        self._max_cpu_pct = max_cpu_pct
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._running: RebalanceRequest | None = None
        self.last_result: RebalanceResult | None = None
        self.last_error: str | None = None

    def in_progress(self) -> int | None:
        """Reassignments Kafka reports (at least 1 while a run is under way), None when Kafka cannot say."""
        try:
            reported = len(reassignments_in_flight(self._admin))
        except KafkaError:
            return None
        return max(reported, 1) if self._alive() else reported

    def start(self, decision: Decision) -> str:
        request = RebalanceRequest.from_decision(decision)
        with self._lock:
            if self._alive() and self._running is not None:
                return f"a {self._running.describe()} is already running in the background; it goes on"
            self._running = request
            self.last_result, self.last_error = None, None
            self._thread = threading.Thread(target=self._run, args=(request,), name="rebalancer", daemon=True)
            self._thread.start()
        return f"{request.describe()} started in the background"

    def wait(self, timeout_s: float | None = None) -> RebalanceResult | None:
        """Wait for the background run (tests, the local demo); its result, None if none finished."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout_s)
        return None if self._alive() else self.last_result

    def _alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self, request: RebalanceRequest) -> None:
        try:
            self.last_result = run_rebalance(
                request, self._admin, settings=self._settings, cpu=self._cpu, max_cpu_pct=self._max_cpu_pct
            )
            self.last_error = None
        except Exception as error:  # reported through last_error; the next start tries again
            logger.exception("%s failed", request.describe())
            self.last_error = f"{type(error).__name__}: {error}"


# --------------------------------------------------------------------------- steps
# The same rebalance cut into short steps, for a workflow engine (the Step Functions state machine in
# stacks/rebalance_workflow.py) to call one at a time: plan, then submit a batch and watch it for a
# moment, wait, poll, submit again while moves are left, then clear the throttle and elect preferred
# leaders. Every step reads Kafka afresh (Kafka is the only record of progress), so a step that fails
# and is retried, or a run that resumes after hours, carries on from what Kafka reports. A step's
# input and output are one JSON object, the run's state; each step returns it updated.

StepStatus = Literal["moving", "balanced", "complete", "incomplete", "refused", "handed_off"]
SUBMIT_BUDGET_S = 20.0  # a submit step watches its batch this long, then hands back to the workflow


def _state(
    decision: Mapping[str, Any], status: StepStatus, message: str, *, done: bool, moves_left: int, in_flight: int
) -> dict[str, Any]:
    return {
        "decision": dict(decision),
        "status": status,
        "message": message,
        "done": done,
        "moves_left": moves_left,
        "in_flight": in_flight,
    }


def plan_step(
    decision: Mapping[str, Any],
    admin: KafkaAdmin,
    *,
    cpu: CpuProbe | None = None,
    max_cpu_pct: float = DEFAULT_MAX_CPU_PCT,
) -> dict[str, Any]:
    """What the run has to move; `done` when nothing is to move or the moves may not start.

    Raises RebalanceRequestError for a decision the rebalancer does not carry out.
    """
    request = RebalanceRequest.from_dict(decision)
    layout = read_layout(admin)
    down = [b for b in layout.fenced if b not in request.exclude_brokers]
    in_flight = len(layout.in_flight)
    if down:
        # Why: as in run_rebalance, a restart (MSK patching, a crash) must not turn into a mass reassignment.
        message = f"brokers {down} are registered but not running; no partition moves until they are"
        return _state(decision, "refused", message, done=True, moves_left=0, in_flight=in_flight)
    placement = plan_placement(layout.assignment, layout.racks, request.exclude_brokers)
    if not placement.moves and not in_flight:
        return _state(
            decision, "balanced", f"nothing to move; {placement.summary()}", done=True, moves_left=0, in_flight=0
        )
    refusal = cpu_refusal(cpu(), max_cpu_pct) if cpu is not None and not in_flight else None
    if refusal is not None:
        message = f"{placement.summary()}, but {refusal}"
        return _state(decision, "refused", message, done=True, moves_left=len(placement.moves), in_flight=0)
    left = len(placement.moves) + in_flight
    return _state(
        decision,
        "moving",
        f"{request.describe()}: {placement.summary()}",
        done=False,
        moves_left=left,
        in_flight=in_flight,
    )


def submit_step(
    state: Mapping[str, Any],
    admin: KafkaAdmin,
    *,
    settings: ExecutorSettings | None = None,
    cpu: CpuProbe | None = None,
    max_cpu_pct: float = DEFAULT_MAX_CPU_PCT,
    budget_s: float = SUBMIT_BUDGET_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Start a batch of throttled moves (as many as the window allows) and watch them for `budget_s`.

    This is `run_rebalance` with a short deadline: it resumes what Kafka reports as moving, and once
    nothing is left it clears the throttle and elects leaders itself.
    """
    decision = state["decision"]
    result = run_rebalance(
        RebalanceRequest.from_dict(decision),
        admin,
        settings=settings,
        cpu=cpu,
        max_cpu_pct=max_cpu_pct,
        deadline=clock() + budget_s,
        clock=clock,
        sleep=sleep,
    )
    report = result.report
    in_flight = len(report.in_flight) if report else 0
    left = in_flight + (len(report.not_started) if report else 0)
    # Why: moves held back by CPU with none moving end the run (the scaler asks again later); a run
    # that only ran out of its step's time goes on after the wait.
    held = report is not None and report.stopped not in (None, TIME_IS_UP) and not report.in_flight
    done = result.status != "incomplete" or (report is not None and report.finished) or held
    status: StepStatus = "refused" if held else result.status
    message = result.message
    if result.status == "balanced":
        # Why: a submit step only runs after the plan found moves; nothing left now means the last
        # ones ended while the workflow waited.
        status, message = "complete", "all moves done; " + message.removeprefix("nothing to move; ")
    return _state(decision, status, message, done=done, moves_left=left, in_flight=in_flight)


def poll_step(
    state: Mapping[str, Any], admin: KafkaAdmin, *, settings: ExecutorSettings | None = None
) -> dict[str, Any]:
    """How many moves Kafka still reports, and `room`: how many more the window takes now."""
    in_flight = len(reassignments_in_flight(admin))
    window = (settings or ExecutorSettings()).max_in_flight
    polled = dict(state)
    polled.update(in_flight=in_flight, room=max(window - in_flight, 0))
    return polled


def clear_step(state: Mapping[str, Any], admin: KafkaAdmin) -> dict[str, Any]:
    """Remove the replication throttle from every broker and topic, once nothing moves."""
    layout = read_layout(admin)
    cleared = dict(state)
    if layout.in_flight:
        cleared["throttle"] = f"kept: {len(layout.in_flight)} reassignments still running"
        return cleared
    topics = ReplicationThrottle(admin).clear(layout.racks, {topic for topic, _ in layout.assignment})
    cleared["throttle"] = f"cleared from {len(layout.racks)} brokers and {len(topics)} topics"
    return cleared


def elect_step(state: Mapping[str, Any], admin: KafkaAdmin) -> dict[str, Any]:
    """Preferred leader election on every partition not led by its first replica."""
    off_preferred = [
        (str(topic["name"]), int(partition["partition_index"]))
        for topic in admin.describe_topics()
        if not topic.get("error_code", 0)
        for partition in topic["partitions"]
        if partition["replica_nodes"] and partition.get("leader_id") != partition["replica_nodes"][0]
    ]
    elected = dict(state)
    elected["leaders_elected"] = elect_preferred_leaders(admin, off_preferred)
    return elected
