"""Load profiles for the demo's producer, as data: phases of a run scaled to its duration.

A profile is a list of phases; each lasts a share of the run and moves the rate
linearly from one multiple of the base rate to another. The producer sends, at
every moment, as many messages as the integral of the rate says are due, so its
pace does not drift with sleep jitter.

>>> rate_at(PROFILES["default"], 0.0, 240.0, base_rate=20.0)
20.0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class UnknownProfileError(ValueError):
    """A profile name that is not in PROFILES."""


@dataclass(frozen=True)
class Phase:
    """A share of the run during which the rate moves linearly from `start` to `end` (multiples of the base)."""

    name: str
    share: float
    start: float
    end: float


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    phases: tuple[Phase, ...]

    def __post_init__(self) -> None:
        if not self.phases:
            raise ValueError(f"profile {self.name} has no phases")
        if any(p.share <= 0 or p.start < 0 or p.end < 0 for p in self.phases):
            raise ValueError(f"profile {self.name}: shares must be positive and multiples not negative")
        if abs(sum(p.share for p in self.phases) - 1.0) > 1e-9:
            raise ValueError(f"profile {self.name}: phase shares add up to {sum(p.share for p in self.phases)}, not 1")


PROFILES: dict[str, Profile] = {
    profile.name: profile
    for profile in (
        Profile(
            "default",
            "quiet, a ramp to 10x, a plateau, a drop back to quiet",
            (
                Phase("quiet", 0.15, 1.0, 1.0),
                Phase("ramp", 0.15, 1.0, 10.0),
                Phase("plateau", 0.40, 10.0, 10.0),
                Phase("drop", 0.05, 10.0, 1.0),
                Phase("quiet", 0.25, 1.0, 1.0),
            ),
        ),
        Profile(
            "spike",
            "quiet, a jump to 10x within seconds, a hold, a drop back to quiet",
            (
                Phase("quiet", 0.15, 1.0, 1.0),
                Phase("ramp", 0.03, 1.0, 10.0),
                Phase("plateau", 0.47, 10.0, 10.0),
                Phase("drop", 0.03, 10.0, 1.0),
                Phase("quiet", 0.32, 1.0, 1.0),
            ),
        ),
        Profile("steady", "a constant 4x load: the pool should settle and stay", (Phase("steady", 1.0, 4.0, 4.0),)),
    )
}


def get_profile(name: str) -> Profile:
    """The profile called `name`; UnknownProfileError lists the known ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise UnknownProfileError(f"unknown profile '{name}'; choose one of {', '.join(sorted(PROFILES))}") from None


def _bounds(phases: Sequence[Phase], duration_s: float) -> list[tuple[float, float, Phase]]:
    """(start second, end second, phase) for every phase of a run of `duration_s`."""
    bounds, t = [], 0.0
    for phase in phases:
        bounds.append((t, t + phase.share * duration_s, phase))
        t += phase.share * duration_s
    return bounds


def _check_duration(duration_s: float) -> None:
    if duration_s <= 0:
        raise ValueError(f"duration must be positive, got {duration_s}")


def rate_at(profile: Profile, t: float, duration_s: float, base_rate: float) -> float:
    """Messages per second at `t` seconds into the run; 0 before the start and after the end."""
    _check_duration(duration_s)
    if t < 0 or t > duration_s:
        return 0.0
    for start, end, phase in _bounds(profile.phases, duration_s):
        if t <= end:
            fraction = (t - start) / (end - start)
            return base_rate * (phase.start + fraction * (phase.end - phase.start))
    return base_rate * profile.phases[-1].end


def messages_due(profile: Profile, t: float, duration_s: float, base_rate: float) -> float:
    """Messages that should have been sent by `t` seconds: the integral of the rate from 0 to t."""
    _check_duration(duration_s)
    t = min(max(t, 0.0), duration_s)
    total = 0.0
    for start, end, phase in _bounds(profile.phases, duration_s):
        if t <= start:
            break
        upto = min(t, end)
        rate_upto = base_rate * (phase.start + (upto - start) / (end - start) * (phase.end - phase.start))
        total += (upto - start) * (base_rate * phase.start + rate_upto) / 2.0  # trapezoid: exact for a line
    return total


def ramp_start_s(profile: Profile, duration_s: float) -> float | None:
    """When the first phase that raises the rate begins, in seconds into the run; None if none does."""
    _check_duration(duration_s)
    return next((start for start, _, phase in _bounds(profile.phases, duration_s) if phase.end > phase.start), None)


def phase_name_at(profile: Profile, t: float, duration_s: float) -> str:
    """The name of the phase in force at `t` seconds ("done" after the end)."""
    _check_duration(duration_s)
    for _, end, phase in _bounds(profile.phases, duration_s):
        if t <= end:
            return phase.name
    return "done"
