"""The MSK broker instance types: what each can carry, one table for every rule that needs it.

Standard brokers (kafka.*): partitions per broker from the MSK developer guide's
"Best practices for Standard brokers", section "Right-size your cluster: Number of partitions
per Standard broker" (https://docs.aws.amazon.com/msk/latest/developerguide/bestpractices.html):
the recommended count (leaders and followers) and the most that still supports update
operations. vCPUs are the EC2 sizes the broker types are named after.

Express brokers (express.*): the recommended sustained ingress per broker and partitions per
broker from the MSK developer guide's "Best practices for Express brokers", sections "Right-size
your cluster: Number of brokers per Express-based cluster" and "Number of partitions per Express
broker" (https://docs.aws.amazon.com/msk/latest/developerguide/bestpractices-express.html).
Above the recommended throughput performance may degrade, and at the per-broker quota MSK
throttles clients, so the scaler sizes for the recommended figure.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BrokerInstance:
    name: str  # e.g. "kafka.m7g.large"
    family: str  # e.g. "kafka.m7g": sizes of one family can be swapped by UpdateBrokerType
    size_rank: int  # order of sizes within the family, smallest first
    vcpus: int
    recommended_partitions: int  # leaders and followers per broker
    max_partitions_for_updates: int  # above this MSK refuses update operations
    express: bool = False  # Express brokers: storage managed by MSK, no EBS
    ingress_bytes_per_s: float | None = None  # recommended sustained bytes in per broker, where documented

    @property
    def standard(self) -> bool:
        return not self.express


def _standard(family: str, sizes: tuple[tuple[str, int, int, int], ...]) -> dict[str, BrokerInstance]:
    return {
        f"{family}.{size}": BrokerInstance(f"{family}.{size}", family, rank, vcpus, recommended, most)
        for rank, (size, vcpus, recommended, most) in enumerate(sizes)
    }


INSTANCES: dict[str, BrokerInstance] = {
    **_standard("kafka.t3", (("small", 2, 300, 300),)),
    **_standard(
        "kafka.m5",
        (
            ("large", 2, 1000, 1500),
            ("xlarge", 4, 1000, 1500),
            ("2xlarge", 8, 2000, 3000),
            ("4xlarge", 16, 4000, 6000),
            ("8xlarge", 32, 4000, 6000),
            ("12xlarge", 48, 4000, 6000),
            ("16xlarge", 64, 4000, 6000),
            ("24xlarge", 96, 4000, 6000),
        ),
    ),
    **_standard(
        "kafka.m7g",
        (
            ("large", 2, 1000, 1500),
            ("xlarge", 4, 1000, 1500),
            ("2xlarge", 8, 2000, 3000),
            ("4xlarge", 16, 4000, 6000),
            ("8xlarge", 32, 4000, 6000),
            ("12xlarge", 48, 4000, 6000),
            ("16xlarge", 64, 4000, 6000),
        ),
    ),
}

MBPS = 1_000_000  # MSK writes MBps; read as 10^6 bytes, the lower of the two readings


def _express(sizes: tuple[tuple[str, int, float, int, int], ...]) -> dict[str, BrokerInstance]:
    family = "express.m7g"
    return {
        f"{family}.{size}": BrokerInstance(
            f"{family}.{size}", family, rank, vcpus, recommended, most, express=True, ingress_bytes_per_s=mbps * MBPS
        )
        for rank, (size, vcpus, mbps, recommended, most) in enumerate(sizes)
    }


INSTANCES.update(
    _express(
        (
            ("large", 2, 15.6, 1000, 1500),
            ("xlarge", 4, 31.2, 1000, 1500),
            ("2xlarge", 8, 62.5, 2000, 3000),
            ("4xlarge", 16, 124.9, 4000, 6000),
            ("8xlarge", 32, 250.0, 4000, 6000),
            ("12xlarge", 48, 375.0, 4000, 6000),
            ("16xlarge", 64, 500.0, 4000, 6000),
        )
    )
)

# An instance type not in the table (a new one) is judged by this many partitions per broker.
DEFAULT_PARTITIONS_PER_BROKER = 1000


def instance(name: str) -> BrokerInstance | None:
    """The table's row for an instance type, or None for one it does not know."""
    return INSTANCES.get(name)


def recommended_partitions(name: str) -> int:
    row = INSTANCES.get(name)
    return row.recommended_partitions if row else DEFAULT_PARTITIONS_PER_BROKER
