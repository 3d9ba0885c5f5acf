"""Start and stop the demo's Python child processes (producer, consumer workers) by pid.

Children run in their own session, so a Ctrl-C in the terminal reaches only the demo,
which then stops them in order. On Linux each child also gets SIGTERM when the demo
dies, so even a killed demo leaves none behind. Every child still alive at interpreter
exit is stopped too.
"""

from __future__ import annotations

import atexit
import ctypes
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

_PR_SET_PDEATHSIG = 1
_LIVE: set[subprocess.Popen[bytes]] = set()


def _die_with_parent() -> Callable[[], None] | None:
    """A pre-exec hook asking the kernel to SIGTERM the child when the demo dies (Linux, main thread)."""
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def hook() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return hook


def spawn_module(module: str, args: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
    """Run ``python -m module args`` with this interpreter, output appended to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent(),  # noqa: PLW1509 - only set from the main thread
        )
    _LIVE.add(process)
    return process


def request_stop(process: subprocess.Popen[bytes]) -> None:
    """Send SIGTERM without waiting; the caller polls the process, `stop_all` collects it at exit."""
    if process.poll() is None:
        process.terminate()


def terminate(processes: Iterable[subprocess.Popen[bytes]], timeout_s: float) -> None:
    """SIGTERM each process, wait up to `timeout_s` in all, then SIGKILL what is left."""
    alive = [p for p in processes if p.poll() is None]
    for process in alive:
        process.terminate()
    deadline = time.monotonic() + timeout_s
    for process in alive:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def stop(processes: Sequence[subprocess.Popen[bytes]], timeout_s: float = 10.0) -> None:
    """Terminate the processes (see `terminate`) and forget them."""
    terminate(processes, timeout_s)
    for process in processes:
        if process.poll() is not None:
            _LIVE.discard(process)


def stop_all(timeout_s: float = 10.0) -> None:
    """Stop every child this module started that is still alive."""
    stop(list(_LIVE), timeout_s)


atexit.register(stop_all)
