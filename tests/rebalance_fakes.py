"""An in-memory Kafka for rebalancer tests: replicas, racks, reassignments that take polls, configs.

It answers the KafkaAdminClient calls the rebalancer makes, with the same shapes
kafka-python 3 returns, and records every change in `log` in order.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from kafka.admin import ConfigResourceType
from kafka.errors import UnknownTopicOrPartitionError
from kafka.structs import TopicPartition

PartitionId = tuple[str, int]


@dataclass
class Moving:
    target: tuple[int, ...]
    adding: tuple[int, ...]
    removing: tuple[int, ...]
    polls_left: int


class FakeKafkaAdmin:
    """Each reassignment that copies data ends after `polls_per_move` ListPartitionReassignments calls."""

    def __init__(
        self,
        assignment: Mapping[PartitionId, tuple[int, ...]],
        racks: Mapping[int, str | None],
        *,
        fenced: tuple[int, ...] = (),
        polls_per_move: int = 1,
    ) -> None:
        self.assignment = dict(assignment)
        self.leaders = {pid: replicas[0] for pid, replicas in assignment.items()}
        self.racks = dict(racks)
        self.fenced = fenced
        self.polls_per_move = polls_per_move
        self.moving: dict[PartitionId, Moving] = {}
        self.configs: dict[tuple[str, str], dict[str, str]] = {}
        self.log: list[tuple[str, Any]] = []
        self.most_moving = 0
        self.refused_topics: set[str] = set()
        self.overlapping: list[PartitionId] = []  # reassigned while still moving (Kafka would replace the move)
        self.proceed = threading.Event()  # moves advance only while set
        self.proceed.set()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ reads
    def describe_cluster(self) -> dict[str, Any]:
        brokers = [{"broker_id": b, "rack": r, "is_fenced": b in self.fenced} for b, r in self.racks.items()]
        return {"brokers": brokers, "controller_id": min(self.racks)}

    def describe_topics(self, topics: list[str] | None = None) -> list[dict[str, Any]]:
        with self._lock:
            by_topic: dict[str, list[dict[str, Any]]] = {}
            for (topic, partition), replicas in sorted(self.assignment.items()):
                if topics is None or topic in topics:
                    moving = self.moving.get((topic, partition))
                    listed = (*moving.target, *moving.removing) if moving else replicas
                    by_topic.setdefault(topic, []).append(
                        {
                            "partition_index": partition,
                            "replica_nodes": list(listed),
                            "leader_id": self.leaders[(topic, partition)],
                            "isr_nodes": [b for b in listed if b not in self.fenced],
                        }
                    )
            return [{"name": t, "error_code": 0, "partitions": parts} for t, parts in by_topic.items()]

    def list_partition_reassignments(self, topic_partitions: Any = None, timeout_ms: int | None = None) -> Any:
        with self._lock:
            if self.proceed.is_set():
                for pid, moving in list(self.moving.items()):
                    moving.polls_left -= 1
                    if moving.polls_left <= 0:
                        self._settle(pid, moving.target)
                        del self.moving[pid]
            return {
                TopicPartition(*pid): {
                    "replicas": [*m.target, *m.removing],
                    "adding_replicas": list(m.adding),
                    "removing_replicas": list(m.removing),
                }
                for pid, m in self.moving.items()
            }

    def describe_configs(self, config_resources: list[Any], **_: Any) -> dict[str, dict[str, dict[str, Any]]]:
        found: dict[str, dict[str, dict[str, Any]]] = {}
        for resource in config_resources:
            kind = _kind(resource)
            values = self.configs.get((kind, resource.name), {})
            wanted = resource.configs or list(values)
            found.setdefault(kind, {})[resource.name] = {k: {"value": values[k]} for k in wanted if k in values}
        return found

    # ------------------------------------------------------------------ changes
    def alter_partition_reassignments(self, reassignments: Mapping[TopicPartition, list[int]], **_: Any) -> Any:
        with self._lock:
            results: dict[TopicPartition, Any] = {}
            started = []
            for tp, replicas in reassignments.items():
                pid = (tp.topic, tp.partition)
                if tp.topic in self.refused_topics or pid not in self.assignment:
                    results[tp] = UnknownTopicOrPartitionError
                    continue
                if pid in self.moving:
                    self.overlapping.append(pid)
                current = self.assignment[pid]
                adding = tuple(b for b in replicas if b not in current)
                removing = tuple(b for b in current if b not in replicas)
                if adding:
                    self.moving[pid] = Moving(tuple(replicas), adding, removing, self.polls_per_move)
                else:  # a reorder copies nothing: Kafka applies it at once
                    self._settle(pid, tuple(replicas))
                results[tp] = None
                started.append(pid)
            self.log.append(("reassign", started))
            self.most_moving = max(self.most_moving, len(self.moving))
            return results

    def alter_configs(self, config_resources: list[Any], **_: Any) -> dict[str, dict[str, str]]:
        results: dict[str, dict[str, str]] = {}
        for resource in config_resources:
            kind = _kind(resource)
            values = self.configs.setdefault((kind, resource.name), {})
            changes: dict[str, str | None] = {}
            for key, value in resource.configs.items():
                if isinstance(value, tuple):  # (AlterConfigOp.DELETE, None)
                    values.pop(key, None)
                    changes[key] = None
                else:
                    values[key] = str(value)
                    changes[key] = str(value)
            self.log.append(("config", (kind, resource.name, changes)))
            results.setdefault(kind, {})[resource.name] = "OK"
        return results

    def elect_leaders(self, election_type: int, topic_partitions: Any = None, **_: Any) -> Any:
        """Preferred leader election: error 84 (ELECTION_NOT_NEEDED) where the preferred replica leads."""
        self.log.append(("elect", {t: sorted(ps) for t, ps in topic_partitions.items()}))
        results = []
        for topic, partitions in topic_partitions.items():
            rows = []
            for p in partitions:
                preferred = self.assignment[(topic, p)][0]
                needed = self.leaders[(topic, p)] != preferred
                self.leaders[(topic, p)] = preferred
                rows.append(SimpleNamespace(partition_id=p, error_code=0 if needed else 84, error_message=None))
            results.append(SimpleNamespace(topic=topic, partition_result=rows))
        return SimpleNamespace(replica_election_results=results)

    def _settle(self, pid: PartitionId, replicas: tuple[int, ...]) -> None:
        """A reassignment ends: the leader stays unless it was removed (then the first new replica leads)."""
        self.assignment[pid] = replicas
        if self.leaders[pid] not in replicas:
            self.leaders[pid] = replicas[0]

    def crash(self, broker: int) -> None:
        """A broker dies: it is fenced and each partition it led is led by its next live replica."""
        self.fenced = (*self.fenced, broker)
        for pid, replicas in self.assignment.items():
            if self.leaders[pid] == broker:
                self.leaders[pid] = next((b for b in replicas if b not in self.fenced), -1)

    def recover(self, broker: int) -> None:
        """The broker is back (unfenced), leading nothing, as after a restart."""
        self.fenced = tuple(b for b in self.fenced if b != broker)

    # ------------------------------------------------------------------ for assertions
    def set_configs(self) -> dict[tuple[str, str], dict[str, str]]:
        """Every resource that still has a config value set."""
        return {resource: values for resource, values in self.configs.items() if values}

    def start_move(self, pid: PartitionId, target: tuple[int, ...], polls: int) -> None:
        """A reassignment left running by an earlier (crashed) run."""
        current = self.assignment[pid]
        adding = tuple(b for b in target if b not in current)
        removing = tuple(b for b in current if b not in target)
        self.moving[pid] = Moving(target, adding, removing, polls)


def _kind(resource: Any) -> str:
    return "broker" if resource.resource_type is ConfigResourceType.BROKER else "topic"
