"""Consumer lag from MSK's CloudWatch metrics, and a lag source that falls back to it.

MSK publishes SumOffsetLag, MaxOffsetLag and EstimatedMaxTimeLag per consumer group and
topic (dimensions "Cluster Name", "Consumer Group", "Topic") only while a group is STABLE
or EMPTY: during a rebalance they vanish. A group whose SumOffsetLag is missing is left out
of the result (missing data), never read as zero lag; a missing MaxOffsetLag or
EstimatedMaxTimeLag only leaves that figure unknown. IAM: cloudwatch:GetMetricData, and
cloudwatch:ListMetrics when a binding lists no topics.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from botocore.exceptions import BotoCoreError, ClientError

from kafka_autoscaler.config import ConsumerBinding
from kafka_autoscaler.model import GroupLag, Sample, ScalerState
from kafka_autoscaler.observe.cloudwatch import NAMESPACE, fetch_series, metric_query, window_start
from kafka_autoscaler.observe.msk import aws_error_text
from kafka_autoscaler.ports import LagObservation, LagSource, ObserveError

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch.client import CloudWatchClient

logger = logging.getLogger(__name__)

SUM_OFFSET_LAG = "SumOffsetLag"
MAX_OFFSET_LAG = "MaxOffsetLag"
MAX_TIME_LAG = "EstimatedMaxTimeLag"
# How far back a datapoint still counts as the group's current lag: a few publish periods.
DEFAULT_FRESHNESS_S = 300.0
# Only topics that published lag this recently are discovered (ListMetrics allows PT3H only).
RECENTLY_ACTIVE: Final = "PT3H"


def latest(series: Sequence[Sample]) -> float | None:
    return series[-1].value if series else None


class MskLagMetrics:
    """LagSource from MSK's CloudWatch consumer-lag metrics: aggregates only, no partitions."""

    def __init__(
        self, cloudwatch_client: CloudWatchClient, cluster_name: str, freshness_s: float = DEFAULT_FRESHNESS_S
    ) -> None:
        self._client = cloudwatch_client
        self._cluster_name = cluster_name
        self._freshness_s = freshness_s

    def read(self, bindings: Sequence[ConsumerBinding], state: ScalerState, now: float) -> LagObservation:
        """Lag of every bound group whose metrics are all fresh; the others become problems."""
        topics = self._topics_by_group(bindings)
        pairs = [(group, topic) for group in topics for topic in topics[group]]
        queries = [
            metric_query(f"{prefix}_{index}", metric, self._dimensions(group, topic), "Maximum")
            for index, (group, topic) in enumerate(pairs)
            for prefix, metric in (("lag", SUM_OFFSET_LAG), ("max", MAX_OFFSET_LAG), ("time", MAX_TIME_LAG))
        ]
        series = fetch_series(self._client, queries, window_start(now, self._freshness_s), now) if queries else {}
        index_of = {pair: index for index, pair in enumerate(pairs)}

        groups: dict[str, GroupLag] = {}
        problems: list[str] = []
        for group, group_topics in topics.items():
            if not group_topics:
                problems.append(f"group {group}: MSK publishes no consumer-lag metrics for it in CloudWatch")
                continue
            lags = {t: latest(series.get(f"lag_{index_of[(group, t)]}", ())) for t in group_topics}
            stale = sorted(t for t, lag in lags.items() if lag is None)
            if stale:
                # Why: a topic without lag would understate the total and could scale the group in.
                problems.append(
                    f"group {group}: no SumOffsetLag in the last {self._freshness_s:.0f}s for topic(s) "
                    f"{', '.join(stale)} (MSK drops consumer-lag metrics while a group rebalances)"
                )
                continue
            times = [latest(series.get(f"time_{index_of[(group, t)]}", ())) for t in group_topics]
            largest = [latest(series.get(f"max_{index_of[(group, t)]}", ())) for t in group_topics]
            groups[group] = GroupLag(
                group_id=group,
                source="cloudwatch",
                total_lag=sum(round(lag) for lag in lags.values() if lag is not None),
                max_time_lag_s=None if None in times else max(t for t in times if t is not None),
                produce_rate=None,
                consume_rate=None,
                partition_count=0,  # unknown from CloudWatch; 0 leaves the task count uncapped
                max_offset_lag=None if None in largest else max(round(m) for m in largest if m is not None),
            )
        return LagObservation(groups=groups, problems=tuple(problems))

    def _dimensions(self, group: str, topic: str) -> dict[str, str]:
        return {"Cluster Name": self._cluster_name, "Consumer Group": group, "Topic": topic}

    def _topics_by_group(self, bindings: Sequence[ConsumerBinding]) -> dict[str, tuple[str, ...]]:
        """The configured topics of each group; discovered from ListMetrics where none are configured."""
        wanted = {b.group_id for b in bindings if not b.topics}
        discovered = self._discover_topics(wanted) if wanted else {}
        return {b.group_id: tuple(dict.fromkeys(b.topics)) or discovered.get(b.group_id, ()) for b in bindings}

    def _discover_topics(self, groups: set[str]) -> dict[str, tuple[str, ...]]:
        found: dict[str, set[str]] = {}
        try:
            pages = self._client.get_paginator("list_metrics").paginate(
                Namespace=NAMESPACE,
                MetricName=SUM_OFFSET_LAG,
                Dimensions=[{"Name": "Cluster Name", "Value": self._cluster_name}],
                RecentlyActive=RECENTLY_ACTIVE,
            )
            for page in pages:
                for metric in page.get("Metrics", []):
                    dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
                    group, topic = dims.get("Consumer Group"), dims.get("Topic")
                    if group in groups and topic:
                        found.setdefault(group, set()).add(topic)
        except (BotoCoreError, ClientError) as error:
            raise ObserveError(f"CloudWatch ListMetrics failed: {aws_error_text(error)}") from error
        return {group: tuple(sorted(topics)) for group, topics in found.items()}


class FallbackLagSource:
    """Read lag from `primary` (Kafka); fill in from `secondary` only the groups it could not read."""

    def __init__(self, primary: LagSource, secondary: LagSource) -> None:
        self._primary = primary
        self._secondary = secondary

    def read(self, bindings: Sequence[ConsumerBinding], state: ScalerState, now: float) -> LagObservation:
        try:
            first = self._primary.read(bindings, state, now)
        except Exception as error:  # an unreachable primary is what the fallback is for
            logger.warning("primary lag source failed", exc_info=True)
            first = LagObservation(groups={}, problems=(f"primary lag source failed: {error}",))
        missing = [b for b in bindings if b.group_id not in first.groups]
        if not missing:
            return first
        try:
            second = self._secondary.read(missing, state, now)
        except Exception as error:
            logger.warning("fallback lag source failed", exc_info=True)
            return LagObservation(
                groups=first.groups,
                end_offsets=first.end_offsets,
                commits=first.commits,
                problems=(*first.problems, f"fallback lag source failed: {error}"),
                missing=first.missing,
            )
        filled = {b.group_id: second.groups[b.group_id] for b in missing if b.group_id in second.groups}
        return LagObservation(
            groups={**first.groups, **filled},
            end_offsets={**second.end_offsets, **first.end_offsets},
            commits={**second.commits, **first.commits},
            problems=(*first.problems, *second.problems),
            missing={g: why for g, why in first.missing.items() if g not in filled},
        )
