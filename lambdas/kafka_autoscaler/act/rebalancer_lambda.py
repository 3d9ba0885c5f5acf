"""Rebalancer in AWS: hand the decision to the rebalancer function, asynchronously.

Partition moves outlast a scaler tick, so the scaler only starts them: an `Event`
invocation returns at once and Lambda retries it on failure.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from kafka_autoscaler.model import Decision
from kafka_autoscaler.observe.msk import aws_error_text
from kafka_autoscaler.ports import ActionError

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient


class LambdaRebalancer:
    """ports.Rebalancer that invokes a function with the decision as JSON."""

    def __init__(self, lambda_client: LambdaClient, function_name: str) -> None:
        self._lambda = lambda_client
        self._function_name = function_name

    def in_progress(self) -> int | None:
        """Unknown from here: the rebalancer function, not the scaler, watches the moves."""
        return None

    def start(self, decision: Decision) -> str:
        payload = json.dumps(decision.as_dict(), sort_keys=True, default=str).encode("utf-8")
        try:
            response = self._lambda.invoke(FunctionName=self._function_name, InvocationType="Event", Payload=payload)
        except (BotoCoreError, ClientError) as error:
            raise ActionError(f"Lambda Invoke of {self._function_name} failed: {aws_error_text(error)}") from error
        return f"rebalancer {self._function_name} invoked (HTTP {response.get('StatusCode', '?')})"
