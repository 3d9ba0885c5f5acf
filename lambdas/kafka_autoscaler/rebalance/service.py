"""One rebalance or drain, run the same way by the Lambda and the local mode.

`run_rebalance` reads the cluster, plans the placement, and executes it until done or
until its deadline; calling it again resumes (Kafka reports what is still moving).
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
from kafka_autoscaler.rebalance.executor import ExecutionReport, ExecutorSettings, ReassignmentExecutor
from kafka_autoscaler.rebalance.layout import KafkaAdmin, read_layout, reassignments_in_flight
from kafka_autoscaler.rebalance.placement import plan_placement, replica_counts

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
