"""What every policy under comparison implements: a starting count and a look at each second."""

from __future__ import annotations

from abc import ABC, abstractmethod

from kafka_autoscaler.sim.model import World


def next_multiple(now: int, period_s: int, offset_s: int = 0) -> int:
    """The first second after `now` that is `offset_s` past a multiple of `period_s`."""
    return now + 1 + (offset_s - now - 1) % period_s


class Controller(ABC):
    """Decides the ECS desired count; sees only what its real counterpart could see."""

    def __init__(self, world: World) -> None:
        self.world = world

    def initial_tasks(self) -> int:
        """Tasks running when the run starts: enough for the first second's rate."""
        settings = self.world.settings
        needed = self.world.tasks_needed(self.world.trace.rate_at(0))
        return min(max(needed, settings.min_tasks), settings.task_ceiling)

    @abstractmethod
    def on_second(self, now: int) -> None:
        """Called after the world stepped to `now`; may call world.set_desired()."""

    def next_wakeup(self, now: int) -> int:
        """The next second after `now` at which on_second reads or changes the world.

        on_second does nothing at the seconds in between, so the runner may advance the
        world to this second in one go. The default is every second.
        """
        return now + 1
