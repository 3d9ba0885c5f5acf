"""Amazon MSK as its documentation describes it, answering a real botocore Kafka client.

moto has no ListClusterOperationsV2, ListNodes, UpdateBrokerCount or UpdateBrokerStorage, and a
Stubber needs every call queued in order, so this model answers each call from its state, point
by point as documented, and checks every response against botocore's service model (as Stubber does):

- a change is accepted only while the cluster is ACTIVE and with the CurrentVersion just read
  (https://docs.aws.amazon.com/msk/1.0/apireference/clusters-clusterarn-nodes-count.html); anything
  else is a BadRequestException; an accepted change moves the cluster to UPDATING, gives it a new
  CurrentVersion and lists an operation (PENDING, then UPDATE_IN_PROGRESS) until `finish()`;
- a storage change within the cool-down after the last one is refused: "at least six hours",
  which "can take up to 24 hours or more"
  (https://docs.aws.amazon.com/msk/latest/developerguide/manually-expand-storage.html);
  `storage_cooldown_s` sets how long this cluster's takes.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.validate import validate_parameters

CLUSTER_ARN = "arn:aws:kafka:eu-west-1:123456789012:cluster/orders/6f1d2c3b-1a2b-4c5d-9e8f-0a1b2c3d4e5f-2"
OP_PREFIX = "arn:aws:kafka:eu-west-1:123456789012:cluster-operation/orders/6f1d2c3b-1a2b-4c5d-9e8f-0a1b2c3d4e5f-2"
SUBNETS = ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002", "subnet-0a1b2c3d4e5f60003"]
SIX_HOURS = 6 * 3600.0
OPERATION_TYPES = {"update_broker_count": "UPDATE_BROKER_COUNT", "update_broker_storage": "UPDATE_BROKER_STORAGE"}


def _time(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=UTC)


@dataclass
class MskModel:
    clock: Callable[[], float]
    broker_count: int = 3
    instance_type: str = "kafka.m5.large"
    volume_gib: int = 1000
    kafka_version: str = "3.6.0"
    state: str = "ACTIVE"
    storage_cooldown_s: float = SIX_HOURS
    operations: list[dict[str, Any]] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # every change asked for, refused too
    before_change: Callable[[str], None] | None = None  # runs before a change is applied (crash injection)
    after_change: Callable[[str], None] | None = None  # runs after it is applied, before the reply
    _versions: Any = field(default_factory=lambda: (f"K{n:012d}" for n in itertools.count(1)))
    version: str = "K000000000000"
    _pending: dict[int, dict[str, Any]] = field(default_factory=dict)
    _target: dict[str, Any] = field(default_factory=dict)

    def attach(self, client: Any) -> None:
        """Answer every Kafka call of `client` from this model."""
        client.meta.events.register("before-parameter-build.kafka.*", self._remember)
        client.meta.events.register("before-call.kafka.*", self._answer)

    # ------------------------------------------------------------------ the world moves on
    def finish(self) -> None:
        """The running operation completes: ACTIVE again, at its target."""
        for op in self.operations:
            if op["OperationState"] in {"PENDING", "UPDATE_IN_PROGRESS"}:
                op["OperationState"] = "UPDATE_COMPLETE"
                op["EndTime"] = _time(self.clock())
        self.broker_count = self._target.get("count", self.broker_count)
        self.volume_gib = self._target.get("volume", self.volume_gib)
        self.state = "ACTIVE"

    def running(self) -> None:
        """A queued operation starts running."""
        for op in self.operations:
            if op["OperationState"] == "PENDING":
                op["OperationState"] = "UPDATE_IN_PROGRESS"

    def sent(self, name: str) -> list[dict[str, Any]]:
        return [params for call, params in self.calls if call == name]

    # ------------------------------------------------------------------ botocore hooks
    def _remember(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self._pending[id(model)] = dict(params)

    def _answer(self, model: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        params = self._pending.pop(id(model), {})
        name = model.name
        handler = getattr(self, f"_{_snake(name)}")
        if name.startswith("Update"):
            self.calls.append((_snake(name), params))
        try:
            body = handler(params)
        except _RefusedError as refusal:
            return _error(400, "BadRequestException", str(refusal))
        validate_parameters(body, model.output_shape)
        return AWSResponse("https://kafka.eu-west-1.amazonaws.com", 200, {}, None), {
            **body,
            "ResponseMetadata": {"HTTPStatusCode": 200},
        }

    # ------------------------------------------------------------------ reads
    def _describe_cluster_v2(self, params: dict[str, Any]) -> dict[str, Any]:
        storage: dict[str, Any] = {} if self.express else {"EbsStorageInfo": {"VolumeSize": self.volume_gib}}
        return {
            "ClusterInfo": {
                "ClusterType": "PROVISIONED",
                "ClusterArn": CLUSTER_ARN,
                "ClusterName": "orders",
                "CurrentVersion": self.version,
                "State": self.state,
                "Provisioned": {
                    "BrokerNodeGroupInfo": {
                        "ClientSubnets": SUBNETS,
                        "InstanceType": self.instance_type,
                        "StorageInfo": storage,
                    },
                    "CurrentBrokerSoftwareInfo": {"KafkaVersion": self.kafka_version},
                    "NumberOfBrokerNodes": self.broker_count,
                },
            }
        }

    def _list_cluster_operations_v2(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ClusterOperationInfoList": list(reversed(self.operations))}

    def _list_nodes(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "NodeInfoList": [
                {"BrokerNodeInfo": {"BrokerId": float(b), "ClientSubnet": SUBNETS[(b - 1) % 3]}, "NodeType": "BROKER"}
                for b in range(1, self.broker_count + 1)
            ]
        }

    # ------------------------------------------------------------------ changes
    def _update_broker_count(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._change("update_broker_count", params, count=int(params["TargetNumberOfBrokerNodes"]))

    def _update_broker_storage(self, params: dict[str, Any]) -> dict[str, Any]:
        ends = [
            op["EndTime"].timestamp()
            for op in self.operations
            if op["OperationType"] == "UPDATE_BROKER_STORAGE" and op["OperationState"] == "UPDATE_COMPLETE"
        ]
        if ends and self.clock() - max(ends) < self.storage_cooldown_s:
            raise _RefusedError("The cluster is in a storage cool-down period; try again later.")
        volume = int(params["TargetBrokerEBSVolumeInfo"][0]["VolumeSizeGB"])
        return self._change("update_broker_storage", params, volume=volume)

    def _change(self, name: str, params: dict[str, Any], **target: Any) -> dict[str, Any]:
        if self.before_change is not None:
            self.before_change(name)
        if self.state != "ACTIVE":
            raise _RefusedError(f"The request is not valid because the cluster is in {self.state} state.")
        if params.get("CurrentVersion") != self.version:
            raise _RefusedError("The cluster's CurrentVersion does not match the version in the request.")
        op_arn = f"{OP_PREFIX}/op-{len(self.operations) + 1}"
        self.operations.append(
            {
                "ClusterArn": CLUSTER_ARN,
                "ClusterType": "PROVISIONED",
                "OperationArn": op_arn,
                "OperationState": "PENDING",
                "OperationType": OPERATION_TYPES[name],
                "StartTime": _time(self.clock()),
            }
        )
        self.state, self.version, self._target = "UPDATING", next(self._versions), target
        if self.after_change is not None:
            self.after_change(name)
        return {"ClusterArn": CLUSTER_ARN, "ClusterOperationArn": op_arn}

    @property
    def express(self) -> bool:
        return self.instance_type.startswith("express.")


class _RefusedError(Exception):
    pass


def _error(status: int, code: str, message: str) -> tuple[AWSResponse, dict[str, Any]]:
    return AWSResponse("https://kafka.eu-west-1.amazonaws.com", status, {}, None), {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")
