"""The demo's plain terminal output (--no-live): one line per tick and per decision, standard library only."""

from __future__ import annotations

from typing import Protocol, TextIO

from kafka_autoscaler.local.timeline import Event, Point, Timeline


class DemoView(Protocol):
    """Where the demo shows its progress."""

    def update(self, timeline: Timeline, note: str = "") -> None:
        """Redraw from the timeline (often)."""
        ...

    def tick(self, point: Point) -> None:
        """Show one tick."""
        ...

    def print(self, line: str) -> None:
        """Show a line that stays (a decision, a message)."""
        ...


def number(value: float | None, unit: str = "", digits: int = 0) -> str:
    """A value for a person, "-" when unknown."""
    return "-" if value is None else f"{value:,.{digits}f}{unit}"


def status_line(point: Point) -> str:
    """One line for a tick: what --no-live prints."""
    return (
        f"t={point.t:5.0f}s {point.phase:<8} rate {number(point.produce_rate, ' msg/s'):>11}  "
        f"lag {number(point.total_lag):>7}  time lag {number(point.max_time_lag_s, 's', 1):>7}  "
        f"consumers {point.consumers_running}/{point.consumers_desired}  brokers {point.brokers} {point.cluster_state}"
    )


def event_line(event: Event) -> str:
    return (
        f"t={event.t:5.0f}s {event.target} {event.action} {event.current}->{event.desired} "
        f"[{event.reason}, {event.status}] {event.message}"
    )


class PlainView:
    """--no-live: one line per tick and per decision."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def __enter__(self) -> PlainView:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stream.flush()

    def update(self, timeline: Timeline, note: str = "") -> None:
        """Nothing to redraw; the demo prints a line per tick instead."""

    def print(self, line: str) -> None:
        self._stream.write(line + "\n")
        self._stream.flush()

    def tick(self, point: Point) -> None:
        self.print(status_line(point))
