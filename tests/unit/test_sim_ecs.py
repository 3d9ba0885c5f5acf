"""ECS model: start-up delays, what a scale-in stops, what is billed."""

from __future__ import annotations

import random

from kafka_autoscaler.sim.ecs import EcsService


def test_new_tasks_start_within_the_delay_range() -> None:
    ecs = EcsService((30, 90), random.Random(3))
    ecs.start_running(1)
    ecs.set_desired(5, now=0)
    assert ecs.counts.pending == 4 and ecs.billed == 5
    assert ecs.advance(29) == []
    started = [len(ecs.advance(t)) for t in range(30, 91)]
    assert sum(started) == 4
    assert ecs.counts.running == 5 and ecs.counts.pending == 0


def test_scale_in_stops_pending_tasks_before_running_ones() -> None:
    ecs = EcsService((30, 90), random.Random(3))
    running = ecs.start_running(3)
    ecs.set_desired(5, now=0)
    assert ecs.set_desired(3, now=1) == []  # the two pending tasks go first
    assert ecs.set_desired(2, now=2) == [running[-1]]  # then the newest running one
    assert ecs.billed == 2
    assert ecs.changes == 3
