"""Notifiers for local runs: a text stream (the terminal) and a JSON-lines file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TextIO

from kafka_autoscaler.report import Message


class ConsoleNotifier:
    """ports.Notifier writing the subject and text to a stream."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def publish(self, message: Message) -> None:
        self._stream.write(f"{message.subject}\n{message.text}\n\n")
        self._stream.flush()


class FileNotifier:
    """ports.Notifier appending one JSON object per message to a file."""

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)

    def publish(self, message: Message) -> None:
        line = json.dumps(
            {"subject": message.subject, "text": message.text, "payload": message.payload}, sort_keys=True, default=str
        )
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with self._path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
