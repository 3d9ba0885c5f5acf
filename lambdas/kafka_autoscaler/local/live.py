"""The demo's live terminal view: a rich panel redrawn from the timeline (needs `rich`, the `local` extra)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from kafka_autoscaler.local.plain import number
from kafka_autoscaler.local.timeline import Event, Point, Timeline

SHOWN_DECISIONS = 8
_ACTION_STYLES = {"scale_out": "bold green", "scale_in": "bold yellow", "rebalance": "bold magenta"}


def _metrics(point: Point | None, timeline: Timeline) -> Table:
    table = Table.grid(padding=(0, 3))
    for _ in range(4):
        table.add_column()
    if point is None:
        table.add_row("waiting for the first tick...", "", "", "")
        return table
    over = point.max_time_lag_s is not None and point.max_time_lag_s > timeline.target_time_lag_s
    table.add_row(
        Text("produce rate", style="dim"),
        f"{number(point.produce_rate)} msg/s (planned {point.planned_rate:.0f})",
        Text("phase", style="dim"),
        f"{point.phase}  t={point.t:.0f}s of {timeline.duration_s:.0f}s",
    )
    table.add_row(
        Text("total lag", style="dim"),
        f"{number(point.total_lag)} msgs",
        Text("max time lag", style="dim"),
        Text(
            f"{number(point.max_time_lag_s, 's', 1)} (target {timeline.target_time_lag_s:g}s)",
            style="bold red" if over else "green",
        ),
    )
    table.add_row(
        Text("consumers", style="dim"),
        f"{point.consumers_running} running / {point.consumers_desired} desired",
        Text("brokers", style="dim"),
        f"{point.brokers} ({point.cluster_state})  CPU {number(point.broker_cpu_pct, '%', 1)}  "
        f"in {number(None if point.bytes_in_per_broker is None else point.bytes_in_per_broker / 1000, ' KB/s')}"
        "/broker",
    )
    return table


def _decisions(events: Sequence[Event]) -> Table:
    table = Table(expand=True, show_edge=False, pad_edge=False)
    table.add_column("t", justify="right", width=6)
    table.add_column("change", width=26)
    table.add_column("reason", width=20)
    table.add_column("why", ratio=1)
    for event in events[-SHOWN_DECISIONS:]:
        table.add_row(
            f"{event.t:.0f}s",
            Text(
                f"{event.target} {event.action} {event.current}->{event.desired}",
                style=_ACTION_STYLES.get(event.action, ""),
            ),
            event.reason,
            event.message,
        )
    if not events:
        table.add_row("", "no change yet", "", "")
    return table


def render(timeline: Timeline, note: str = "") -> RenderableType:
    """The live panel for the timeline so far."""
    point = timeline.points[-1] if timeline.points else None
    title = f"kafka-autoscaler demo: profile {timeline.profile}"
    body = Group(
        _metrics(point, timeline),
        Text(""),
        Text("decisions (changes and their reasons)", style="bold"),
        _decisions(timeline.events),
        Text(note, style="dim"),
    )
    return Panel(body, title=title, subtitle="Ctrl-C stops everything")


class LiveView:
    """A rich Live display redrawn from the timeline; `print` writes above it."""

    def __init__(self, console: Console | None = None) -> None:
        self._console = console or Console()
        self._live: Live | None = None

    def __enter__(self) -> LiveView:
        self._live = Live(console=self._console, refresh_per_second=4, transient=False)
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None

    def update(self, timeline: Timeline, note: str = "") -> None:
        if self._live is not None:
            self._live.update(render(timeline, note))

    def print(self, line: str) -> None:
        self._console.print(line, markup=False, highlight=False)

    def tick(self, point: Point) -> None:
        """The panel shows the tick; nothing to print."""
