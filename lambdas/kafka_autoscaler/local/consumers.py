"""The consumer "service" of the demo: a pool of real consumer processes per bound group.

`LocalServices` implements ports.ServiceReader and ports.ServiceControl, the same ports
the ECS adapter implements. `set_desired` records the count; new tasks start after a
start-up delay (standing in for an ECS task's provisioning and image pull), surplus
tasks get SIGTERM and leave the group. Call `reconcile()` often (the demo does between
ticks); `describe` calls it too. Drive it from one thread.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kafka_autoscaler.config import ConsumerBinding
from kafka_autoscaler.local import processes
from kafka_autoscaler.model import ServiceState
from kafka_autoscaler.ports import ActionError

WORKER_MODULE = "kafka_autoscaler.local.worker"


@dataclass
class _Pool:
    """One group's tasks: started processes, and start times of the ones still pending."""

    binding: ConsumerBinding
    desired: int = 0
    running: list[subprocess.Popen[bytes]] = field(default_factory=list)
    pending: list[float] = field(default_factory=list)  # when each pending task may start
    stopping: list[subprocess.Popen[bytes]] = field(default_factory=list)
    started: int = 0  # tasks ever started, for unique client ids


class LocalServices:
    """Consumer pools of `python -m kafka_autoscaler.local.worker` processes, one per binding."""

    def __init__(
        self,
        bootstrap_servers: str,
        log_dir: Path,
        clock: Callable[[], float],
        cost_ms: float = 20.0,
        start_delay_s: float = 3.0,
    ) -> None:
        if cost_ms < 0 or start_delay_s < 0:
            raise ValueError("cost_ms and start_delay_s must not be negative")
        self._bootstrap = bootstrap_servers
        self._log_dir = log_dir
        self._clock = clock
        self._cost_ms = cost_ms
        self._start_delay_s = start_delay_s
        self._pools: dict[str, _Pool] = {}

    # ------------------------------------------------------------------ ServiceControl
    def set_desired(self, binding: ConsumerBinding, count: int) -> str:
        """Ask for `count` tasks: pending ones are added or dropped first, then running ones stopped."""
        if count < 0:
            raise ActionError(f"desired count must not be negative, got {count}")
        if len(binding.topics) != 1:
            raise ActionError(f"the local pool consumes exactly one topic; {binding.group_id} has {binding.topics}")
        pool = self._pools.setdefault(binding.group_id, _Pool(binding))
        pool.desired = count
        now = self._clock()
        surplus = len(pool.running) + len(pool.pending) - count
        if surplus < 0:
            pool.pending.extend(now + self._start_delay_s for _ in range(-surplus))
        while surplus > 0 and pool.pending:
            pool.pending.pop()
            surplus -= 1
        while surplus > 0 and pool.running:
            process = pool.running.pop()  # the newest task goes first
            processes.request_stop(process)
            pool.stopping.append(process)
            surplus -= 1
        self.reconcile()
        return f"desiredCount={count} (running {len(pool.running)}, pending {len(pool.pending)})"

    # ------------------------------------------------------------------ ServiceReader
    def describe(self, bindings: Sequence[ConsumerBinding]) -> dict[str, ServiceState]:
        """Desired, running and pending tasks of every binding that has a pool."""
        self.reconcile()
        states: dict[str, ServiceState] = {}
        for binding in bindings:
            pool = self._pools.get(binding.group_id)
            if pool is None:
                continue
            states[binding.group_id] = ServiceState(
                cluster=binding.ecs.cluster,
                service=binding.ecs.service,
                desired=pool.desired,
                running=len(pool.running),
                pending=len(pool.pending),
                deployment_in_progress=False,
            )
        return states

    # ------------------------------------------------------------------ upkeep
    def reconcile(self) -> None:
        """Start tasks whose delay is over, replace tasks that died, forget stopped ones."""
        now = self._clock()
        for pool in self._pools.values():
            dead = [p for p in pool.running if p.poll() is not None]
            pool.running = [p for p in pool.running if p.poll() is None]
            # Why: ECS replaces a task that exits; so does the pool, after the same delay.
            pool.pending.extend(now + self._start_delay_s for _ in dead)
            pool.stopping = [p for p in pool.stopping if p.poll() is None]
            due = [t for t in pool.pending if t <= now]
            pool.pending = [t for t in pool.pending if t > now]
            for _ in due:
                pool.running.append(self._start(pool))

    def pids(self) -> list[int]:
        """Pids of every worker process still alive, running or stopping."""
        return [p.pid for pool in self._pools.values() for p in (*pool.running, *pool.stopping) if p.poll() is None]

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop every task of every pool and wait for them."""
        everything = [p for pool in self._pools.values() for p in (*pool.running, *pool.stopping)]
        for pool in self._pools.values():
            pool.running, pool.pending, pool.stopping, pool.desired = [], [], [], 0
        processes.stop(everything, timeout_s)

    def _start(self, pool: _Pool) -> subprocess.Popen[bytes]:
        pool.started += 1
        name = f"{pool.binding.ecs.service}-{pool.started}"
        return processes.spawn_module(
            WORKER_MODULE,
            [
                "--bootstrap-servers",
                self._bootstrap,
                "--topic",
                pool.binding.topics[0],
                "--group",
                pool.binding.group_id,
                "--cost-ms",
                str(self._cost_ms),
                "--client-id",
                name,
            ],
            self._log_dir / f"{name}.log",
        )
