"""Writes the traces long enough to learn a rhythm from, into bench/traces/ (seeded: the same every run).

    .venv/bin/python bench/make_traces.py

- weekly.csv: six days (Monday to Saturday) of business-hours load, Saturday at half height.
- cron.csv: eight hours of batch jobs started every 20 minutes, each a little late, long and big
  in its own way, over a low base load.
- bursts.csv: the aperiodic control: bursts like cron's at random (Poisson) times.
- flicker.csv: six hours of load that switches between 3,000 and 7,000 msg/s every 40-140 s:
  changes shorter than a tick or two, which a policy that follows the rate since the previous
  tick sizes for at their peak (the cost of following bursts within a tick).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from kafka_autoscaler.sim.trace import write_trace

TRACES = Path(__file__).resolve().parent / "traces"
DAY_S = 86400


def weekly(rng: np.random.Generator) -> list[tuple[float, float]]:
    """Every 5 minutes: night 2,000 msg/s, a working-day hump to 20,000 at 14:00, Saturday at half."""
    rows = []
    for t in range(0, 6 * DAY_S + 1, 300):
        day, hour = divmod(t, DAY_S)
        hour /= 3600
        hump = math.exp(-(((hour - 14) / 3.5) ** 2))
        height = 18_000 if day < 5 else 9_000
        rate = (2_000 + height * hump) * (1 + rng.normal(0, 0.03))
        rows.append((float(t), max(rate, 0.0)))
    return rows


def batch_rows(starts: list[float], rng: np.random.Generator, end_s: int) -> list[tuple[float, float]]:
    """Base load of 500 msg/s with a batch at each start: 3-6 minutes at 5,000-9,000 msg/s."""
    rows: list[tuple[float, float]] = [(0.0, 500.0)]
    for start in starts:
        length = float(rng.uniform(180, 360))
        height = float(rng.uniform(5_000, 9_000))
        if start <= rows[-1][0] + 10 or start + length + 10 >= end_s:
            continue
        rows += [(start, 500.0), (start + 10, height), (start + length, height), (start + length + 10, 500.0)]
    rows.append((float(end_s), 500.0))
    return rows


def cron(rng: np.random.Generator) -> list[tuple[float, float]]:
    end = 8 * 3600
    starts = [k * 1200 + 300 + float(rng.uniform(0, 60)) for k in range(end // 1200)]
    return batch_rows(starts, rng, end)


def bursts(rng: np.random.Generator) -> list[tuple[float, float]]:
    """As many bursts as cron has, at times with no rhythm."""
    end = 8 * 3600
    starts = sorted(float(s) for s in rng.uniform(300, end - 600, end // 1200))
    return batch_rows(starts, rng, end)


def flicker(rng: np.random.Generator) -> list[tuple[float, float]]:
    """3,000 and 7,000 msg/s in turn, each held 40-140 s (5 s ramps between them)."""
    end = 6 * 3600.0
    rows: list[tuple[float, float]] = []
    t, high = 0.0, False
    while t < end - 200:
        rate, held = (7_000.0 if high else 3_000.0), float(rng.uniform(40, 140))
        rows += [(t, rate), (t + held - 5, rate)]
        t, high = t + held, not high
    rows.append((end, 3_000.0))
    return rows


def main() -> None:
    rng = np.random.default_rng(20261201)
    for name, make in (("weekly", weekly), ("cron", cron), ("bursts", bursts), ("flicker", flicker)):
        write_trace(TRACES / f"{name}.csv", make(rng))


if __name__ == "__main__":
    main()
