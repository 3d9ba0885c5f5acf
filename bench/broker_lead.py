"""When the brokers a peak needs arrive, per day of a simulated trace: before the peak, or after.

    .venv/bin/python bench/broker_lead.py --trace bench/traces/weekly.csv --message-bytes 6144 \\
        --broker-scale-in-window 3600 [--no-forecast]

Per day: the minute of the day's highest rate, the brokers that rate needs to keep every broker's CPU
at or under the target, the first minute that day with that many brokers holding partitions, and the
minutes that day with the cluster's CPU above the target.
"""

from __future__ import annotations

import argparse
import math

from kafka_autoscaler.config import BrokerPolicy, ConsumerMode
from kafka_autoscaler.sim.model import World
from kafka_autoscaler.sim.msk import IDLE_CPU_PCT
from kafka_autoscaler.sim.scaler import OurScaler
from kafka_autoscaler.sim.settings import SimSettings
from kafka_autoscaler.sim.trace import read_trace

DAY_S = 86400


def brokers_needed(bytes_in_per_s: float, settings: SimSettings, target_pct: float) -> int:
    """The fewest brokers (a multiple of the AZ count) whose CPU stays at or under the target."""
    load = (100 - IDLE_CPU_PCT) * bytes_in_per_s * settings.replication_factor / settings.broker_bytes_per_s_at_full_cpu
    need = math.ceil(load / (target_pct - IDLE_CPU_PCT))
    return max(settings.brokers, settings.az_count * math.ceil(need / settings.az_count))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trace", required=True)
    parser.add_argument("--message-bytes", type=int, default=SimSettings().message_bytes)
    parser.add_argument("--broker-scale-in-window", type=int)
    parser.add_argument("--no-forecast", action="store_true")
    args = parser.parse_args()
    settings = SimSettings(
        message_bytes=args.message_bytes,
        broker_scale_in_window_s=args.broker_scale_in_window,
        forecast=not args.no_forecast,
    )
    target = BrokerPolicy().cpu_target_pct
    trace = read_trace(args.trace)
    world = World(trace, settings)
    scaler = OurScaler(world, ConsumerMode.TIME_LAG)
    world.start(scaler.initial_tasks())
    serving: list[int] = []  # per minute: brokers holding partitions
    cpu: list[float] = []  # per minute: the cluster's mean CPU
    for now in range(1, world.duration_s + 1):
        world.step(now)
        scaler.on_second(now)
        if now % 60 == 0:
            serving.append(sum(1 for r in world.msk.replicas.values() if r > 0))
            last = [s.cpu[-1].value for s in world.msk.series.values() if s.cpu]
            cpu.append(sum(last) / len(last) if last else 0.0)
    rates = trace.per_second_rates()
    print(f"{'day':>3} {'peak at':>8} {'needs':>6} {'reached at':>11} {'min > target':>13}")
    for day in range(world.duration_s // DAY_S):
        minutes = range(day * 1440, min((day + 1) * 1440, len(serving)))
        peak_s = day * DAY_S + int(rates[day * DAY_S : (day + 1) * DAY_S].argmax())
        need = brokers_needed(float(rates[peak_s]) * settings.message_bytes, settings, target)
        reached = next((m for m in minutes if serving[m] >= need), None)
        hot = sum(1 for m in minutes if cpu[m] > target)
        when = "never" if reached is None else f"{(reached - day * 1440) // 60:02d}:{reached % 60:02d}"
        print(f"{day:>3} {(peak_s % DAY_S) // 3600:02d}:{peak_s % 3600 // 60:02d}   {need:>6} {when:>11} {hot:>13}")


if __name__ == "__main__":
    main()
