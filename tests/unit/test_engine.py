"""tick(): observe -> decide -> act -> record, through in-memory ports."""

from __future__ import annotations

import itertools
import json

from builders import binding, config, group, service
from fakes import FakeWorld, ports_for
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka_autoscaler.engine import tick
from kafka_autoscaler.model import Action, OutcomeStatus
from kafka_autoscaler.state.memory import MemoryStateStore

NOW = 1_700_000_000.0


def world(desired: int = 4, lag: int = 1200) -> FakeWorld:
    return FakeWorld(
        cluster=None,
        groups={"orders-processor": group(produce=40.0, lag=lag)},
        services={"orders-processor": service(desired)},
    )


def consumer_only(**overrides: object) -> object:
    return config(brokers={"enabled": False}, storage={"mode": "off"}, **overrides)


def test_scale_out_is_applied_notified_and_recorded() -> None:
    w, store = world(), MemoryStateStore()
    result = tick(consumer_only(), ports_for(w, store), NOW, "test")
    assert result.ran
    assert w.set_calls == [("orders-processor", 12)]
    assert len(w.messages) == 1
    message = w.messages[0]
    assert "consumer:orders-processor 4->12" in message.subject
    assert "scale out 4 -> 12" in message.text
    assert json.loads(message.as_json())["decisions"][0]["status"] == "applied"
    assert store.state.last_action_t["consumer:orders-processor"] == NOW
    # The window remembers what the produce rate alone needs (480 msg/s at 100 per task, with 10 %
    # headroom: 6), not the tasks bought to drain the backlog.
    assert store.state.recommendations["consumer:orders-processor"] == ((NOW, 6),)
    assert store.state.version == 2  # the intent saved before acting, then the record
    assert [(t, o.status) for t, o in store.log] == [(NOW, OutcomeStatus.APPLIED)]


def test_dry_run_and_paused_notify_and_record_but_change_nothing() -> None:
    for flag, status in (("dry_run", OutcomeStatus.SKIPPED_DRY_RUN), ("paused", OutcomeStatus.SKIPPED_PAUSED)):
        w, store = world(), MemoryStateStore()
        result = tick(consumer_only(**{flag: True}), ports_for(w, store), NOW, "test")
        assert w.set_calls == []
        assert [o.status for o in result.outcomes] == [status]
        assert len(w.messages) == 1 and status.value.split("_")[-1] in w.messages[0].text.replace("-", "_")
        assert "consumer:orders-processor" not in store.state.last_action_t
        assert store.state.version == 1


def test_one_failed_action_does_not_stop_the_others() -> None:
    second = binding(group_id="billing", ecs={"cluster": "orders", "service": "billing"})
    cfg = consumer_only(consumers=[binding().model_dump(mode="json"), second.model_dump(mode="json")])
    w = world()
    w.groups["billing"] = group(produce=40.0, lag=1200)
    w.services["billing"] = service(4)
    w.failing_services.add("orders-processor")
    result = tick(cfg, ports_for(w), NOW, "test")
    statuses = {o.decision.key: o.status for o in result.outcomes}
    assert statuses == {"consumer:orders-processor": OutcomeStatus.FAILED, "consumer:billing": OutcomeStatus.APPLIED}
    assert w.set_calls == [("billing", 12)]
    failed = next(o for o in result.outcomes if o.status is OutcomeStatus.FAILED)
    assert "ThrottlingException" in failed.detail
    assert "1 action(s) failed" in w.messages[0].subject


def test_a_held_lease_skips_the_tick() -> None:
    w, store = world(), MemoryStateStore()
    assert store.acquire_lease("other", NOW, 300)
    result = tick(consumer_only(), ports_for(w, store), NOW + 10, "test")
    assert not result.ran and w.set_calls == [] and store.state.version == 0
    assert tick(consumer_only(), ports_for(w, store), NOW + 400, "test").ran, "an expired lease is taken over"


def test_unreadable_cluster_is_a_problem_not_a_crash() -> None:
    w = world()
    result = tick(config(), ports_for(w), NOW, "test")
    assert result.snapshot is not None
    assert any("DescribeClusterV2" in p for p in result.snapshot.problems)
    brokers = next(d for d in result.plan.decisions if d.key == "brokers")  # type: ignore[union-attr]
    assert brokers.action is Action.HOLD


def test_notable_holds_are_told_once() -> None:
    w, store = world(), MemoryStateStore()
    del w.groups["orders-processor"]  # lag unreadable: a MissingData hold
    ports = ports_for(w, store)
    tick(consumer_only(), ports, NOW, "test")
    tick(consumer_only(), ports, NOW + 60, "test")
    assert len(w.messages) == 1 and "lag could not be read" in w.messages[0].text


def test_a_missing_group_is_told_with_its_likely_cause() -> None:
    w, store = world(), MemoryStateStore()
    del w.groups["orders-processor"]
    cause = "group 'orders-processor' has no members and no committed offsets: check group_id"
    w.missing["orders-processor"] = cause
    result = tick(consumer_only(), ports_for(w, store), NOW, "test")
    decision = next(d for d in result.plan.decisions if d.key == "consumer:orders-processor")  # type: ignore[union-attr]
    assert decision.reason.value == "MissingData" and decision.desired == decision.current
    assert cause in decision.message and cause in w.messages[0].text


@settings(max_examples=25, deadline=None)
@given(rate=st.floats(1.0, 80.0), noise=st.lists(st.floats(-0.05, 0.05), min_size=90, max_size=90))
def test_no_flapping_on_a_constant_load(rate: float, noise: list[float]) -> None:
    """Under a constant produce rate with 5% noise the count changes at most twice and never oscillates."""
    w = world(desired=1, lag=0)
    ports = ports_for(w, MemoryStateStore())
    cfg = consumer_only()
    counts = []
    for i, jitter in enumerate(noise):
        w.groups["orders-processor"] = group(produce=rate * (1 + jitter))
        tick(cfg, ports, NOW + 60 * i, "test")
        counts.append(w.services["orders-processor"].desired)
    steps = [b - a for a, b in itertools.pairwise(counts) if b != a]
    reversals = sum(1 for a, b in itertools.pairwise(steps) if (a > 0) != (b > 0))
    assert len(steps) <= 2 and reversals <= 1, counts
