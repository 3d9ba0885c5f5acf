"""The rate history `record` keeps: minute buckets, bounded size, missing stays missing, lead times, codec."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
from builders import config, group, service
from kafka_autoscaler.model import (
    Action,
    Decision,
    Outcome,
    OutcomeStatus,
    RateHistory,
    RateSeries,
    Reason,
    ScalerState,
    Target,
    Workflow,
)
from kafka_autoscaler.state.codec import StateCodecError, dumps_state, loads_state
from kafka_autoscaler.state.rate_codec import encode_rate_history
from kafka_autoscaler.state.rate_history import (
    COARSE_KEEP,
    COARSE_STEP_MIN,
    FINE_KEEP_MIN,
    add_sample,
    record_rates,
)

T0 = 1_700_000_040.0  # a whole minute
KEY = "consumer:orders-processor"


def test_samples_in_one_minute_are_averaged() -> None:
    s = add_sample(add_sample(add_sample(None, T0 + 1, 100.0), T0 + 20, 200.0), T0 + 59, 300.0)
    assert (s.start_t, s.values, s.count) == (T0, (200.0,), 3)


def test_a_minute_not_seen_is_missing_not_zero() -> None:
    s = add_sample(add_sample(None, T0, 100.0), T0 + 180, 400.0)
    assert s.values[0] == 100.0 and s.values[3] == 400.0
    assert all(math.isnan(v) for v in s.values[1:3])


def test_older_minutes_are_ignored() -> None:
    s = add_sample(add_sample(None, T0 + 120, 100.0), T0, 999.0)
    assert s.values == (100.0,)


def test_old_minutes_fold_into_15_minute_means() -> None:
    s: RateSeries | None = None
    for minute in range(FINE_KEEP_MIN + 2 * COARSE_STEP_MIN):
        s = add_sample(s, T0 + 60 * minute, float(minute))
    assert s is not None
    assert s.coarse[0] == pytest.approx(sum(range(15)) / 15)
    assert s.coarse_start_t == T0 and s.coarse_start_t + 60 * COARSE_STEP_MIN * len(s.coarse) == s.start_t
    assert s.start_t + 60 * (len(s.values) - 1) == T0 + 60 * (FINE_KEEP_MIN + 2 * COARSE_STEP_MIN - 1)


def test_history_size_is_bounded() -> None:
    """A full history (14 days of minutes, 8 weeks of 15-minute means) stays that size as minutes arrive."""
    full = RateSeries(
        T0, tuple(float(m % 1440) for m in range(FINE_KEEP_MIN)), 1, T0 - 900 * COARSE_KEEP, (1.0,) * COARSE_KEEP
    )
    s = full
    for minute in range(FINE_KEEP_MIN, FINE_KEEP_MIN + 200):
        s = add_sample(s, T0 + 60 * minute, 5.0)
        assert len(s.values) < FINE_KEEP_MIN + COARSE_STEP_MIN and len(s.coarse) <= COARSE_KEEP
    assert len(s.coarse) == COARSE_KEEP and s.coarse[-1] == pytest.approx(sum(range(180, 195)) / 15)
    assert s.coarse_start_t + 60 * COARSE_STEP_MIN * len(s.coarse) == s.start_t
    stored = len(json.dumps(encode_rate_history(RateHistory({KEY: s}))))
    assert stored < 300_000, f"{stored} bytes stored for one series"


def test_record_adds_the_produce_rate_and_skips_an_unknown_one() -> None:
    cfg = config()
    known = record_rates(RateHistory(), cfg, {"orders-processor": group(produce=40.0)}, {}, None, (), (), T0)
    assert known.series[KEY].values == (480.0,)
    unknown = record_rates(known, cfg, {"orders-processor": group(produce=None)}, {}, None, (), (), T0 + 60)
    assert unknown.series[KEY].values == (480.0,)


def _scale_out(now_key: str = KEY) -> Outcome:
    d = Decision(Target.CONSUMERS, now_key, Action.SCALE_OUT, 2, 6, Reason.LAG_ABOVE_TARGET, "scale out")
    return Outcome(d, OutcomeStatus.APPLIED)


def test_task_start_up_delay_is_measured() -> None:
    """Scaled out at T0; at T0 + 60 two of six run, at T0 + 120 all do: a start-up of 120 s."""
    cfg = config()
    groups = {"orders-processor": group()}
    h = record_rates(
        RateHistory(), cfg, groups, {"orders-processor": service(6, running=2)}, None, (), [_scale_out()], T0
    )
    assert h.scaled_out_at[KEY] == T0 and h.starting_since[KEY] == T0
    h = record_rates(h, cfg, groups, {"orders-processor": service(6, running=2)}, None, (), (), T0 + 60)
    assert KEY not in h.lead_times_s
    h = record_rates(h, cfg, groups, {"orders-processor": service(6)}, None, (), (), T0 + 120)
    assert h.lead_times_s[KEY] == 120.0 and KEY not in h.starting_since


def test_broker_operation_duration_is_measured() -> None:
    flow = Workflow("broker_scale_out", T0, 3, 6)
    h = record_rates(RateHistory(), config(), {}, {}, None, [flow], (), T0 + 2100)
    assert h.lead_times_s["brokers"] == 2100.0


def test_codec_round_trip_keeps_the_history() -> None:
    s = add_sample(add_sample(None, T0, 480.5), T0 + 180, 1200.25)
    s = dataclasses.replace(s, coarse=(1.5, math.nan), coarse_start_t=T0 - 1800, periods_min=(25,), periods_t=T0)
    history = RateHistory({KEY: s}, {KEY: 95.0}, {KEY: T0}, {KEY: T0 + 1})
    back = loads_state(dumps_state(ScalerState(rate_history=history))).rate_history
    got = back.series[KEY]
    assert (got.start_t, got.count, got.periods_min, got.periods_t) == (s.start_t, s.count, (25,), T0)
    assert [v for v in got.values if not math.isnan(v)] == [480.5, 1200.25]  # exact in float32
    assert sum(math.isnan(v) for v in got.values) == 2 and math.isnan(got.coarse[1])
    assert (back.lead_times_s, back.scaled_out_at, back.starting_since) == ({KEY: 95.0}, {KEY: T0}, {KEY: T0 + 1})


def test_a_state_without_history_reads_as_empty() -> None:
    doc = json.loads(dumps_state(ScalerState()))
    del doc["rate_history"]
    assert loads_state(json.dumps(doc)).rate_history == RateHistory()


def test_a_corrupt_history_is_a_clear_error() -> None:
    doc = json.loads(dumps_state(ScalerState(rate_history=RateHistory({KEY: add_sample(None, T0, 1.0)}))))
    doc["rate_history"]["series"][KEY]["values"] = "not base64!"
    with pytest.raises(StateCodecError, match="rate history"):
        loads_state(json.dumps(doc))
