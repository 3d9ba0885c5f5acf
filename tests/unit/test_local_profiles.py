"""Load profiles of the demo's producer: rates, their integral, and where the ramp starts."""

from __future__ import annotations

import itertools

import pytest
from kafka_autoscaler.local.profiles import (
    PROFILES,
    Phase,
    Profile,
    UnknownProfileError,
    get_profile,
    messages_due,
    phase_name_at,
    ramp_start_s,
    rate_at,
)

DEFAULT = PROFILES["default"]


@pytest.mark.parametrize(
    ("t", "expected", "why"),
    [
        (0.0, 20.0, "quiet at the base rate"),
        (30.0, 20.0, "still quiet at the end of the first 15%"),
        (54.0, 110.0, "half-way up the ramp (36 s to 72 s): 1x + 9x / 2 = 5.5x"),
        (72.0, 200.0, "top of the ramp: 10x"),
        (150.0, 200.0, "plateau"),
        (174.0, 110.0, "half-way down the drop (168 s to 180 s)"),
        (230.0, 20.0, "quiet again"),
        (-1.0, 0.0, "nothing before the start"),
        (241.0, 0.0, "nothing after the end"),
    ],
)
def test_default_rate_over_a_240s_run(t: float, expected: float, why: str) -> None:
    assert rate_at(DEFAULT, t, 240.0, base_rate=20.0) == pytest.approx(expected), why


def test_every_profile_covers_the_whole_run() -> None:
    for profile in PROFILES.values():
        assert sum(p.share for p in profile.phases) == pytest.approx(1.0), profile.name


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_messages_due_is_the_integral_of_the_rate(name: str) -> None:
    profile, duration, base = PROFILES[name], 90.0, 20.0
    steps = 9000
    dt = duration / steps
    riemann = sum(rate_at(profile, (i + 0.5) * dt, duration, base) * dt for i in range(steps))
    assert messages_due(profile, duration, duration, base) == pytest.approx(riemann, rel=1e-3)
    assert messages_due(profile, 45.0, duration, base) == pytest.approx(
        sum(rate_at(profile, (i + 0.5) * dt, duration, base) * dt for i in range(steps // 2)), rel=1e-3
    )


def test_messages_due_never_decreases_and_stops_at_the_end() -> None:
    due = [messages_due(DEFAULT, t / 2, 240.0, 20.0) for t in range(0, 600)]
    assert all(b >= a for a, b in itertools.pairwise(due))
    assert messages_due(DEFAULT, 1000.0, 240.0, 20.0) == messages_due(DEFAULT, 240.0, 240.0, 20.0)
    assert messages_due(DEFAULT, -5.0, 240.0, 20.0) == 0.0


def test_default_run_sends_the_expected_total() -> None:
    # quiet 36 s at 1x + ramp 36 s averaging 5.5x + plateau 96 s at 10x + drop 12 s at 5.5x + quiet 60 s at 1x
    expected = 20 * (36 * 1 + 36 * 5.5 + 96 * 10 + 12 * 5.5 + 60 * 1)
    assert messages_due(DEFAULT, 240.0, 240.0, 20.0) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("name", "duration", "expected"),
    [("default", 240.0, 36.0), ("default", 100.0, 15.0), ("spike", 90.0, 13.5), ("steady", 60.0, None)],
)
def test_ramp_start_scales_with_the_duration(name: str, duration: float, expected: float | None) -> None:
    start = ramp_start_s(PROFILES[name], duration)
    assert start == (None if expected is None else pytest.approx(expected))


def test_phase_names_follow_the_profile() -> None:
    assert [phase_name_at(DEFAULT, t, 240.0) for t in (10, 50, 100, 175, 200, 250)] == [
        "quiet",
        "ramp",
        "plateau",
        "drop",
        "quiet",
        "done",
    ]


def test_unknown_profile_names_the_known_ones() -> None:
    with pytest.raises(UnknownProfileError, match="default, spike, steady"):
        get_profile("sawtooth")


@pytest.mark.parametrize(
    ("phases", "message"),
    [
        ((Phase("a", 0.5, 1, 1),), "add up to"),
        ((Phase("a", 0.0, 1, 1), Phase("b", 1.0, 1, 1)), "positive"),
        ((Phase("a", 1.0, -1, 1),), "not negative"),
        ((), "no phases"),
    ],
)
def test_bad_profiles_are_refused(phases: tuple[Phase, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Profile("bad", "bad", phases)


def test_non_positive_duration_is_refused() -> None:
    with pytest.raises(ValueError, match="duration must be positive"):
        rate_at(DEFAULT, 1.0, 0.0, 20.0)
