"""`kafka-autoscaler demo` end to end: a short spike against a real local cluster.

One short run (about 90 s on 2 cores) is shared by the first tests: the consumer pool
scales out after the ramp, the report holds the plots, and nothing is left running.
A second run is interrupted with SIGINT (Ctrl-C) once it ticks, and must stop everything.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from screenshots import inked_rows, screenshot, share_of

pytestmark = [pytest.mark.integration, pytest.mark.timeout(360)]

DURATION_S = 60


@dataclass(frozen=True)
class DemoRun:
    returncode: int
    output: str
    report: Path
    run_dir: Path
    started: dict[int, str]  # every process seen under the demo while it ran, with its command line


def _children_of(pid: int) -> list[int]:
    """Every live process whose parent chain leads to `pid` (read from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        kids = [child for child, ppid in parents.items() if ppid == parent]
        found.extend(kids)
        frontier.extend(kids)
    return found


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    out = tmp_path_factory.mktemp("demo")
    report = out / "report.html"
    command = [
        sys.executable,
        "-m",
        "kafka_autoscaler",
        "demo",
        "--duration",
        str(DURATION_S),
        "--profile",
        "spike",
        "--no-live",
        "--report",
        str(report),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    started: dict[int, str] = {}
    try:
        assert process.stdout is not None
        for line in process.stdout:  # the demo ends itself; pytest-timeout guards a hang
            lines.append(line)
            if line.startswith("t="):
                started.update({pid: _cmdline(pid) for pid in _children_of(process.pid) if pid not in started})
        process.wait(timeout=60)
    finally:
        _end(process)
    yield DemoRun(process.returncode, "".join(lines), report, out / "report-run", started)


def test_the_demo_ends_cleanly(demo_run: DemoRun) -> None:
    assert demo_run.returncode == 0, demo_run.output[-4000:]
    assert "Every process the demo started has stopped." in demo_run.output


def test_the_consumer_pool_scaled_out_after_the_ramp(demo_run: DemoRun) -> None:
    scale_outs = [line for line in demo_run.output.splitlines() if "consumers scale_out 1->" in line]
    assert scale_outs, demo_run.output[-4000:]
    first = float(scale_outs[0].split("s ", 1)[0].removeprefix("t=").strip())
    ramp_start = 0.15 * DURATION_S  # the spike profile's quiet share
    assert first >= ramp_start, f"scaled out at {first}s, before the ramp at {ramp_start}s"
    assert "[LagAboveTarget" in scale_outs[0] or "[ScaleOutStepLimit" in scale_outs[0]
    assert "First consumer scale-out: +" in demo_run.output


def test_the_report_holds_the_timeline_plots(demo_run: DemoRun) -> None:
    assert f"Report: {demo_run.report.resolve()}" in demo_run.output
    text = demo_run.report.read_text(encoding="utf-8")
    for title in ("Produce rate", "Consumer lag", "Time lag", "Consumers", "Brokers"):
        assert f">{title} (" in text, f"the {title} plot, titled with its unit"
    assert "scale_out 1-&gt;" in text, "the scale-out is a marker and a row of the decisions table"
    assert (demo_run.run_dir / "decisions.jsonl").read_text(encoding="utf-8").count("scale_out") >= 1


def test_the_report_as_a_person_sees_it_has_its_plots_in_colour(demo_run: DemoRun) -> None:
    pixels = screenshot(demo_run.report, height=3000)
    # The measured rate, lag, time lag, running tasks, bytes in and CPU lines (local/report_html.py).
    lines = {"#2ca02c", "#ff7f0e", "#d62728", "#17becf", "#e377c2", "#8c564b"}
    missing = sorted(c for c in lines if share_of(pixels, c, 30) * pixels[..., 0].size < 400)
    assert not missing, f"every timeline line is drawn in its colour (not seen: {missing})"
    assert inked_rows(pixels).size > 0.2 * pixels.shape[0], "text and plots fill the page, it is not blank"


def test_the_report_lists_the_advice_on_the_local_cluster(demo_run: DemoRun) -> None:
    """The demo's workers use kafka-python's default range assignor: the advisor says so, once."""
    assert demo_run.output.count("advice eager_assignor (warning), group demo-consumers") == 1, demo_run.output[-4000:]
    advice = demo_run.report.read_text(encoding="utf-8").split("<h2>Advice</h2>", 1)[1].split("<h2>", 1)[0]
    assert "advice eager_assignor (warning), group demo-consumers" in advice


def test_no_process_is_left_behind(demo_run: DemoRun) -> None:
    commands = demo_run.started.values()
    assert any("kafka.Kafka" in c for c in commands), "the brokers were seen while the demo ran"
    assert any("kafka_autoscaler.local.worker" in c for c in commands)
    assert any("kafka_autoscaler.local.producer" in c for c in commands)
    alive = [pid for pid, command in demo_run.started.items() if _still(pid, command)]
    assert alive == [], f"left running: {[_cmdline(p) for p in alive]}"


def test_an_interrupted_demo_stops_everything(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "kafka_autoscaler", "demo", "--no-live", "--report", str(tmp_path / "r.html")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        assert process.stdout is not None
        for line in process.stdout:
            if "consumers 1/1  brokers" in line or time.monotonic() > deadline:
                break  # the cluster, the producer and the first consumer are up
        children = {pid: _cmdline(pid) for pid in _children_of(process.pid)}
        assert any("kafka_autoscaler.local.worker" in c for c in children.values()), children
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=90)
    finally:
        _end(process)
    assert process.returncode == 130, rest[-3000:]
    assert "Every process the demo started has stopped." in rest
    time.sleep(1)
    alive = [pid for pid, command in children.items() if _still(pid, command)]
    assert alive == [], f"left running after Ctrl-C: {[_cmdline(p) for p in alive]}"


def _end(process: subprocess.Popen[str]) -> None:
    """A demo still running when a test gives up is asked to stop (it cleans up), then killed."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _still(pid: int, command: str) -> bool:
    """The same process is alive (not a zombie, and not another one that reused the pid)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z" and _cmdline(pid) == command
