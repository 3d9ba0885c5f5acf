"""The stop request of the demo's child processes (producer, consumer workers).

SIGTERM or SIGINT sets it; their loops check it and end cleanly, closing their Kafka client.
"""

from __future__ import annotations

import signal
from types import FrameType


class StopRequest:
    """Set by SIGTERM/SIGINT once `install()` has run; one per process."""

    requested = False

    @classmethod
    def on_signal(cls, signum: int, frame: FrameType | None) -> None:
        cls.requested = True

    @classmethod
    def install(cls) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, cls.on_signal)
