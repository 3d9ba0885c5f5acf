"""The embedded default: the autoscaler's own `tick()` against a real Kafka cluster on loopback.

It starts 3 brokers in 3 racks, a topic, a producer following a load profile and a pool
of consumer processes, then runs `engine.tick()` every few seconds through the local
adapters. Nothing here decides anything: the policy is the one the Lambda runs.

Why one AZ for the broker policy: the brokers carry racks az-1..3 (so replicas spread
as on MSK), but MSK adds brokers one per AZ, which locally would mean three more JVMs
for one scale-out. On a 2-core machine the demo reports `az_count` 1 and adds a single
fourth broker; the same policy with `az_count` 3 asks for 6.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from kafka.admin import KafkaAdminClient

from kafka_autoscaler.act.console import FileNotifier
from kafka_autoscaler.act.partitions import KafkaPartitionControl
from kafka_autoscaler.advice.reader import KafkaFactsReader
from kafka_autoscaler.config import AutoscalerConfig, parse_config
from kafka_autoscaler.engine import TickResult, tick
from kafka_autoscaler.local import processes
from kafka_autoscaler.local.adapters import LocalBrokerMetrics, LocalBrokers, LocalClusterControl, LocalClusterReader
from kafka_autoscaler.local.cluster import LocalKafkaCluster
from kafka_autoscaler.local.consumers import LocalServices
from kafka_autoscaler.local.plain import DemoView, event_line
from kafka_autoscaler.local.profiles import get_profile, phase_name_at, ramp_start_s, rate_at
from kafka_autoscaler.local.report_html import write_report
from kafka_autoscaler.local.timeline import (
    Event,
    Milestones,
    Point,
    Timeline,
    forecast_for_now,
    milestones,
    save_timeline,
)
from kafka_autoscaler.model import Snapshot
from kafka_autoscaler.observe.kafka_lag import KafkaLagSource
from kafka_autoscaler.ports import Ports
from kafka_autoscaler.rebalance.service import LocalRebalancer
from kafka_autoscaler.state.file import FileStateStore

TOPIC = "demo-events"
GROUP = "demo-consumers"
OWNER = "local-demo"
CLUSTER_ARN = "arn:aws:kafka:local:000000000000:cluster/local-demo/embedded"
# Peak load of the default and spike profiles, as a multiple of the base rate.
PEAK_MULTIPLE = 10.0
DEMO_RATE_WINDOW_S = 30.0
# Kafka's record-batch overhead per message at this rate (batches of about one record).
RECORD_OVERHEAD_BYTES = 70
# Bytes-in limit per broker: the 10x plateau on 3 brokers is 3.8 limits, so it asks for a
# fourth broker, and 4 brokers carry it below the limit.
PLATEAU_IN_LIMITS = 3.8
REFRESH_S = 0.25
METADATA_MAX_AGE_MS = 5000
STOP_TIMEOUT_S = 8.0  # producer and consumers close within 3 s; SIGKILL after this
# Offsets topic sized for a demo, and replicated as the demo topic is: with RF 3 over the
# 3 racks, a fourth broker (in az-1) could never hold as many replicas as the others.
SERVER_CONFIG = {"offsets.topic.num.partitions": 6, "offsets.topic.replication.factor": 2}


@dataclass(frozen=True)
class DemoSettings:
    """Everything a run can vary. The defaults take about 5 minutes on 2 cores."""

    duration_s: float = 240.0
    profile: str = "default"
    report: Path = Path("kafka-autoscaler-demo") / "report.html"
    tick_interval_s: float = 5.0
    base_rate: float = 20.0  # msg/s at 1x
    message_bytes: int = 4000
    cost_ms: float = 20.0  # work per record in a consumer: 50 msg/s per task
    partitions: int = 24
    replication: int = 2
    brokers: int = 3
    task_start_delay_s: float = 3.0  # stands in for an ECS task's start-up
    producer_lead_s: float = 5.0  # the first consumer joins before the load starts
    target_time_lag_s: float = 10.0

    def __post_init__(self) -> None:
        get_profile(self.profile)
        if self.duration_s < 30:
            raise ValueError(f"--duration must be at least 30 seconds, got {self.duration_s:g}")
        if self.tick_interval_s <= 0 or self.base_rate <= 0 or self.message_bytes <= 0 or self.cost_ms <= 0:
            raise ValueError("tick interval, base rate, message size and per-record cost must be positive")

    @property
    def run_dir(self) -> Path:
        """State, decision log and process logs, beside the report."""
        return self.report.parent / f"{self.report.stem}-run"


@dataclass(frozen=True)
class DemoResult:
    timeline: Timeline
    milestones: Milestones
    report: Path | None
    wall_s: float
    interrupted: bool
    leftover_pids: tuple[int, ...]  # processes of this run still alive after the stop (should be none)


def bytes_in_limit(settings: DemoSettings) -> float:
    """Bytes/s per broker above which the broker policy asks for more brokers."""
    peak_bytes = settings.base_rate * PEAK_MULTIPLE * (settings.message_bytes + RECORD_OVERHEAD_BYTES)
    return round(peak_bytes / PLATEAU_IN_LIMITS)


def demo_config(settings: DemoSettings, bootstrap_servers: str) -> AutoscalerConfig:
    """The autoscaler configuration of the demo: the schema the Lambda reads, with demo-sized windows."""
    return parse_config(
        {
            "cluster": {
                "arn": CLUSTER_ARN,
                "bootstrap_servers": bootstrap_servers,
                "auth": {"mechanism": "plaintext"},
            },
            "consumers": [
                {
                    "group_id": GROUP,
                    "topics": [TOPIC],
                    "ecs": {"cluster": "local", "service": GROUP},
                    "min_tasks": 1,
                    "max_tasks": 12,
                    "mode": "time_lag",
                    "target_time_lag_s": settings.target_time_lag_s,
                    "task_throughput_msgs_per_s": 1000.0 / settings.cost_ms,
                    "max_scale_out_step": 4,
                    "scale_in_stabilization_s": 30,  # 300 on AWS; shortened so a run shows a scale-in
                    "cooldown_s": 15,
                    "stuck_partition_after_s": 30,
                }
            ],
            "brokers": {
                "min_brokers": settings.brokers,
                "max_brokers": settings.brokers + 1,
                "az_count": 1,  # see the module docstring
                "cpu_target_pct": 60,
                "cpu_window_s": 60,  # the schema's shortest window
                "max_bytes_in_per_broker": bytes_in_limit(settings),
                "cooldown_s": 120,
                "rebalance_max_cpu_pct": 90,
            },
            "storage": {"mode": "scaler"},
        },
        source="demo configuration",
    )


class DemoInterruptedError(Exception):
    """SIGTERM asked the demo to stop (Ctrl-C arrives as KeyboardInterrupt)."""


@contextmanager
def _signals_stop_the_run() -> Iterator[None]:
    """Ctrl-C and SIGTERM raise in the main thread, so every `finally` below runs; handlers restored after.

    Entered again once the cluster has started, so the demo stops its producer and
    consumers before the cluster's own handler stops the brokers under them.
    """

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        raise DemoInterruptedError("stopped by SIGTERM")

    previous = {
        signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler),
        signal.SIGTERM: signal.signal(signal.SIGTERM, on_sigterm),
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _fresh_run_dir(run_dir: Path) -> None:
    """Drop the state of an earlier run: its offsets belong to a cluster that is gone."""
    run_dir.mkdir(parents=True, exist_ok=True)
    for name in ("state.json", "state.json.lock", "state.json.log", "decisions.jsonl", "timeline.json"):
        (run_dir / name).unlink(missing_ok=True)
    for log in (run_dir / "logs").glob("*.log"):
        log.unlink()


OffsetTotal = tuple[float, int]  # (time, sum of end offsets)


def produce_rate(snapshot: Snapshot, previous: OffsetTotal | None) -> tuple[float | None, OffsetTotal | None]:
    """Msg/s written since the previous tick, from the sum of end offsets; and the new (t, sum)."""
    group = snapshot.groups.get(GROUP)
    if group is None or not group.partitions:
        return None, previous
    current = (snapshot.taken_at, sum(p.end_offset for p in group.partitions))
    if previous is None or current[0] <= previous[0]:
        return None, current
    return max(0.0, (current[1] - previous[1]) / (current[0] - previous[0])), current


def point_from(result: TickResult, t: float, phase: str, planned: float, rate: float | None) -> Point:
    """The timeline point of one tick."""
    snapshot = result.snapshot
    assert snapshot is not None  # the demo holds the only lease, so every tick runs
    group = snapshot.groups.get(GROUP)
    service = snapshot.services.get(GROUP)
    cluster = snapshot.cluster
    cpu = [b.cpu_pct[-1].value for b in cluster.brokers if b.cpu_pct] if cluster else []
    bytes_in = [b.bytes_in_per_s[-1].value for b in cluster.brokers if b.bytes_in_per_s] if cluster else []
    return Point(
        t=t,
        phase=phase,
        planned_rate=planned,
        produce_rate=rate,
        total_lag=group.total_lag if group else None,
        max_time_lag_s=group.max_time_lag_s if group else None,
        consumers_desired=service.desired if service else 0,
        consumers_running=service.running if service else 0,
        brokers=cluster.broker_count if cluster else 0,
        cluster_state=cluster.state if cluster else "UNKNOWN",
        broker_cpu_pct=sum(cpu) / len(cpu) if cpu else None,
        bytes_in_per_broker=sum(bytes_in) / len(bytes_in) if bytes_in else None,
        forecast_rate=forecast_for_now(result.plan.decisions if result.plan else (), f"consumer:{GROUP}"),
    )


def events_from(result: TickResult, t: float) -> list[Event]:
    """What the tick told: changes, failures and notable holds, each said once (as the Lambda tells SNS)."""
    return [
        Event(
            t=t,
            target=o.decision.target.value,
            action=o.decision.action.value,
            current=o.decision.current,
            desired=o.decision.desired,
            reason=o.decision.reason.value,
            message=o.decision.message + (f" ({o.detail})" if o.detail else ""),
            status=o.status.value,
        )
        for o in result.told
    ]


def even_assignment(partitions: int, replication: int, brokers: Sequence[int]) -> dict[int, list[int]]:
    """Replicas round robin over the brokers: each holds the same number, and leads the same number.

    Why not Kafka's own placement: with racks it can leave the brokers a few replicas apart,
    and the scaler would (rightly) rebalance before the load starts.
    """
    if replication > len(brokers):
        raise ValueError(f"replication factor {replication} needs at least {replication} brokers")
    ordered = sorted(brokers)
    return {p: [ordered[(p + r) % len(ordered)] for r in range(replication)] for p in range(partitions)}


def _create_topic(admin: KafkaAdminClient, cluster: LocalKafkaCluster, settings: DemoSettings) -> None:
    assignment = even_assignment(settings.partitions, settings.replication, list(cluster.broker_pids()))
    admin.create_topics({TOPIC: {"assignments": assignment}}, wait_for_metadata=True)


def _start_producer(settings: DemoSettings, bootstrap: str, start_at: float) -> subprocess.Popen[bytes]:
    return processes.spawn_module(
        "kafka_autoscaler.local.producer",
        [
            "--bootstrap-servers",
            bootstrap,
            "--topic",
            TOPIC,
            "--profile",
            settings.profile,
            "--duration",
            str(settings.duration_s),
            "--base-rate",
            str(settings.base_rate),
            "--size",
            str(settings.message_bytes),
            "--start-at",
            str(start_at),
        ],
        settings.run_dir / "logs" / "producer.log",
    )


class _Run:
    """Everything one demo run starts, so that `stop()` can stop it whatever was reached."""

    def __init__(self, settings: DemoSettings, clock: Callable[[], float]) -> None:
        self.settings = settings
        self.clock = clock
        # A broker whose controller is gone (a Ctrl-C reaches every JVM too) waits for it; do not wait long.
        self.cluster = LocalKafkaCluster(server_config=SERVER_CONFIG, stop_timeout_s=STOP_TIMEOUT_S)
        self.admins: list[KafkaAdminClient] = []
        self.services: LocalServices | None = None
        self.brokers: LocalBrokers | None = None
        self.rebalancer: LocalRebalancer | None = None
        self.producer: subprocess.Popen[bytes] | None = None

    def admin(self, name: str) -> KafkaAdminClient:
        """A new admin client; the rebalancer's thread gets its own, as a client is not shared across threads."""
        # Why the short metadata age: kafka-python keeps broker metadata for 5 minutes by default,
        # and a broker the demo adds must be reachable (DescribeLogDirs, throttles) within a tick or two.
        client = KafkaAdminClient(
            bootstrap_servers=self.cluster.bootstrap_servers,
            client_id=f"kafka-autoscaler-{name}",
            metadata_max_age_ms=METADATA_MAX_AGE_MS,
        )
        self.admins.append(client)
        return client

    def start(self, config: AutoscalerConfig) -> Ports:
        """Pool, adapters and ports over the started cluster."""
        settings, clock = self.settings, self.clock
        admin = self.admin("demo")
        self.services = LocalServices(
            self.cluster.bootstrap_servers,
            settings.run_dir / "logs",
            clock,
            cost_ms=settings.cost_ms,
            start_delay_s=settings.task_start_delay_s,
        )
        self.brokers = LocalBrokers(self.cluster, clock, volume_gib=100)
        metrics = LocalBrokerMetrics(self.brokers, admin, groups=[GROUP])
        self.rebalancer = LocalRebalancer(
            self.admin("rebalancer"), cpu=metrics.latest_cpu_mean, max_cpu_pct=config.brokers.rebalance_max_cpu_pct
        )
        return Ports(
            cluster=LocalClusterReader(self.brokers, CLUSTER_ARN, az_count=1),
            metrics=metrics,
            # Rates over 30 s rather than Lambda's 300 s: the demo ticks every few seconds and lasts minutes.
            lag=KafkaLagSource(admin, rate_window_s=DEMO_RATE_WINDOW_S),
            services=self.services,
            cluster_control=LocalClusterControl(self.brokers, admin, clock),
            service_control=self.services,
            rebalancer=self.rebalancer,
            notifier=FileNotifier(settings.run_dir / "decisions.jsonl"),
            state=FileStateStore(settings.run_dir / "state.json"),
            partitions=KafkaPartitionControl(admin),
            # The advisor reads the cluster's configuration as the Lambda does: the demo's workers use
            # kafka-python's default (eager) range assignor, and the demo topic min.insync.replicas 1.
            facts=KafkaFactsReader(admin),
        )

    def pids(self) -> list[int]:
        pids = [*self.cluster.broker_pids().values(), *(self.services.pids() if self.services else ())]
        if self.cluster.controller_pid is not None:
            pids.append(self.cluster.controller_pid)
        if self.producer is not None and self.producer.poll() is None:
            pids.append(self.producer.pid)
        return pids

    def stop(self) -> tuple[int, ...]:
        """Stop producer, consumers, background work and brokers, in that order; return pids still alive after."""
        # Signals are ignored while stopping, so a second Ctrl-C cannot cut the clean-up short.
        previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            pids = self.pids()
            if self.producer is not None:
                processes.stop([self.producer], timeout_s=STOP_TIMEOUT_S)
            if self.services is not None:
                self.services.stop(timeout_s=STOP_TIMEOUT_S)
            if self.rebalancer is not None:
                self.rebalancer.wait(timeout_s=30)
            if self.brokers is not None:
                self.brokers.wait(timeout_s=60)  # a broker still starting is stopped with the others
            for admin in self.admins:
                admin.close()
            self.cluster.stop()
            processes.stop_all(timeout_s=5)
            return tuple(pid for pid in pids if _alive(pid))
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def run_demo(settings: DemoSettings, view: DemoView, clock: Callable[[], float] = time.time) -> DemoResult:
    """Run the demo to the end of the profile (or an interrupt); stop everything; write the report."""
    wall_start = time.monotonic()
    profile = get_profile(settings.profile)
    _fresh_run_dir(settings.run_dir)
    timeline = Timeline(
        settings.profile,
        settings.duration_s,
        ramp_start_s(profile, settings.duration_s),
        settings.target_time_lag_s,
        bytes_in_limit(settings),
    )
    interrupted = False
    leftovers: tuple[int, ...] = ()
    run = _Run(settings, clock)
    with _signals_stop_the_run(), ExitStack() as stack:
        try:
            view.print(f"starting a local Kafka cluster: {settings.brokers} brokers in racks az-1..az-3 ...")
            run.cluster.start(settings.brokers)
            stack.enter_context(_signals_stop_the_run())
            config = demo_config(settings, run.cluster.bootstrap_servers)
            ports = run.start(config)
            _create_topic(run.admins[0], run.cluster, settings)
            binding = config.consumers[0]
            assert run.services is not None
            run.services.set_desired(binding, binding.min_tasks)
            start_at = clock() + settings.producer_lead_s
            run.producer = _start_producer(settings, run.cluster.bootstrap_servers, start_at)
            view.print(
                f"topic {TOPIC}: {settings.partitions} partitions, RF {settings.replication}; group {GROUP}; "
                f"profile {settings.profile} over {settings.duration_s:.0f}s; a tick every "
                f"{settings.tick_interval_s:g}s"
            )
            _loop(settings, config, ports, run.services, view, timeline, start_at, clock)
        except (KeyboardInterrupt, DemoInterruptedError):
            interrupted = True
            view.print("interrupted: stopping everything the demo started ...")
        finally:
            leftovers = run.stop()
    report = write_report(timeline, settings.report) if timeline.points else None
    save_timeline(timeline, settings.run_dir / "timeline.json")
    return DemoResult(timeline, milestones(timeline), report, time.monotonic() - wall_start, interrupted, leftovers)


def _loop(
    settings: DemoSettings,
    config: AutoscalerConfig,
    ports: Ports,
    services: LocalServices,
    view: DemoView,
    timeline: Timeline,
    start_at: float,
    clock: Callable[[], float],
) -> None:
    profile = get_profile(settings.profile)
    next_tick = clock()
    last_offsets: OffsetTotal | None = None
    while True:
        now = clock()
        t = now - start_at
        if t > settings.duration_s:
            return
        services.reconcile()
        if now >= next_tick:
            next_tick = now + settings.tick_interval_s
            result = tick(config, ports, now, OWNER)
            if result.snapshot is not None:
                rate, last_offsets = produce_rate(result.snapshot, last_offsets)
                point = point_from(
                    result,
                    t,
                    phase_name_at(profile, t, settings.duration_s) if t >= 0 else "warm-up",
                    rate_at(profile, t, settings.duration_s, settings.base_rate),
                    rate,
                )
                timeline.points.append(point)
                view.tick(point)
                for event in events_from(result, t):
                    timeline.events.append(event)
                    view.print(event_line(event))
        view.update(timeline, f"next tick in {max(0.0, next_tick - clock()):.0f}s; files in {settings.run_dir}")
        time.sleep(REFRESH_S)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return False
