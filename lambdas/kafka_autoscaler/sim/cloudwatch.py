"""Per-minute CloudWatch datapoints that are seen late, and alarms evaluated on them.

A datapoint covers one minute, is published at the minute's end and becomes visible
`metric_delay_s` later. A missing datapoint (MSK emits no consumer-lag metrics while
the group is rebalancing) breaks an alarm's run of breaching datapoints.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Datapoint:
    minute_start: int
    value: float | None  # None: not emitted
    visible_at: int


@dataclass
class DelayedSeries:
    points: list[Datapoint] = field(default_factory=list)  # by minute

    def publish(self, minute_start: int, value: float | None, visible_at: int) -> None:
        self.points.append(Datapoint(minute_start, value, visible_at))

    def visible(self, now: float, count: int) -> list[Datapoint]:
        """The `count` most recent minutes whose datapoints are all visible by `now`, oldest first.

        CloudWatch shows a minute once its datapoint arrived; a later minute that arrived
        earlier waits for the gap before it (the run of datapoints stays contiguous).
        """
        end = len(self.points)
        while end and self.points[end - 1].visible_at > now:
            end -= 1
        first_hidden = next((i for i in range(max(0, end - count - 4), end) if self.points[i].visible_at > now), None)
        if first_hidden is not None:
            end = first_hidden
        return self.points[max(0, end - count) : end]


def breaching(points: list[Datapoint], count: int, above: float | None = None, below: float | None = None) -> bool:
    """True when the last `count` datapoints are all present and beyond the threshold."""
    if len(points) < count:
        return False
    recent = points[-count:]
    values = [p.value for p in recent]
    if any(v is None for v in values):
        return False
    if above is not None:
        return all(v is not None and v > above for v in values)
    if below is not None:
        return all(v is not None and v < below for v in values)
    raise ValueError("a threshold (above or below) is required")
