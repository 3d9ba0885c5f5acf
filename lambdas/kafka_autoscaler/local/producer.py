"""The demo's producer: a process that writes to a topic at the rate a load profile gives.

Run as ``python -m kafka_autoscaler.local.producer --bootstrap-servers HOST:PORT --topic T
--profile default --duration 240 --base-rate 20``. It starts at ``--start-at`` (epoch
seconds) so its clock matches the demo's, sends what the profile's integral says is due,
and exits when the profile ends or on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence

from kafka import KafkaProducer

from kafka_autoscaler.local.profiles import get_profile, messages_due
from kafka_autoscaler.local.stop import StopRequest

SEND_INTERVAL_S = 0.02  # how often the producer catches up with the profile
CLOSE_TIMEOUT_S = 3.0  # a stop must not wait on a broker that is already gone


def _payload(size: int) -> bytes:
    """A record body of `size` bytes that does not compress to nothing."""
    return os.urandom(size)


def produce(
    producer: KafkaProducer,
    topic: str,
    profile_name: str,
    duration_s: float,
    base_rate: float,
    size: int,
    start_at: float,
) -> int:
    """Send along the profile until it ends or a stop is requested; return how many were sent."""
    profile = get_profile(profile_name)
    body = _payload(size)
    sent = 0
    while not StopRequest.requested:
        elapsed = time.time() - start_at
        if elapsed > duration_s:
            break
        due = int(messages_due(profile, elapsed, duration_s, base_rate))
        while sent < due and not StopRequest.requested:
            producer.send(topic, body)
            sent += 1
        time.sleep(SEND_INTERVAL_S)
    producer.flush(timeout=CLOSE_TIMEOUT_S)
    return sent


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m kafka_autoscaler.local.producer")
    parser.add_argument("--bootstrap-servers", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--profile", default="default")
    parser.add_argument("--duration", type=float, required=True, help="seconds the profile is stretched over")
    parser.add_argument("--base-rate", type=float, required=True, help="messages per second at 1x")
    parser.add_argument("--size", type=int, default=1000, help="bytes per message")
    parser.add_argument("--start-at", type=float, default=None, help="epoch seconds the profile starts at")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    get_profile(args.profile)  # fail before connecting on a bad name
    StopRequest.install()
    producer = KafkaProducer(
        bootstrap_servers=args.bootstrap_servers.split(","), acks=1, linger_ms=5, client_id="demo-producer"
    )
    try:
        start_at = args.start_at if args.start_at is not None else time.time()
        while time.time() < start_at and not StopRequest.requested:
            time.sleep(min(SEND_INTERVAL_S * 5, max(0.0, start_at - time.time())))
        produce(producer, args.topic, args.profile, args.duration, args.base_rate, args.size, start_at)
    finally:
        producer.close(timeout=CLOSE_TIMEOUT_S)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
