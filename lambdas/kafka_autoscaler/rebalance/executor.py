"""Carry out a placement with Kafka partition reassignments.

A bounded window of partitions moves at once (every reassignment Kafka reports counts,
ours or not); a replication throttle is set before the first copy and removed once
Kafka reports no reassignment. Kafka is the only record of progress: a run that stops
(crash, Lambda timeout, CPU too high) leaves its moves to Kafka, and the next run sees
them in ``list_partition_reassignments``, waits for them and goes on from there.

A broker that goes away mid-run (crash, restart) is survived: each request is retried
with backoff after the client forgets its controller and reloads its metadata
(`layout.with_retries`); no new move starts while a broker of the cluster is down; and if
Kafka stays unreachable the run stops starting moves and returns, leaving the rest to the
next run. Once nothing moves, leadership is part of balance: every partition whose
preferred leader is alive, in sync and not leading gets a preferred leader election.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from kafka.structs import TopicPartition

from kafka_autoscaler.rebalance.layout import (
    RETRY_DELAYS_S,
    TRANSIENT_ERRORS,
    InFlight,
    KafkaAdmin,
    preferred_not_leading,
    reassignments_in_flight,
    with_retries,
)
from kafka_autoscaler.rebalance.placement import Move, PartitionId
from kafka_autoscaler.rebalance.throttle import ReplicationThrottle

logger = logging.getLogger(__name__)
T = TypeVar("T")

PREFERRED_ELECTION = 0  # ElectLeaders election type: 0 preferred, 1 unclean
ELECTION_NOT_NEEDED = 84  # the partition is already led by its preferred leader
TIME_IS_UP = "time is up"

Refusal = Callable[[], str | None]  # a sentence when no new move may start (CPU), else None


@dataclass(frozen=True)
class ExecutorSettings:
    max_in_flight: int = 10  # partitions moving at once, cluster-wide
    throttle_bytes_per_s: int = 50 * 1024 * 1024  # per broker, in and out
    poll_interval_s: float = 2.0
    elect_leaders: bool = True  # preferred leader election once partitions have moved
    retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S  # backoff after a transient error, then give up

    def __post_init__(self) -> None:
        if self.max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, not {self.max_in_flight}")
        if self.throttle_bytes_per_s < 1:
            raise ValueError(f"throttle_bytes_per_s must be at least 1, not {self.throttle_bytes_per_s}")
        if self.poll_interval_s <= 0:
            raise ValueError(f"poll_interval_s must be above 0, not {self.poll_interval_s}")


@dataclass(frozen=True)
class ExecutionReport:
    completed: tuple[PartitionId, ...] = ()  # moved (ours or resumed) and no longer reported
    failed: Mapping[PartitionId, str] = field(default_factory=dict)  # refused by Kafka, with the error
    in_flight: tuple[PartitionId, ...] = ()  # still moving when the run returned
    not_started: tuple[PartitionId, ...] = ()
    resumed: tuple[PartitionId, ...] = ()  # found moving when the run began
    leaders_elected: int = 0
    throttled: bool = False
    throttle_cleared: bool = False
    stopped: str | None = None  # why the run stopped starting moves early

    @property
    def finished(self) -> bool:
        return not self.in_flight and not self.not_started

    def as_dict(self) -> dict[str, Any]:
        return {
            "completed": len(self.completed),
            "failed": {f"{t}-{p}": error for (t, p), error in sorted(self.failed.items())},
            "in_flight": len(self.in_flight),
            "not_started": len(self.not_started),
            "resumed": len(self.resumed),
            "leaders_elected": self.leaders_elected,
            "throttled": self.throttled,
            "throttle_cleared": self.throttle_cleared,
            "stopped": self.stopped,
        }


class ReassignmentExecutor:
    """Runs moves through AlterPartitionReassignments and watches ListPartitionReassignments."""

    def __init__(
        self,
        admin: KafkaAdmin,
        settings: ExecutorSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._admin = admin
        self._settings = settings or ExecutorSettings()
        self._clock = clock
        self._sleep = sleep
        self._throttle = ReplicationThrottle(admin)

    def execute(
        self,
        moves: Sequence[Move],
        *,
        brokers: Iterable[int],
        topics: Iterable[str] = (),
        resumed: Mapping[PartitionId, InFlight] | None = None,
        deadline: float | None = None,
        refusal: Refusal | None = None,
        settled: Iterable[PartitionId] = (),
    ) -> ExecutionReport:
        """Move partitions until all are done, ``deadline`` (monotonic) passes, or ``refusal`` speaks.

        ``brokers`` get the throttle rate. ``resumed``: reassignments already under way
        (from an earlier run); they are throttled and waited for, and a move of the same
        partition waits until they end. Once Kafka reports no reassignment the throttle is
        removed from the brokers and from the moved topics and ``topics`` (a sweep for
        settings an interrupted run left behind). Preferred leaders are elected on the moved
        partitions and, when an interrupted run was resumed and nothing is moving any more, on
        ``settled`` too: that run may have finished moves it never elected leaders for.
        """
        resumed = dict(resumed or {})
        brokers = tuple(brokers)
        carried = [Move(t, p, moving.source, moving.target) for (t, p), moving in sorted(resumed.items())]
        pending = deque(moves)
        watching = set(resumed)
        completed: list[PartitionId] = []
        failed: dict[PartitionId, str] = {}
        stopped: str | None = None
        reported: set[PartitionId] = set(resumed)
        throttled = cleared = False
        elected = 0
        try:
            throttled = self._retry(
                lambda: self._throttle.apply([*carried, *moves], brokers, self._settings.throttle_bytes_per_s),
                "setting the replication throttle",
            )
            while True:
                reported = set(self._retry(lambda: reassignments_in_flight(self._admin), "listing reassignments"))
                done = watching - reported
                completed += sorted(done)
                watching -= done
                if (down := self._retry(lambda: self._down(brokers), "describing the cluster")) is not None:
                    # Why: a move onto or off a broker that is down cannot end until it is back; the
                    # moves stay with Kafka, and the next run (refused until then) resumes them.
                    stopped = down
                    break
                if pending and stopped is None:
                    stopped = self._submit(pending, reported | watching, watching, failed, deadline, refusal)
                if not watching and (not pending or stopped is not None):
                    break
                if self._past(deadline):
                    stopped = stopped or TIME_IS_UP
                    break
                self._sleep(self._settings.poll_interval_s)
            cleared = not watching and not reported
            if cleared:
                self._retry(
                    lambda: self._throttle.clear(brokers, {*topics, *(m.topic for m in (*carried, *moves))}),
                    "removing the replication throttle",
                )
            if self._settings.elect_leaders:
                candidates = {*completed, *(settled if cleared else ())}
                electing = self._retry(lambda: preferred_not_leading(self._admin, candidates), "reading leaders")
                elected = self._retry(lambda: self._elect(electing), "electing preferred leaders")
        except TRANSIENT_ERRORS as error:
            # Why: Kafka is still unreachable after the retries; what was started goes on in
            # Kafka, and the next run resumes from what it reports.
            stopped = f"Kafka unreachable ({type(error).__name__}: {error}); the next run resumes"
            logger.warning("rebalance stopped: %s", stopped)
            cleared = False
        return ExecutionReport(
            completed=tuple(completed),
            failed=failed,
            in_flight=tuple(sorted(watching)),
            not_started=tuple((m.topic, m.partition) for m in pending),
            resumed=tuple(sorted(resumed)),
            leaders_elected=elected,
            throttled=throttled,
            throttle_cleared=cleared,
            stopped=stopped,
        )

    def _submit(
        self,
        pending: deque[Move],
        moving: set[PartitionId],
        watching: set[PartitionId],
        failed: dict[PartitionId, str],
        deadline: float | None,
        refusal: Refusal | None,
    ) -> str | None:
        """Start as many pending moves as the window allows; the reason when starting must stop."""
        room = self._settings.max_in_flight - len(moving)
        if room <= 0:
            return None
        if self._past(deadline):
            return TIME_IS_UP
        reason = refusal() if refusal is not None else None
        if reason is not None:
            logger.warning("partition moves paused: %s", reason)
            return reason
        batch: list[Move] = []
        waiting: list[Move] = []
        while pending and len(batch) < room:
            move = pending.popleft()
            # Why: a partition still moving from an earlier run gets its next move only after that one ends.
            (waiting if (move.topic, move.partition) in moving else batch).append(move)
        pending.extendleft(reversed(waiting))
        if not batch:
            return None
        targets = {TopicPartition(m.topic, m.partition): list(m.target) for m in batch}
        # Submitting the same targets again is harmless: Kafka keeps a reassignment already under way.
        results = self._retry(lambda: self._admin.alter_partition_reassignments(targets), "submitting moves")
        refused = len(failed)
        for move in batch:
            pid, tp = (move.topic, move.partition), TopicPartition(move.topic, move.partition)
            if tp not in results:
                failed[pid] = "the controller did not answer for this partition"
            elif results[tp] is not None:
                failed[pid] = results[tp].__name__
            else:
                watching.add(pid)
        logger.info("started %d partition moves; %d waiting", len(batch) - (len(failed) - refused), len(pending))
        return None

    def _elect(self, partitions: Sequence[PartitionId]) -> int:
        """Preferred leader election on moved partitions; how many changed leader."""
        if not partitions:
            return 0
        by_topic: dict[str, list[int]] = defaultdict(list)
        for topic, partition in partitions:
            by_topic[topic].append(partition)
        response = self._admin.elect_leaders(PREFERRED_ELECTION, dict(by_topic), raise_errors=False)
        elected = 0
        for result in response.replica_election_results:
            for partition in result.partition_result:
                if partition.error_code == 0:
                    elected += 1
                elif partition.error_code != ELECTION_NOT_NEEDED:
                    logger.warning(
                        "preferred leader election failed for %s-%s: %s",
                        result.topic,
                        partition.partition_id,
                        partition.error_message,
                    )
        return elected

    def _down(self, brokers: Sequence[int]) -> str | None:
        """Why no move may start while a broker is down (registered but fenced, or gone), else None."""
        listed = {
            int(b["broker_id"]): bool(b.get("is_fenced", False)) for b in self._admin.describe_cluster()["brokers"]
        }
        down = sorted(b for b in brokers if listed.get(b, True))
        return f"brokers {down} are down; no new partition move until they are back" if down else None

    def _retry(self, call: Callable[[], T], what: str) -> T:
        return with_retries(self._admin, call, what, delays=self._settings.retry_delays_s, sleep=self._sleep)

    def _past(self, deadline: float | None) -> bool:
        return deadline is not None and self._clock() >= deadline


def elect_preferred_leaders(admin: KafkaAdmin, partitions: Sequence[PartitionId]) -> int:
    """Preferred leader election on ``partitions``; how many changed leader (the executor's own election)."""
    return ReassignmentExecutor(admin)._elect(partitions)
