"""One consumer task of the demo's pool: the job an ECS task does, in a process.

Run as ``python -m kafka_autoscaler.local.worker --bootstrap-servers HOST:PORT --topic T
--group G --cost-ms 20``. It joins the group, spends ``--cost-ms`` on every record (a
sleep, standing in for the I/O a real consumer waits on), commits once a second, and
on SIGTERM/SIGINT leaves the group cleanly so the others take its partitions at once.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from kafka import KafkaConsumer
from kafka.errors import CommitFailedError

from kafka_autoscaler.local.stop import StopRequest

# Small batches keep a member quick to rejoin when the group rebalances.
MAX_POLL_RECORDS = 10
POLL_TIMEOUT_MS = 500
COMMIT_INTERVAL_S = 1.0
CLOSE_TIMEOUT_MS = 3000  # a stop must not wait on a broker that is already gone


def consume(consumer: KafkaConsumer, cost_s: float) -> int:
    """Poll, work and commit (at most once a second, and at the end) until a stop is requested."""
    handled = 0
    uncommitted = False
    last_commit = time.monotonic()
    while not StopRequest.requested:
        batches = consumer.poll(timeout_ms=POLL_TIMEOUT_MS, max_records=MAX_POLL_RECORDS)
        records = [record for batch in batches.values() for record in batch]
        for _ in records:
            time.sleep(cost_s)
        handled += len(records)
        uncommitted = uncommitted or bool(records)
        if uncommitted and time.monotonic() - last_commit >= COMMIT_INTERVAL_S:
            _commit(consumer)
            uncommitted, last_commit = False, time.monotonic()
    if uncommitted:
        _commit(consumer)
    return handled


def _commit(consumer: KafkaConsumer) -> None:
    """Commit what was handled; after a rebalance the new owner reads those records again (at least once)."""
    try:
        consumer.commit(timeout_ms=CLOSE_TIMEOUT_MS)
    except CommitFailedError as error:
        print(f"commit refused, the group rebalanced: {error}", file=sys.stderr, flush=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m kafka_autoscaler.local.worker")
    parser.add_argument("--bootstrap-servers", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--cost-ms", type=float, default=20.0, help="work per record, in milliseconds")
    parser.add_argument("--client-id", default="demo-worker")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.cost_ms < 0:
        raise SystemExit(f"--cost-ms must not be negative, got {args.cost_ms}")
    StopRequest.install()
    consumer = KafkaConsumer(
        args.topic,
        bootstrap_servers=args.bootstrap_servers.split(","),
        group_id=args.group,
        client_id=args.client_id,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=MAX_POLL_RECORDS,
    )
    try:
        consume(consumer, args.cost_ms / 1000.0)
    finally:
        consumer.close(autocommit=False, timeout_ms=CLOSE_TIMEOUT_MS)  # the loop committed already
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
