"""Build the kafka-python admin client for the configured cluster and its authentication.

MSK listens on a different port per mechanism (IAM 9098, SCRAM 9096, TLS 9094,
plaintext 9092); the configured bootstrap servers must match the mechanism.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kafka.admin import KafkaAdminClient

from kafka_autoscaler.config import AuthMechanism, ClusterSettings

CLIENT_ID = "kafka-autoscaler"
REQUEST_TIMEOUT_MS = 15_000
BOOTSTRAP_TIMEOUT_MS = 10_000


class KafkaAuthError(Exception):
    """The authentication settings cannot build a client (e.g. SCRAM without credentials)."""


@dataclass(frozen=True)
class ScramCredentials:
    """The SCRAM user, read from Secrets Manager by the caller. The password never appears in a repr."""

    username: str
    password: str = field(repr=False)


def base_kwargs(bootstrap_servers: str) -> dict[str, Any]:
    """Client id, timeouts and servers shared by every mechanism (plaintext unless told otherwise)."""
    return {
        "bootstrap_servers": [server.strip() for server in bootstrap_servers.split(",") if server.strip()],
        "client_id": CLIENT_ID,
        "request_timeout_ms": REQUEST_TIMEOUT_MS,
        "bootstrap_timeout_ms": BOOTSTRAP_TIMEOUT_MS,
    }


def admin_kwargs(cluster: ClusterSettings, scram: ScramCredentials | None = None) -> dict[str, Any]:
    """KafkaAdminClient keyword arguments for the cluster's mechanism.

    IAM signs with the default botocore credentials and region (AWS_REGION in Lambda).
    """
    kwargs = base_kwargs(cluster.bootstrap_servers)
    mechanism = cluster.auth.mechanism
    if mechanism is AuthMechanism.IAM:
        return {**kwargs, "security_protocol": "SASL_SSL", "sasl_mechanism": "AWS_MSK_IAM"}
    if mechanism is AuthMechanism.SCRAM:
        if scram is None:
            raise KafkaAuthError(
                f"SCRAM needs the user and password of secret {cluster.auth.scram_secret_arn}; none were given"
            )
        return {
            **kwargs,
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": scram.username,
            "sasl_plain_password": scram.password,
        }
    if mechanism is AuthMechanism.TLS:
        return {**kwargs, "security_protocol": "SSL"}
    return {**kwargs, "security_protocol": "PLAINTEXT"}


def admin_client_for(cluster: ClusterSettings, scram: ScramCredentials | None = None) -> KafkaAdminClient:
    """A connected admin client; raises kafka.errors.KafkaError when no broker answers."""
    return KafkaAdminClient(**admin_kwargs(cluster, scram))
