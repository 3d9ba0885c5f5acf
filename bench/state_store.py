"""What the DynamoDB state store costs per tick: write and read units, item sizes, memory and time.

Drives the real store (`state/dynamodb.py`) against moto through ticks one minute apart, as
the Lambda does: a read of N partitions (topics of 100 partitions, split among G groups as
`bench/lag_read.py` splits them, every partition committed), the production lag computation
(`build_observation`), the production record step for offsets (`record_offsets`), save, load.

Units are counted from the item sizes as DynamoDB documents them, not from moto:
- item size: attribute names plus values; strings and binaries by their bytes, numbers about
  1 byte per 2 significant digits plus 1
  (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html);
- a write: 1 write request unit per 1 KB of the item, rounded up; a strongly consistent read:
  1 read request unit per 4 KB, rounded up per item (also within BatchGetItem)
  (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html);
- TTL deletes consume no write units
  (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/TTL.html).
Prices: on-demand, US East (N. Virginia), $0.625 per million write request units, $0.125 per
million read request units, $0.25 per GB-month of storage
(https://aws.amazon.com/dynamodb/pricing/on-demand/). A month is 30 days of one tick a minute.

    .venv/bin/python bench/state_store.py --partitions 10000 --groups 10
    .venv/bin/python bench/state_store.py --partitions 50000 --groups 10 --ticks 60 --json
    .venv/bin/python bench/state_store.py --partitions 1000 --groups 10 --rate-series 12

`--rate-series S` starts the state with S rate series filled to what `state/rate_history.py`
keeps (14 days of minutes, 8 weeks of quarter hours) and adds a sample to each every tick; the
store writes them at most every RATE_HISTORY_SAVE_S, so `wru_per_tick` is split into ticks with
and without a rate-history write.

`peak_rss_mib` is the whole process (Python, boto3, and moto holding the table in memory);
`baseline_rss_mib` is the same process before the first tick.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import random
import resource
import statistics
import struct
import sys
import time
from pathlib import Path
from typing import Any

import boto3
from kafka_autoscaler.lag.history import record_offsets
from kafka_autoscaler.lag.observation import GroupOffsets, OffsetsRead, build_observation
from kafka_autoscaler.model import RateHistory, RateSeries
from kafka_autoscaler.state.dynamodb import RATES_PREFIX, STATE_SK, DynamoStateStore
from kafka_autoscaler.state.rate_history import COARSE_KEEP, FINE_KEEP_MIN, add_sample
from moto import mock_aws

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from moto_tables import create_state_table  # the table as the stack creates it

REGION = "us-east-1"
TABLE = "kafka-autoscaler-state"
CLUSTER = "arn:aws:kafka:us-east-1:123456789012:cluster/bench/6f1d2c3b-1a2b-4c5d-9e8f-0a1b2c3d4e5f-2"
PARTITIONS_PER_TOPIC = 100
TICK_S = 60.0
TICKS_PER_MONTH = 30 * 24 * 60
WRU_PRICE = 0.625 / 1e6
RRU_PRICE = 0.125 / 1e6
STORAGE_PRICE_GB_MONTH = 0.25
ITEM_OVERHEAD_BYTES = 100  # DynamoDB bills each stored item 100 bytes more (same page as the item sizes)
START = 1_767_225_600.0


def item_bytes(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it (S, N, B attributes and maps of them: all the store writes)."""
    total = 0
    for name, value in item.items():
        ((kind, data),) = value.items()
        total += len(name.encode())
        if kind == "M":  # 3 bytes, plus its names and values
            total += 3 + item_bytes(data)
        elif kind == "S":
            total += len(data.encode())
        elif kind == "B":
            total += len(data)
        elif kind == "N":
            digits = data.lstrip("-").replace(".", "").strip("0") or "0"
            total += math.ceil(len(digits) / 2) + 1
        else:
            raise ValueError(f"attribute {name}: type {kind} is not counted here")
    return total


class Metered:
    """The DynamoDB client, counting write units of every put and read units of every read."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.wru = 0
        self.rru = 0
        self.max_item = 0
        self.writes = 0
        self.rate_wru = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def put_item(self, **kwargs: Any) -> Any:
        size = item_bytes(kwargs["Item"])
        self.max_item = max(self.max_item, size)
        self.wru += max(1, math.ceil(size / 1024))
        if kwargs["Item"]["sk"]["S"].startswith(RATES_PREFIX):
            self.rate_wru += max(1, math.ceil(size / 1024))
        self.writes += 1
        return self._client.put_item(**kwargs)

    def get_item(self, **kwargs: Any) -> Any:
        answer = self._client.get_item(**kwargs)
        self.rru += max(1, math.ceil(item_bytes(answer.get("Item", {})) / 4096))
        return answer

    def batch_get_item(self, **kwargs: Any) -> Any:
        answer = self._client.batch_get_item(**kwargs)
        for table, request in kwargs["RequestItems"].items():
            for key in request["Keys"]:  # each item rounded up to 4 KB, on its whole stored size
                stored = self._client.get_item(TableName=table, Key=key).get("Item")
                if stored is not None:
                    self.rru += max(1, math.ceil(item_bytes(stored) / 4096))
        return answer


class Workload:
    """N partitions in topics of 100, split among G groups; offsets grow 10-2,000 messages a second."""

    def __init__(self, partitions: int, groups: int, seed: int = 42) -> None:
        rng = random.Random(seed)
        self.rng = rng
        topics = [f"bench-{i:04d}" for i in range(partitions // PARTITIONS_PER_TOPIC)]
        self.topics = {f"group-{g}": tuple(topics[g::groups]) for g in range(groups)}
        self.partitions = {t: tuple(range(PARTITIONS_PER_TOPIC)) for t in topics}
        tps = [(t, p) for t in topics for p in range(PARTITIONS_PER_TOPIC)]
        self.end = {tp: rng.randrange(10**9) for tp in tps}
        self.rate = {tp: rng.uniform(10, 2000) for tp in tps}
        self.committed = {tp: self.end[tp] - rng.randrange(5000) for tp in tps}

    def read(self) -> OffsetsRead:
        rng = self.rng
        for tp, offset in self.end.items():
            produced = int(self.rate[tp] * TICK_S * rng.uniform(0.8, 1.2))
            self.end[tp] = offset + produced
            self.committed[tp] = max(self.committed[tp], self.end[tp] - rng.randrange(5000))
        groups = {
            g: GroupOffsets(
                g, "Stable", 4, frozenset(), {(t, p): self.committed[t, p] for t in ts for p in self.partitions[t]}
            )
            for g, ts in self.topics.items()
        }
        return OffsetsRead(groups, self.topics, self.partitions, dict(self.end), {})


def full_rate_history(count: int, start: float, seed: int = 42) -> RateHistory:
    """`count` series as full as the state keeps them, random float32 rates (compress as badly as real ones)."""
    rng = random.Random(seed)

    def rates(n: int) -> tuple[float, ...]:
        return tuple(float(struct.unpack("<f", struct.pack("<f", rng.uniform(0, 5e4)))[0]) for _ in range(n))

    fine_start = start - 60 * FINE_KEEP_MIN
    return RateHistory(
        {
            f"consumer:group-{i}": RateSeries(
                fine_start, rates(FINE_KEEP_MIN), 1, fine_start - 900 * COARSE_KEEP, rates(COARSE_KEEP)
            )
            for i in range(count)
        }
    )


def sampled(history: RateHistory, now: float, rng: random.Random) -> RateHistory:
    """A sample added to every series, as `record_rates` adds one per tick."""
    return dataclasses.replace(
        history, series={k: add_sample(s, now, rng.uniform(0, 5e4)) for k, s in history.series.items()}
    )


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def measure(partitions: int, groups: int, ticks: int, rate_series: int = 0) -> dict[str, Any]:
    with mock_aws():
        raw = boto3.client("dynamodb", region_name=REGION)
        create_state_table(raw, TABLE)
        metered = Metered(raw)
        store = DynamoStateStore(metered, TABLE, CLUSTER)
        workload = Workload(partitions, groups)
        baseline = rss_mib()
        state = dataclasses.replace(store.load(), rate_history=full_rate_history(rate_series, START))
        rates_rng = random.Random(7)
        wru, rru, observe_s, save_s, load_s = [], [], [], [], []
        rate_wru: list[int] = []
        for tick in range(ticks):
            now = START + TICK_S * tick
            fetched = workload.read()
            started = time.perf_counter()
            observed = build_observation(fetched, state, now)
            end, commits = record_offsets(
                state.end_offsets, state.commits, observed.end_offsets, observed.commits, set(observed.groups), now
            )
            rates = sampled(state.rate_history, now, rates_rng)
            state = dataclasses.replace(state, end_offsets=end, commits=commits, rate_history=rates)
            observe_s.append(time.perf_counter() - started)
            del observed, fetched
            before_w, before_r, before_rates = metered.wru, metered.rru, metered.rate_wru
            started = time.perf_counter()
            store.save(state, [], now)
            save_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            state = store.load()
            load_s.append(time.perf_counter() - started)
            wru.append(metered.wru - before_w)
            rru.append(metered.rru - before_r)
            rate_wru.append(metered.rate_wru - before_rates)
        started = time.perf_counter()
        cold = DynamoStateStore(raw, TABLE, CLUSTER).load()  # timed without the metering's extra reads
        cold_load_s = time.perf_counter() - started
        peak = rss_mib()
        before_r = metered.rru
        DynamoStateStore(metered, TABLE, CLUSTER).load()
        cold_rru = metered.rru - before_r
        for name in ("end_offsets", "commits"):  # row by row: a whole-table comparison would build every tuple at once
            saved, loaded = getattr(state, name), getattr(cold, name)
            assert saved.keys() == loaded.keys() and all(saved[k] == loaded[k] for k in saved), name
        assert cold.rate_history.series.keys() == state.rate_history.series.keys()
        state_item = raw.get_item(TableName=TABLE, Key={"pk": {"S": CLUSTER}, "sk": {"S": STATE_SK}})["Item"]
        stored = [i for page in raw.get_paginator("scan").paginate(TableName=TABLE) for i in page["Items"]]
    steady = slice(ticks // 2, None)  # after the first ticks wrote the layouts and the window filled
    wru_tick = statistics.mean(wru[steady])
    rru_tick = statistics.mean(rru[steady])
    with_rates = [w for w, r in zip(wru[steady], rate_wru[steady], strict=True) if r]
    without_rates = [w for w, r in zip(wru[steady], rate_wru[steady], strict=True) if not r]
    # Unnamed segments stay stored until TTL removes them (within about two days of expiry, per the TTL page).
    segment_bytes = statistics.mean(
        item_bytes(i) + ITEM_OVERHEAD_BYTES for i in stored if i["sk"]["S"].startswith("seg#")
    )
    stored_gb = segment_bytes * (6 * 60 + 60 + 2 * 24 * 60) / 1e9
    month = {
        "writes": wru_tick * TICKS_PER_MONTH * WRU_PRICE,
        "reads": rru_tick * TICKS_PER_MONTH * RRU_PRICE,
        "cold_loads_at_one_an_hour": cold_rru * 24 * 30 * RRU_PRICE,
        "storage": stored_gb * STORAGE_PRICE_GB_MONTH,
    }
    return {
        "partitions": partitions,
        "groups": groups,
        "ticks": ticks,
        "wru_per_tick": round(wru_tick, 1),
        "rcu_per_tick": round(rru_tick, 1),
        "rcu_cold_load": cold_rru,
        "first_tick_wru": wru[0],
        "rate_series": rate_series,
        "wru_tick_with_rate_write": round(statistics.mean(with_rates), 1) if with_rates else None,
        "wru_tick_without_rate_write": round(statistics.mean(without_rates), 1) if without_rates else None,
        "rate_writes": sum(1 for r in rate_wru if r),
        "max_item_bytes": metered.max_item,
        "state_item_bytes": item_bytes(state_item),
        "writes_per_tick": round(metered.writes / ticks, 1),
        "peak_rss_mib": round(peak, 1),
        "baseline_rss_mib": round(baseline, 1),
        "observe_s": round(statistics.median(observe_s[steady]), 3),
        "save_s": round(statistics.median(save_s[steady]), 3),
        "load_s": round(statistics.median(load_s[steady]), 4),
        "cold_load_s": round(cold_load_s, 3),
        "end_offset_columns": len(state.end_offsets.columns) if hasattr(state.end_offsets, "columns") else None,
        "month_usd": {k: round(v, 2) for k, v in month.items()} | {"total": round(sum(month.values()), 2)},
        "prices": "on-demand, us-east-1: $0.625/M WRU, $0.125/M RRU, $0.25/GB-month",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--partitions", type=int, required=True)
    parser.add_argument("--groups", type=int, required=True)
    parser.add_argument("--ticks", type=int, default=60, help="one a minute; 49 fill the 48-sample window")
    parser.add_argument("--rate-series", type=int, default=0, help="full rate series in the state")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.partitions % PARTITIONS_PER_TOPIC or args.partitions < PARTITIONS_PER_TOPIC * args.groups:
        parser.error(f"partitions: a multiple of {PARTITIONS_PER_TOPIC}, at least {PARTITIONS_PER_TOPIC} per group")
    if args.ticks < 2:
        parser.error("ticks: at least 2")
    result = measure(args.partitions, args.groups, args.ticks, args.rate_series)
    if args.json:
        print(json.dumps(result, sort_keys=True))
        return 0
    width = max(map(len, result))
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
