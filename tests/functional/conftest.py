"""Every functional test talks to moto or a Stubber, never to AWS: fake credentials and a region; and
every AWS call is recorded for the IAM contract."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.client import ClientCreator
from botocore.stub import Stubber
from iam_contract import RECORDER, CallRecorder


@pytest.fixture(autouse=True)
def fake_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def kafka() -> Iterator[tuple[Any, Stubber]]:
    """A real botocore MSK client with Stubber (moto lacks most MSK operations); every stub must be used."""
    client = boto3.client(
        "kafka", region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


# The IAM contract (tests/iam_contract.py): every botocore client made during the functional tests
# records the calls it makes; test_zz_iam_contract.py checks them against the synthesized policies.


@pytest.fixture(scope="session", autouse=True)
def record_aws_calls() -> Iterator[CallRecorder]:
    original = ClientCreator.create_client

    def create_client(self: ClientCreator, *args: Any, **kwargs: Any) -> Any:
        client = original(self, *args, **kwargs)
        RECORDER.attach(client)
        return client

    ClientCreator.create_client = create_client  # type: ignore[method-assign]
    try:
        yield RECORDER
    finally:
        ClientCreator.create_client = original  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def name_recorded_calls(request: pytest.FixtureRequest) -> None:
    RECORDER.test = request.node.nodeid
