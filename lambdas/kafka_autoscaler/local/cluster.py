"""A real Apache Kafka KRaft cluster on 127.0.0.1, started from Python.

One controller process (``process.roles=controller``) and N broker processes
(``process.roles=broker``), each ``java kafka.Kafka`` run from the jars that
``local-kafka/fetch.sh`` puts in ``.cache/kafka/libs`` (or ``$KAFKA_AUTOSCALER_KAFKA_LIBS``).
Brokers can be added and stopped while the cluster runs. Every process is stopped
by its pid on ``stop()``, at interpreter exit and on SIGINT/SIGTERM; on Linux a
broker also dies with the Python process that started it.

Not thread-safe: drive one cluster from one thread.
"""

from __future__ import annotations

import atexit
import base64
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Self

from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError

from kafka_autoscaler.local.processes import terminate

LIBS_ENV = "KAFKA_AUTOSCALER_KAFKA_LIBS"
HOST = "127.0.0.1"
RACKS = ("az-1", "az-2", "az-3")
CONTROLLER_ID = 1000
STORAGE_TOOL = "kafka.tools.StorageTool"
CLUSTER_TOOL = "org.apache.kafka.tools.ClusterTool"
CONSUMER_GROUP_TOOL = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"
SHARE_GROUP_TOOL = "org.apache.kafka.tools.consumer.group.ShareGroupCommand"
FEATURE_TOOL = "org.apache.kafka.tools.FeatureCommand"
CONSOLE_CONSUMER = "org.apache.kafka.tools.consumer.ConsoleConsumer"
CONSOLE_SHARE_CONSUMER = "org.apache.kafka.tools.consumer.ConsoleShareConsumer"

_REPO_ROOT = Path(__file__).resolve().parents[3]
_STARTED_LINE = "Kafka Server started"
_POLL_S = 0.2
_PR_SET_PDEATHSIG = 1

_SERVER_LOG_CONFIG = """\
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = out
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""

_TOOL_LOG_CONFIG = """\
status = warn
appender.err.type = Console
appender.err.name = err
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = err
"""


class LocalKafkaError(Exception):
    """Base class of the local cluster's errors."""


class KafkaJarsMissingError(LocalKafkaError):
    """The Kafka jars are not where the cluster looks for them."""


class JavaNotFoundError(LocalKafkaError):
    """No ``java`` executable on PATH or under JAVA_HOME."""


class BrokerStartError(LocalKafkaError):
    """A Kafka process did not come up; the message ends with its log tail."""


def default_libs_dir() -> Path:
    """``$KAFKA_AUTOSCALER_KAFKA_LIBS`` or ``<repo>/.cache/kafka/libs``."""
    override = os.environ.get(LIBS_ENV)
    return Path(override) if override else _REPO_ROOT / ".cache" / "kafka" / "libs"


def _checked_libs(libs: Path) -> Path:
    for prefix in ("kafka_2.13-", "kafka-tools-"):
        if not any(libs.glob(f"{prefix}*.jar")):
            raise KafkaJarsMissingError(
                f"no {prefix}*.jar in {libs}: run local-kafka/fetch.sh (or point {LIBS_ENV} at the jars)"
            )
    return libs


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).is_file():
        raise JavaNotFoundError("Java 17 or newer is needed: put `java` on PATH or set JAVA_HOME")
    return java


def _new_cluster_id() -> str:
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def _free_port(taken: set[int]) -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((HOST, 0))
            port: int = sock.getsockname()[1]
        if port not in taken:
            taken.add(port)
            return port


def _write_properties(path: Path, props: Mapping[str, object]) -> None:
    path.write_text("".join(f"{key}={value}\n" for key, value in props.items()))


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(_read(path).splitlines()[-lines:]) or "(empty log)"


def _die_with_parent() -> Callable[[], None] | None:
    """A pre-exec hook that kills the child when this process dies (Linux, main thread only).

    The kernel signals the child when the forking *thread* ends, so the hook is
    only safe from the main thread.
    """
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()

    def hook() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(1)

    return hook


@dataclass
class _Node:
    """One Kafka process: its id, listener port, rack and home directory."""

    node_id: int
    port: int
    rack: str | None
    home: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def is_controller(self) -> bool:
        return self.rack is None

    @property
    def name(self) -> str:
        return f"controller {self.node_id}" if self.is_controller else f"broker {self.node_id}"

    @property
    def config(self) -> Path:
        return self.home / "server.properties"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def log(self) -> Path:
        return self.home / "server.log"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def failure(self, reason: str) -> BrokerStartError:
        return BrokerStartError(f"{self.name} {reason}; last lines of {self.log}:\n{_tail(self.log)}")


class LocalKafkaCluster:
    """A KRaft cluster of one controller and N brokers on 127.0.0.1.

    Brokers get ids 1, 2, 3, ... and racks az-1, az-2, az-3 round robin; the
    controller has id 1000. ``server_config`` adds or overrides server properties
    of every process. Use as ``with LocalKafkaCluster() as kafka: kafka.start(3)``.
    """

    def __init__(
        self,
        *,
        libs_dir: Path | None = None,
        base_dir: Path | None = None,
        keep_work_dir: bool = False,
        heap: str = "384m",
        server_config: Mapping[str, object] | None = None,
        start_timeout_s: float = 60.0,
        stop_timeout_s: float = 20.0,
    ) -> None:
        self._libs = libs_dir
        self._base_dir = base_dir
        self._keep_work_dir = keep_work_dir
        self._heap = heap
        self._overrides = dict(server_config or {})
        self._start_timeout_s = start_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._work_dir: Path | None = None
        self._controller: _Node | None = None
        self._brokers: dict[int, _Node] = {}
        self._tools: list[subprocess.Popen[bytes]] = []
        self._ports: set[int] = set()
        self._cluster_id = ""
        self._replication = 1
        self._java = ""
        self._classpath = ""

    # ------------------------------------------------------------------ lifecycle
    def start(self, brokers: int = 3) -> None:
        """Start the controller and ``brokers`` brokers; return once all are registered."""
        if brokers < 1:
            raise ValueError("a cluster needs at least one broker")
        if self._controller is not None:
            raise LocalKafkaError("cluster already started")
        libs = _checked_libs(self._libs or default_libs_dir())
        self._classpath = str(libs / "*")
        self._java = _java()
        _REAPER.watch(self)
        self._work_dir = Path(tempfile.mkdtemp(prefix="local-kafka-", dir=self._base_dir))
        self._cluster_id = _new_cluster_id()
        self._replication = min(3, brokers)
        try:
            (self._work_dir / "log4j2.properties").write_text(_SERVER_LOG_CONFIG)
            (self._work_dir / "tools-log4j2.properties").write_text(_TOOL_LOG_CONFIG)
            self._controller = self._new_node(CONTROLLER_ID, rack=None)
            nodes = [self._new_broker(node_id) for node_id in range(1, brokers + 1)]
            self._format([self._controller, *nodes])
            for node in [self._controller, *nodes]:
                self._launch(node)
            self._wait_until_started(nodes)
            self._wait_for_brokers()
        except BaseException:
            self.stop()
            raise

    def add_broker(self) -> int:
        """Start one more broker, wait until the cluster sees it, return its node id."""
        self._require_controller()
        node = self._new_broker(max(self._brokers) + 1)
        try:
            self._format([node])
            self._launch(node)
            self._wait_until_started([node])
            self._wait_for_brokers()
        except BaseException:
            if node.process is not None:
                terminate([node.process], self._stop_timeout_s)
            raise
        return node.node_id

    def stop_broker(self, node_id: int, *, unregister: bool = False, kill: bool = False) -> None:
        """Stop one running broker (SIGTERM, SIGKILL after the stop timeout) and wait until it is gone.

        A stopped broker stays registered (fenced) with the controller, as after a
        crash; ``unregister=True`` also removes it from the cluster, as a scale-in does.
        ``kill=True`` sends SIGKILL at once (a crash: no controlled shutdown) and returns
        without waiting for the controller to fence it.
        """
        node = self._brokers.get(node_id)
        if node is None or node.process is None or not node.running:
            raise LocalKafkaError(f"no running broker {node_id}")
        if kill:
            node.process.kill()
            node.process.wait(self._stop_timeout_s)
            return
        terminate([node.process], self._stop_timeout_s)
        self._wait_for_brokers()
        if unregister:
            self._unregister(node_id)

    def restart_broker(self, node_id: int) -> None:
        """Start a stopped broker again on its port and data, and wait until the cluster sees it."""
        node = self._brokers.get(node_id)
        if node is None:
            raise LocalKafkaError(f"unknown broker {node_id}")
        if node.running:
            raise LocalKafkaError(f"broker {node_id} is running")
        started = len(_read(node.log))
        self._launch(node)
        try:
            self._wait_until_started([node], since=started)
            self._wait_for_brokers()
        except BaseException:
            if node.process is not None:
                terminate([node.process], self._stop_timeout_s)
            raise

    def upgrade_feature(self, feature: str, level: int) -> None:
        """Raise a cluster feature (``kafka-features upgrade``), e.g. ``share.version`` 1 for share groups."""
        result = self.run_tool(
            FEATURE_TOOL, "--bootstrap-server", self.bootstrap_servers, "upgrade", "--feature", f"{feature}={level}"
        )
        if result.returncode != 0:
            raise LocalKafkaError(f"upgrading {feature} to {level} failed:\n{result.stdout}{result.stderr}")

    def stop(self) -> None:
        """Stop every process this cluster started and remove the work dir unless kept."""
        terminate(self._tools, self._stop_timeout_s)
        self._tools = []
        brokers = [node.process for node in self._brokers.values() if node.process is not None]
        terminate(brokers, self._stop_timeout_s)
        if self._controller is not None and self._controller.process is not None:
            terminate([self._controller.process], self._stop_timeout_s)
        self._controller = None
        self._brokers = {}
        self._ports = set()
        _REAPER.forget(self)
        if self._work_dir is not None and not self._keep_work_dir:
            shutil.rmtree(self._work_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ queries
    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` of every running broker, comma separated."""
        return ",".join(f"{HOST}:{node.port}" for node in self._running())

    @property
    def cluster_id(self) -> str:
        """The KRaft cluster id the storage was formatted with."""
        return self._cluster_id

    @property
    def work_dir(self) -> Path | None:
        """Configs, logs and data of every process; None before ``start()``."""
        return self._work_dir

    @property
    def controller_pid(self) -> int | None:
        """Pid of the controller process while it runs."""
        node = self._controller
        return node.process.pid if node is not None and node.process is not None and node.running else None

    def broker_pids(self) -> dict[int, int]:
        """Pid of every running broker by node id."""
        return {node.node_id: node.process.pid for node in self._running() if node.process is not None}

    def racks(self) -> dict[int, str]:
        """Rack (availability zone) of every running broker by node id."""
        return {node.node_id: node.rack for node in self._running() if node.rack is not None}

    def log_dirs(self, node_id: int) -> list[Path]:
        """The ``log.dirs`` of a broker started by this cluster, running or stopped."""
        if node_id not in self._brokers:
            raise LocalKafkaError(f"unknown broker {node_id}")
        return [self._brokers[node_id].data_dir]

    def run_tool(self, main_class: str, *args: str, timeout_s: float = 120.0) -> subprocess.CompletedProcess[str]:
        """Run a Kafka command line tool (a main class) from the cluster's classpath.

        Logs go to stderr, so stdout holds only the tool's output. Pass
        ``--bootstrap-server`` yourself, e.g. ``cluster.bootstrap_servers``.
        """
        self._require_controller()
        command = self._jvm(self._require_work_dir() / "tools-log4j2.properties", heap="256m")
        return subprocess.run(
            [*command, main_class, *args],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
            stdin=subprocess.DEVNULL,
        )

    def start_tool(self, main_class: str, *args: str) -> subprocess.Popen[bytes]:
        """Start a long-running Kafka tool (a console consumer, say) in the background.

        Its output goes to a log in the work dir; it is stopped with the cluster, or
        earlier by ``stop_tool``.
        """
        self._require_controller()
        work_dir = self._require_work_dir()
        command = self._jvm(work_dir / "tools-log4j2.properties", heap="256m")
        with (work_dir / f"tool-{len(self._tools)}.log").open("ab") as log:
            process = subprocess.Popen(
                [*command, main_class, *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent(),  # noqa: PLW1509 - only set from the main thread
            )
        self._tools.append(process)
        return process

    def stop_tool(self, process: subprocess.Popen[bytes]) -> None:
        """Stop a tool started by ``start_tool``."""
        terminate([process], self._stop_timeout_s)

    # ------------------------------------------------------------------ internals
    def _require_work_dir(self) -> Path:
        if self._work_dir is None:
            raise LocalKafkaError("cluster not started")
        return self._work_dir

    def _require_controller(self) -> _Node:
        if self._controller is None:
            raise LocalKafkaError("cluster not started")
        return self._controller

    def _running(self) -> list[_Node]:
        return [node for node in self._brokers.values() if node.running]

    def _new_node(self, node_id: int, rack: str | None) -> _Node:
        work_dir = self._require_work_dir()
        home = work_dir / ("controller" if rack is None else f"broker-{node_id}")
        home.mkdir()
        node = _Node(node_id, _free_port(self._ports), rack, home)
        _write_properties(node.config, self._node_config(node))
        return node

    def _new_broker(self, node_id: int) -> _Node:
        node = self._new_node(node_id, RACKS[(node_id - 1) % len(RACKS)])
        self._brokers[node_id] = node
        return node

    def _node_config(self, node: _Node) -> dict[str, object]:
        rf = self._replication
        shared: dict[str, object] = {
            "node.id": node.node_id,
            "log.dirs": node.data_dir,
            "controller.listener.names": "CONTROLLER",
            "controller.quorum.bootstrap.servers": (
                f"{HOST}:{node.port}" if node.is_controller else f"{HOST}:{self._require_controller().port}"
            ),
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "num.partitions": 3,
            "default.replication.factor": rf,
            "auto.create.topics.enable": "false",
        }
        if node.is_controller:
            return {
                **shared,
                "process.roles": "controller",
                "listeners": f"CONTROLLER://{HOST}:{node.port}",
                **self._overrides,
            }
        return {
            **shared,
            "process.roles": "broker",
            "broker.rack": node.rack,
            "listeners": f"PLAINTEXT://{HOST}:{node.port}",
            "advertised.listeners": f"PLAINTEXT://{HOST}:{node.port}",
            "inter.broker.listener.name": "PLAINTEXT",
            "num.network.threads": 2,
            "num.io.threads": 2,
            "group.initial.rebalance.delay.ms": 0,
            "offsets.topic.replication.factor": rf,
            "transaction.state.log.replication.factor": rf,
            "transaction.state.log.min.isr": min(2, rf),
            "share.coordinator.state.topic.replication.factor": rf,
            "share.coordinator.state.topic.min.isr": min(2, rf),
            "log.retention.check.interval.ms": 1000,
            "log.segment.delete.delay.ms": 1000,
            "log.cleaner.dedupe.buffer.size": 8 * 1024 * 1024,
            **self._overrides,
        }

    def _jvm(self, log_config: Path, heap: str) -> list[str]:
        return [
            self._java,
            f"-Xmx{heap}",
            "-Xms32m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-XX:-UsePerfData",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log_config}",
            "-cp",
            self._classpath,
        ]

    def _format(self, nodes: list[_Node]) -> None:
        """Format the storage of ``nodes`` in parallel (``kafka-storage format``)."""
        work_dir = self._require_work_dir()
        jvm = self._jvm(work_dir / "tools-log4j2.properties", heap="128m")
        formats: list[subprocess.Popen[bytes]] = []
        try:
            for node in nodes:
                args = ["format", "--cluster-id", self._cluster_id, "--config", str(node.config)]
                if node.is_controller:
                    args.append("--standalone")
                formats.append(
                    subprocess.Popen(
                        [*jvm, STORAGE_TOOL, *args],
                        stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                    )
                )
            for node, process in zip(nodes, formats, strict=True):
                try:
                    output, _ = process.communicate(timeout=self._start_timeout_s)
                except subprocess.TimeoutExpired as timeout:
                    raise BrokerStartError(f"formatting {node.name} took over {timeout.timeout}s") from None
                if process.returncode != 0:
                    raise BrokerStartError(f"formatting {node.name} failed:\n{output.decode(errors='replace')}")
        finally:
            terminate(formats, timeout_s=0)

    def _launch(self, node: _Node) -> None:
        work_dir = self._require_work_dir()
        command = [
            *self._jvm(work_dir / "log4j2.properties", heap=self._heap),
            "kafka.Kafka",
            str(node.config),
        ]
        with node.log.open("ab") as log:
            node.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=node.home,
                preexec_fn=_die_with_parent(),  # noqa: PLW1509 - only set from the main thread
            )

    def _unregister(self, node_id: int) -> None:
        result = self.run_tool(
            CLUSTER_TOOL, "unregister", "--bootstrap-server", self.bootstrap_servers, "--id", str(node_id)
        )
        if result.returncode != 0:
            raise LocalKafkaError(f"unregistering broker {node_id} failed:\n{result.stdout}{result.stderr}")

    def _check_alive(self, nodes: Iterable[_Node]) -> None:
        """Raise BrokerStartError when the controller or one of ``nodes`` has exited."""
        for node in [self._require_controller(), *nodes]:
            if node.process is not None and node.process.poll() is not None:
                raise node.failure(f"exited with code {node.process.returncode}")

    def _wait_until_started(self, nodes: list[_Node], since: int = 0) -> None:
        """Wait for the start line in each broker's log (after character ``since``); fail fast when one exits."""
        deadline = time.monotonic() + self._start_timeout_s
        pending = list(nodes)
        while pending:
            self._check_alive(pending)
            pending = [node for node in pending if _STARTED_LINE not in _read(node.log)[since:]]
            if pending and time.monotonic() > deadline:
                raise pending[0].failure(f"did not start within {self._start_timeout_s:.0f}s")
            if pending:
                time.sleep(_POLL_S)

    def _wait_for_brokers(self) -> None:
        """Wait until kafka-python sees exactly the running brokers as live brokers."""
        expected = {node.node_id for node in self._running()}
        if not expected:
            return
        deadline = time.monotonic() + self._start_timeout_s
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap_servers, request_timeout_ms=5000)
        try:
            while True:
                seen = _live_broker_ids(admin)
                if seen == expected:
                    return
                if time.monotonic() > deadline:
                    raise BrokerStartError(f"cluster shows brokers {sorted(seen)}, expected {sorted(expected)}")
                self._check_alive(self._running())
                time.sleep(_POLL_S)
        finally:
            admin.close()


def _live_broker_ids(admin: KafkaAdminClient) -> set[int]:
    """Ids of the unfenced brokers in a DescribeCluster response; empty on a client error."""
    try:
        brokers = admin.describe_cluster()["brokers"]
    except KafkaError:
        return set()
    return {int(b["broker_id"]) for b in brokers if not b.get("is_fenced", False)}


# ---------------------------------------------------------------------- process safety
class _Reaper:
    """Stops every live cluster at interpreter exit and on SIGINT/SIGTERM."""

    def __init__(self) -> None:
        self._live: set[LocalKafkaCluster] = set()
        self._previous: dict[int, Any] = {}
        self._installed = False

    def watch(self, cluster: LocalKafkaCluster) -> None:
        self._live.add(cluster)
        if not self._installed:
            self._install()

    def forget(self, cluster: LocalKafkaCluster) -> None:
        self._live.discard(cluster)

    def stop_all(self) -> None:
        for cluster in list(self._live):
            cluster.stop()

    def _install(self) -> None:
        self._installed = True
        atexit.register(self.stop_all)
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous = signal.getsignal(signum)
            if previous is not signal.SIG_IGN:
                self._previous[signum] = previous
                signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        """Stop every live cluster, then behave as the handler this one replaced."""
        self.stop_all()
        previous = self._previous.get(signum, signal.SIG_DFL)
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)


_REAPER = _Reaper()
