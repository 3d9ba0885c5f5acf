"""What one simulated run models: the topic, the consumers, ECS, the group, CloudWatch and MSK.

Every policy in a comparison runs on the same settings and seed, so the world
(produce rate, skew, start-up delays, noise) is the same for all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RebalanceProtocol(StrEnum):
    EAGER = "eager"  # every member stops; partitions are reassigned (RangeAssignor)
    COOPERATIVE = "cooperative"  # only moved partitions stop (CooperativeStickyAssignor)


class SettingsError(Exception):
    """A simulation setting is out of range."""


@dataclass(frozen=True)
class SimSettings:
    partitions: int = 64
    task_capacity: float = 1000.0  # msgs/s one task consumes when saturated
    target_time_lag_s: float = 60.0
    seed: int = 1
    # The lag threshold of the threshold policies (KEDA's lagThreshold, target tracking's
    # target per task, our lag-threshold mode). A lag-threshold policy settles where each
    # task holds about `threshold` messages, a time lag of threshold / task_capacity; the
    # default puts that at half the target. `bench` sweeps it (THRESHOLD_GRID).
    lag_threshold: int | None = None  # None: task_capacity * target_time_lag_s / 2
    min_tasks: int = 1
    max_tasks: int | None = None  # None: the partition count
    task_noise: float = 0.1  # standard deviation of a task's per-second throughput, relative
    partition_skew: float = 0.3  # sigma of the log-normal per-partition share of the rate
    start_delay_s: tuple[int, int] = (30, 90)  # ECS: desired -> consuming, uniform
    rebalance: RebalanceProtocol = RebalanceProtocol.EAGER
    rebalance_pause_s: int = 10  # how long a rebalance stops the partitions it touches
    # Consumers commit what they processed every this many seconds (Kafka's
    # auto.commit.interval.ms defaults to 5000), and on every rebalance and close.
    commit_interval_s: int = 5
    metric_delay_s: tuple[int, int] = (60, 120)  # CloudWatch: a minute's datapoint is seen this late
    schedule_s: int = 60  # our Lambda's EventBridge schedule
    # MSK
    message_bytes: int = 1024
    brokers: int = 3
    az_count: int = 3
    replication_factor: int = 3
    broker_bytes_per_s_at_full_cpu: float = 150e6  # leader + follower bytes in per broker at 100% CPU
    volume_gib: int = 1000
    retention_s: int = 24 * 3600
    broker_operation_s: int = 30 * 60  # UpdateBrokerCount: "tens of minutes"
    storage_operation_s: int = 15 * 60
    reassignment_s: int = 10 * 60
    forecast: bool = True  # our policy's forecast floors (simulate --no-forecast turns them off)
    broker_scale_in_window_s: int | None = None  # our policy's broker scale-in: None leaves it off (the default)

    def __post_init__(self) -> None:
        problems: list[str] = []
        if self.partitions < 1:
            problems.append(f"partitions must be at least 1 (got {self.partitions})")
        if self.task_capacity <= 0:
            problems.append(f"task capacity must be positive (got {self.task_capacity:g} msgs/s)")
        if self.target_time_lag_s <= 0:
            problems.append(f"target time lag must be positive (got {self.target_time_lag_s:g} s)")
        if self.min_tasks < 0 or (self.max_tasks is not None and self.max_tasks < max(self.min_tasks, 1)):
            problems.append(f"tasks bounds {self.min_tasks}..{self.max_tasks} are not a range")
        low, high = self.start_delay_s
        if not 0 <= low <= high:
            problems.append(f"start delay {low}..{high} s is not a range")
        if self.task_noise < 0 or self.partition_skew < 0:
            problems.append("task noise and partition skew cannot be negative")
        if self.commit_interval_s < 1:
            problems.append(f"commit interval must be at least 1 s (got {self.commit_interval_s})")
        if self.lag_threshold is not None and self.lag_threshold < 1:
            problems.append(f"lag threshold must be at least 1 message (got {self.lag_threshold})")
        if self.brokers % self.az_count:
            problems.append(f"brokers ({self.brokers}) must be a multiple of az_count ({self.az_count})")
        if problems:
            raise SettingsError("; ".join(problems))

    @property
    def threshold(self) -> int:
        if self.lag_threshold is not None:
            return self.lag_threshold
        return max(1, round(self.task_capacity * self.target_time_lag_s / 2))

    @property
    def task_ceiling(self) -> int:
        return self.max_tasks if self.max_tasks is not None else self.partitions
