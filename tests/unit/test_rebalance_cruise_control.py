"""Cruise Control adapter against a small recording HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from kafka_autoscaler.model import Action, Decision, Reason, Target
from kafka_autoscaler.rebalance.cruise_control import CruiseControlError, CruiseControlRebalancer
from kafka_autoscaler.rebalance.service import RebalanceRequestError

TASK_ID = "5a1b2c3d-0000-4000-8000-000000000001"


@dataclass(frozen=True)
class Seen:
    method: str
    endpoint: str
    query: dict[str, str]


@dataclass
class FakeCruiseControl:
    """Canned answers by endpoint: (HTTP status, JSON body); records every request."""

    answers: dict[str, tuple[int, Any]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

            def _answer(self, method: str) -> None:
                url = urllib.parse.urlsplit(self.path)
                endpoint = url.path.removeprefix("/kafkacruisecontrol/")
                fake.seen.append(Seen(method, endpoint, dict(urllib.parse.parse_qsl(url.query))))
                status, body = fake.answers.get(endpoint, (404, {"errorMessage": f"no endpoint {endpoint}"}))
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("User-Task-ID", TASK_ID)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler


@pytest.fixture
def cruise_control() -> Iterator[tuple[FakeCruiseControl, str]]:
    fake = FakeCruiseControl()
    server = ThreadingHTTPServer(("127.0.0.1", 0), fake.handler())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def decision(target: Target, action: Action, **details: Any) -> Decision:
    return Decision(target, "k", action, 3, 3, Reason.PARTITIONS_UNBALANCED, "test", details)


CLUSTER_WITH_NEW_BROKERS = {
    "KafkaBrokerState": {"ReplicaCountByBrokerId": {"1": 40, "2": 40, "3": 40, "4": 0, "5": 0, "6": 0}}
}
CLUSTER_BALANCED = {"KafkaBrokerState": {"ReplicaCountByBrokerId": {"1": 40, "2": 38, "3": 42}}}


def test_drain_asks_remove_broker_for_those_brokers(cruise_control: tuple[FakeCruiseControl, str]) -> None:
    fake, url = cruise_control
    fake.answers["remove_broker"] = (200, {"summary": {"numReplicaMovements": 12}})
    rebalancer = CruiseControlRebalancer(url, replication_throttle_bytes_per_s=50_000_000)

    detail = rebalancer.start(decision(Target.BROKERS, Action.DRAIN, broker_ids=[6, 4, 5]))

    assert fake.seen == [
        Seen(
            "POST",
            "remove_broker",
            {
                "brokerid": "4,5,6",
                "dryrun": "false",
                "json": "true",
                "replication_throttle": "50000000",
                "reason": "kafka-autoscaler PartitionsUnbalanced",
            },
        )
    ]
    assert detail == f"Cruise Control started remove_broker for brokers [4, 5, 6] (task {TASK_ID})"


def test_rebalance_after_scale_out_asks_add_broker_for_the_empty_brokers(
    cruise_control: tuple[FakeCruiseControl, str],
) -> None:
    fake, url = cruise_control
    fake.answers["kafka_cluster_state"] = (200, CLUSTER_WITH_NEW_BROKERS)
    fake.answers["add_broker"] = (202, {"progress": [{"operation": "Generating proposals"}]})

    detail = CruiseControlRebalancer(url).start(decision(Target.REBALANCE, Action.REBALANCE, exclude_brokers=[]))

    assert [(s.method, s.endpoint) for s in fake.seen] == [("GET", "kafka_cluster_state"), ("POST", "add_broker")]
    assert fake.seen[1].query["brokerid"] == "4,5,6"
    assert fake.seen[1].query["dryrun"] == "false"
    assert detail == (
        f"Cruise Control is computing the add_broker proposal for brokers [4, 5, 6] (task {TASK_ID}); it then executes it"
    )


def test_rebalance_with_no_empty_broker_asks_rebalance(cruise_control: tuple[FakeCruiseControl, str]) -> None:
    fake, url = cruise_control
    fake.answers["kafka_cluster_state"] = (200, CLUSTER_BALANCED)
    fake.answers["rebalance"] = (200, {})

    detail = CruiseControlRebalancer(f"{url}/kafkacruisecontrol/", max_partition_movements=20).start(
        decision(Target.REBALANCE, Action.REBALANCE, exclude_brokers=[])
    )

    assert fake.seen[-1] == Seen(
        "POST",
        "rebalance",
        {
            "dryrun": "false",
            "json": "true",
            "max_partition_movements_in_cluster": "20",
            "reason": "kafka-autoscaler PartitionsUnbalanced",
        },
    )
    assert detail == f"Cruise Control started rebalance (task {TASK_ID})"


def test_rebalance_keeping_brokers_empty_asks_remove_broker(cruise_control: tuple[FakeCruiseControl, str]) -> None:
    fake, url = cruise_control
    fake.answers["remove_broker"] = (200, {})

    CruiseControlRebalancer(url).start(decision(Target.REBALANCE, Action.REBALANCE, exclude_brokers=[3]))

    assert [(s.endpoint, s.query["brokerid"]) for s in fake.seen] == [("remove_broker", "3")]


@pytest.mark.parametrize(
    ("executor", "expected"),
    [
        ({"state": "NO_TASK_IN_PROGRESS"}, 0),
        (
            {
                "state": "INTER_BROKER_REPLICA_MOVEMENT_TASK_IN_PROGRESS",
                "numInProgressPartitionMovements": 5,
                "numPendingPartitionMovements": 30,
            },
            35,
        ),
        (
            {
                "state": "INTER_BROKER_REPLICA_MOVEMENT_TASK_IN_PROGRESS",
                "numInProgressInterBrokerPartitionMovements": 2,
            },
            2,
        ),
        ({"state": "GENERATING_PROPOSALS_FOR_EXECUTION"}, 1),
    ],
)
def test_in_progress_counts_the_executor_movements(
    cruise_control: tuple[FakeCruiseControl, str], executor: dict[str, Any], expected: int
) -> None:
    fake, url = cruise_control
    fake.answers["state"] = (200, {"ExecutorState": executor, "version": 1})

    assert CruiseControlRebalancer(url).in_progress() == expected
    assert fake.seen == [Seen("GET", "state", {"substates": "EXECUTOR", "json": "true"})]


def test_in_progress_is_unknown_when_cruise_control_fails(cruise_control: tuple[FakeCruiseControl, str]) -> None:
    fake, url = cruise_control
    fake.answers["state"] = (500, {"errorMessage": "boom"})

    assert CruiseControlRebalancer(url).in_progress() is None


def test_refusal_carries_cruise_controls_error_message(cruise_control: tuple[FakeCruiseControl, str]) -> None:
    fake, url = cruise_control
    fake.answers["remove_broker"] = (500, {"errorMessage": "Ongoing execution in progress", "version": 1})

    with pytest.raises(CruiseControlError, match="remove_broker failed: HTTP 500: Ongoing execution in progress"):
        CruiseControlRebalancer(url).start(decision(Target.BROKERS, Action.DRAIN, broker_ids=[4]))


def test_task_status_reads_user_tasks(cruise_control: tuple[FakeCruiseControl, str]) -> None:
    fake, url = cruise_control
    fake.answers["user_tasks"] = (
        200,
        {"userTasks": [{"UserTaskId": TASK_ID, "Status": "InExecution", "RequestURL": "POST /add_broker"}]},
    )

    assert CruiseControlRebalancer(url).task_status(TASK_ID) == "InExecution"
    assert fake.seen[0].query == {"user_task_ids": TASK_ID, "json": "true"}


def test_unreachable_cruise_control_is_named() -> None:
    with socket.socket() as probe:  # a port nothing listens on once this socket closes
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(CruiseControlError, match=f"cannot reach Cruise Control at http://127.0.0.1:{port}"):
        CruiseControlRebalancer(f"http://127.0.0.1:{port}", timeout_s=2).start(
            decision(Target.BROKERS, Action.DRAIN, broker_ids=[4])
        )


def test_a_decision_it_does_not_handle_is_refused_before_any_request(
    cruise_control: tuple[FakeCruiseControl, str],
) -> None:
    fake, url = cruise_control
    with pytest.raises(RebalanceRequestError, match="not brokers/scale_out"):
        CruiseControlRebalancer(url).start(decision(Target.BROKERS, Action.SCALE_OUT))
    assert fake.seen == []
