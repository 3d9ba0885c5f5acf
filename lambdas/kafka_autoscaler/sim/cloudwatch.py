"""Per-minute CloudWatch datapoints that are seen late, and alarms evaluated on them.

A datapoint covers one minute, is published at the minute's end and becomes visible
`metric_delay_s` later. A missing datapoint (MSK emits no consumer-lag metrics while
the group is rebalancing) breaks an alarm's run of breaching datapoints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum


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


class AlarmState(StrEnum):
    OK = "OK"
    ALARM = "ALARM"
    INSUFFICIENT_DATA = "INSUFFICIENT_DATA"


class TreatMissing(StrEnum):
    MISSING = "missing"  # CloudWatch's default
    NOT_BREACHING = "notBreaching"


def evaluate_alarm(
    points: Sequence[Datapoint],
    datapoints_to_alarm: int,
    evaluation_periods: int,
    above: float | None = None,
    below: float | None = None,
    treat_missing: TreatMissing = TreatMissing.MISSING,
) -> AlarmState:
    """An M-of-N CloudWatch alarm evaluated on its evaluation range, as documented.

    `points` are the evaluation range, oldest first: the evaluation periods and a few
    minutes before them (CloudWatch retrieves more datapoints than the evaluation periods;
    for 3 periods of a minute the documentation's examples show 5). From "Configuring how
    CloudWatch alarms treat missing data"
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html#alarms-and-missing-data):
    - with at least N datapoints present, the most recent N present ones are evaluated and
      the treatment of missing data is not needed: ALARM if at least M of them breach, else OK;
    - with fewer present, missing points are filled in as few times as possible:
      `notBreaching` fills them as within the threshold; `missing` decides on the real
      ones: ALARM if M of them breach, OK if any is not breaching, and when every present
      datapoint breaches but fewer than M, ALARM if they lie before the most recent N
      periods (the documented row "X - - - -"), else INSUFFICIENT_DATA ("- - - - X");
    - with none present, `missing` gives INSUFFICIENT_DATA and `notBreaching` OK.
    """
    if (above is None) == (below is None):
        raise ValueError("exactly one threshold (above or below) is required")

    def breaches(value: float) -> bool:
        return value > above if above is not None else value < below  # type: ignore[operator]

    present = [(i, p.value) for i, p in enumerate(points) if p.value is not None]
    if len(present) >= evaluation_periods:
        recent = present[-evaluation_periods:]
        return AlarmState.ALARM if sum(breaches(v) for _, v in recent) >= datapoints_to_alarm else AlarmState.OK
    breaching_count = sum(breaches(v) for _, v in present)
    if breaching_count >= datapoints_to_alarm:
        return AlarmState.ALARM
    if treat_missing is TreatMissing.NOT_BREACHING:
        return AlarmState.OK
    if not present:
        return AlarmState.INSUFFICIENT_DATA
    if breaching_count < len(present):
        return AlarmState.OK
    window_start = len(points) - evaluation_periods
    return AlarmState.ALARM if all(i < window_start for i, _ in present) else AlarmState.INSUFFICIENT_DATA
