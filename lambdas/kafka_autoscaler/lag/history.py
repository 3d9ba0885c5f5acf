"""Bounded history of (time, offset) samples per partition."""

from __future__ import annotations

from kafka_autoscaler.model import OffsetSample

# End-offset samples are the table time lag is interpolated on: they must reach back as
# far as the oldest committed offset a person cares about, yet stay small enough for
# one state item per topic.
END_OFFSET_MAX_AGE_S = 6 * 3600.0
END_OFFSET_MAX_SAMPLES = 48
COMMIT_MAX_AGE_S = 3600.0
COMMIT_MAX_SAMPLES = 12


def thin(samples: list[OffsetSample], max_count: int) -> list[OffsetSample]:
    """Drop every other sample from the older half until at most max_count remain.

    Recent samples stay dense (rates need them); old ones get sparse (time lag only
    needs the shape of the curve there).
    """
    while len(samples) > max_count:
        half = len(samples) // 2
        older = samples[:half:2] if half > 1 else samples[:0]
        samples = older + samples[half:]
    return samples


def append_sample(
    history: tuple[OffsetSample, ...], sample: OffsetSample, now: float, max_age_s: float, max_count: int
) -> tuple[OffsetSample, ...]:
    """History with the new sample appended, old and surplus samples dropped.

    A sample older than the newest kept one (a clock step back) replaces nothing.
    """
    # Offsets never go backwards for the same partition; a higher one means the topic was recreated.
    kept: list[OffsetSample] = [s for s in history if now - max_age_s <= s.t < sample.t and s.offset <= sample.offset]
    return tuple(thin([*kept, sample], max_count))
