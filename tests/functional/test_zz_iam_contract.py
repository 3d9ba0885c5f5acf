"""The IAM contract (tests/iam_contract.py), checked once every other functional test has run.

Named to run last in its directory. Both ways: every recorded call of a function is allowed by that
function's role in the synthesized example stack, and every action that role is granted was used by
some call (statements only the platform uses are listed in iam_contract.PLATFORM_SIDS). When only part
of the functional tests ran, the second half cannot hold and is skipped.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import pytest
from iam_contract import RECORDER, Call, Statement, check, role_statements

HERE = Path(__file__).parent
ROLES = {"Scaler": "FunctionsScalerRole", "Rebalancer": "FunctionsRebalancerRole"}
REGION = "eu-west-1"
# Tests whose calls model another configuration than examples/autoscaler.yaml, which the template is
# synthesized from (their own statements are asserted in tests/infrastructure/test_cdk_permissions.py).
OTHER_CONFIGURATIONS = {
    "tests/functional/test_ecs.py": "services of other clusters and names, to test batching and missing services",
    "tests/functional/test_handler_setup.py::test_scram_credentials": "SCRAM (the example uses IAM access control)",
    "tests/functional/test_aws_cloudwatch.py::test_topics_are_discovered": "a group that lists no topics",
    "tests/functional/test_aws_cloudwatch.py::test_a_group_without": "a group that lists no topics",
    "tests/functional/test_broker_type.py": "brokers.vertical enabled (off in the example): UpdateBrokerType",
    "tests/functional/test_handler_runtime_rules.py::test_min_max_mode": "ecs.manage: min_max (the example sets "
    "the desired count): RegisterScalableTarget",
}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    sys.path.insert(0, str(HERE.parent / "infrastructure"))
    from cdk_support import EXAMPLE_CONFIG, synthesize  # noqa: PLC0415 (CDK is loaded only for this test)

    synthesized: dict[str, Any] = synthesize(EXAMPLE_CONFIG, tmp_path_factory.mktemp("iam")).template.to_json()
    return synthesized


@pytest.fixture(scope="module")
def granted(template: dict[str, Any]) -> dict[str, list[Statement]]:
    return {role: role_statements(template, prefix, REGION) for role, prefix in ROLES.items()}


def whole_run(request: pytest.FixtureRequest) -> bool:
    ran = {Path(str(item.path)).name for item in request.session.items}
    return {p.name for p in HERE.glob("test_*.py")} <= ran


def test_every_call_is_allowed_and_every_grant_is_used(
    request: pytest.FixtureRequest, granted: dict[str, list[Statement]]
) -> None:
    if not whole_run(request):
        pytest.skip("only part of the functional tests ran: the calls they record cannot cover every grant")
    assert RECORDER.calls, "the functional tests made AWS calls"
    problems = check(RECORDER.calls, granted, OTHER_CONFIGURATIONS)
    assert not problems, "\n".join(sorted(set(problems)))


def test_a_permission_taken_away_fails_the_contract(
    request: pytest.FixtureRequest, granted: dict[str, list[Statement]]
) -> None:
    """sns:Publish removed from the scaler's role: the decision reports can no longer be published."""
    if not whole_run(request):
        pytest.skip("only part of the functional tests ran")
    narrowed = {
        role: [dataclasses.replace(s, actions=tuple(a for a in s.actions if a != "sns:Publish")) for s in statements]
        for role, statements in granted.items()
    }
    problems = check(RECORDER.calls, narrowed, OTHER_CONFIGURATIONS)
    assert problems
    assert all(p.startswith("not allowed: Scaler sns:Publish on arn:aws:sns:") for p in problems)


def test_the_check_reads_the_template_both_ways(granted: dict[str, list[Statement]]) -> None:
    """Without the other tests' calls: one call the scaler makes, one it may not, and the unused grants."""
    table = "arn:aws:dynamodb:eu-west-1:123456789012:table/state"
    calls = [
        Call("Scaler", "dynamodb:GetItem", (table,)),
        Call("Scaler", "dynamodb:Scan", (table,)),
        Call("Rebalancer", "dynamodb:GetItem", (table,)),
    ]
    problems = check(calls, granted)
    assert f"not allowed: Scaler dynamodb:Scan on {table} ()" in problems
    assert f"not allowed: Rebalancer dynamodb:GetItem on {table} ()" in problems
    assert "not needed: Scaler StateTable grants dynamodb:PutItem, which no functional test's call used" in problems
    assert not [p for p in problems if " dynamodb:GetItem, which" in p]
