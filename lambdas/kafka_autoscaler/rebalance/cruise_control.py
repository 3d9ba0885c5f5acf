"""Rebalance through Cruise Control's REST API, for users who run Cruise Control.

Endpoints (Cruise Control's OpenAPI spec; prefix ``/kafkacruisecontrol``):

- ``POST add_broker?brokerid=4,5&dryrun=false``: move replicas onto new brokers only;
- ``POST remove_broker?brokerid=4,5&dryrun=false``: move every replica off brokers;
- ``POST rebalance?dryrun=false``: rebalance the whole cluster by its goals;
- ``GET state?substates=EXECUTOR``: ``ExecutorState.state`` is NO_TASK_IN_PROGRESS when idle;
- ``GET kafka_cluster_state``: ``KafkaBrokerState.ReplicaCountByBrokerId`` (new brokers hold none);
- ``GET user_tasks?user_task_ids=ID``: ``userTasks[].Status`` (Active, InExecution, Completed,
  CompletedWithError).

Every request asks for JSON. A long request answers 202 and a ``User-Task-ID`` header while
Cruise Control computes its proposal; it goes on by itself, and the scaler's next tick
sees the moves through ``in_progress``. Cruise Control throttles and batches the moves.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Protocol

from kafka_autoscaler.model import Decision
from kafka_autoscaler.ports import ActionError
from kafka_autoscaler.rebalance.service import RebalanceRequest

PREFIX = "kafkacruisecontrol"
TASK_HEADER = "User-Task-ID"
IDLE = "NO_TASK_IN_PROGRESS"
# Cruise Control renamed these counters over its versions; the first one present is used.
IN_PROGRESS_KEYS = ("numInProgressPartitionMovements", "numInProgressInterBrokerPartitionMovements")
PENDING_KEYS = ("numPendingPartitionMovements", "numPendingInterBrokerPartitionMovements")


class CruiseControlError(ActionError):
    """Cruise Control could not be reached or refused the request; the message says which and why."""


class HttpOpener(Protocol):
    """``urllib.request.urlopen`` (the default) or a stand-in: returns a response with status, headers and read()."""

    def __call__(self, request: urllib.request.Request, *, timeout: float) -> Any: ...


def _urlopen(request: urllib.request.Request, *, timeout: float) -> Any:
    return urllib.request.urlopen(request, timeout=timeout)


class CruiseControlRebalancer:
    """ports.Rebalancer that hands rebalances and drains to Cruise Control."""

    def __init__(
        self,
        base_url: str,
        http: HttpOpener | None = None,
        *,
        timeout_s: float = 30.0,
        replication_throttle_bytes_per_s: int | None = None,
        max_partition_movements: int | None = None,
    ) -> None:
        base = base_url.rstrip("/")
        self._base = base if base.endswith(f"/{PREFIX}") else f"{base}/{PREFIX}"
        self._http = http or _urlopen
        self._timeout_s = timeout_s
        self._tuning: dict[str, str] = {}
        if replication_throttle_bytes_per_s is not None:
            self._tuning["replication_throttle"] = str(replication_throttle_bytes_per_s)
        if max_partition_movements is not None:
            self._tuning["max_partition_movements_in_cluster"] = str(max_partition_movements)

    def in_progress(self) -> int | None:
        """Partition movements Cruise Control is executing or has queued; None when it cannot be asked."""
        try:
            body, _ = self._call("GET", "state", {"substates": "EXECUTOR"})
        except CruiseControlError:
            return None
        executor = body.get("ExecutorState", {}) if isinstance(body, dict) else {}
        if executor.get("state", IDLE) == IDLE:
            return 0
        moving = _first(executor, IN_PROGRESS_KEYS) + _first(executor, PENDING_KEYS)
        return max(moving, 1)  # busy (proposal or leader moves) even when no partition moves yet

    def start(self, decision: Decision) -> str:
        """remove_broker for a drain (or brokers kept empty), add_broker when brokers are empty, else rebalance."""
        request = RebalanceRequest.from_decision(decision)
        params = {"dryrun": "false", **self._tuning, "reason": f"kafka-autoscaler {decision.reason.value}"}
        if request.exclude_brokers:
            endpoint, brokers = "remove_broker", request.exclude_brokers
        else:
            brokers = self.empty_brokers()
            endpoint = "add_broker" if brokers else "rebalance"
        if brokers:
            params["brokerid"] = ",".join(str(b) for b in brokers)
        _, reply = self._call("POST", endpoint, params)
        target = f" for brokers {list(brokers)}" if brokers else ""
        task = reply.get(TASK_HEADER) or "without a task id"
        if reply.status == 202:
            return f"Cruise Control is computing the {endpoint} proposal{target} (task {task}); it then executes it"
        return f"Cruise Control started {endpoint}{target} (task {task})"

    def empty_brokers(self) -> tuple[int, ...]:
        """Brokers holding no replica: the ones a scale-out just added."""
        body, _ = self._call("GET", "kafka_cluster_state", {})
        counts = body.get("KafkaBrokerState", {}).get("ReplicaCountByBrokerId", {}) if isinstance(body, dict) else {}
        return tuple(sorted(int(b) for b, count in counts.items() if int(count) == 0))

    def task_status(self, task_id: str) -> str | None:
        """Status of one user task (Active, InExecution, Completed, CompletedWithError); None if unknown."""
        body, _ = self._call("GET", "user_tasks", {"user_task_ids": task_id})
        tasks = body.get("userTasks", []) if isinstance(body, dict) else []
        return next((str(t.get("Status")) for t in tasks if t.get("UserTaskId") == task_id), None)

    def _call(self, method: str, endpoint: str, params: dict[str, str]) -> tuple[Any, _Reply]:
        query = urllib.parse.urlencode({**params, "json": "true"})
        url = f"{self._base}/{endpoint}?{query}"
        request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
        try:
            with self._http(request, timeout=self._timeout_s) as response:
                headers = {k.lower(): v for k, v in response.headers.items()}
                reply = _Reply(response.status, headers, response.read())
        except urllib.error.HTTPError as error:
            raise CruiseControlError(
                f"Cruise Control {endpoint} failed: HTTP {error.code}: {_error_message(error.read())}"
            ) from error
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise CruiseControlError(f"cannot reach Cruise Control at {self._base}: {reason}") from error
        try:
            return (json.loads(reply.body) if reply.body else {}), reply
        except json.JSONDecodeError as error:
            raise CruiseControlError(f"Cruise Control {endpoint} answered something that is not JSON") from error


@dataclass(frozen=True)
class _Reply:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def get(self, header: str) -> str | None:
        return self.headers.get(header.lower())


def _first(values: dict[str, Any], keys: tuple[str, ...]) -> int:
    return next((int(values[k]) for k in keys if k in values), 0)


def _error_message(body: bytes) -> str:
    """Cruise Control's ``errorMessage``, or the start of the body when it is not its JSON error."""
    try:
        parsed = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return body[:200].decode(errors="replace") or "(empty body)"
    if isinstance(parsed, dict) and parsed.get("errorMessage"):
        return str(parsed["errorMessage"])
    return json.dumps(parsed)[:200]
