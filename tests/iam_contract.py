"""The IAM contract: the AWS calls each function makes, checked against the synthesized policies.

`CallRecorder` hooks every botocore client (event `before-parameter-build`, emitted for stubbed and
moto calls alike) and keeps, per call, the IAM action, the resource ARNs the parameters name, and the
role that would make it: the role of the function whose code is on the call stack (ROLE_OF_MODULE).
`check` evaluates the calls offline against the template's statements for that role: an action
matches with IAM's wildcards, a resource ARN likewise, after the template's Ref / GetAtt / Fn::Join
are resolved with the account and Region (a resource the stack creates resolves to its type's ARN
with a wildcard name, since the tests' resources carry other names). Both ways: a call no statement
allows fails, and so does an action of a statement that no call used (PLATFORM_SIDS aside).

A new AWS call needs its statement in stacks/permissions.py and a functional test that makes it.
"""

from __future__ import annotations

import fnmatch
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

ACCOUNT: Final = "123456789012"  # moto's default account and the example configuration's
# The role whose code makes a call, by the first listed module found on the call stack. The CLI runs
# with the caller's own credentials, not a function's role: its calls are not the contract's.
ROLE_OF_MODULE: Final = (
    ("kafka_autoscaler.handlers.rebalance_steps", "Rebalancer"),
    ("kafka_autoscaler.handlers.rebalancer", "Rebalancer"),
    ("kafka_autoscaler.cli", None),
    ("kafka_autoscaler.sim", None),  # backtest reads history with the caller's credentials
    ("kafka_autoscaler", "Scaler"),
)
# Statements no botocore call of ours exercises, and why.
PLATFORM_SIDS: Final = {
    "WriteLogs": "the Lambda runtime writes the function's logs",
    "CreateInterfaces": "Lambda creates the function's network interfaces",
    "ManageInterfaces": "Lambda manages the function's network interfaces",
    "DescribeNetwork": "Lambda describes the function's network interfaces",
    "Tracing": "the Lambda runtime's X-Ray daemon sends the trace segments",
    "EncryptNotifications": "SNS calls KMS on the publisher's behalf when it publishes to the encrypted topic",
    "KafkaCluster": "the Kafka protocol under MSK IAM access control, not an AWS API call",
    "KafkaTopics": "the Kafka protocol under MSK IAM access control, not an AWS API call",
    "KafkaGroups": "the Kafka protocol under MSK IAM access control, not an AWS API call",
    "AdviceCluster": "the Kafka protocol under MSK IAM access control, not an AWS API call",
    "AdviceTopics": "the Kafka protocol under MSK IAM access control, not an AWS API call",
}
IAM_PREFIX: Final = {"stepfunctions": "states"}
# Resources the stack creates, as the ARN of any resource of their type (`{}` is the Region).
CREATED_ARN: Final = {
    "AWS::DynamoDB::Table": "arn:aws:dynamodb:{}:%s:table/*",
    "AWS::SNS::Topic": "arn:aws:sns:{}:%s:*",
    "AWS::KMS::Key": "arn:aws:kms:{}:%s:key/*",
    "AWS::Logs::LogGroup": "arn:aws:logs:{}:%s:log-group:*",
    "AWS::Lambda::Function": "arn:aws:lambda:{}:%s:function:*",
    "AWS::StepFunctions::StateMachine": "arn:aws:states:{}:%s:stateMachine:*",
}


@dataclass(frozen=True)
class Call:
    role: str
    action: str  # service:Operation, as IAM names it
    resources: tuple[str, ...]  # ARNs the call names; empty: none in the parameters
    test: str = ""

    def describe(self) -> str:
        return f"{self.role} {self.action} on {', '.join(self.resources) or '(no resource in the call)'} ({self.test})"


@dataclass(frozen=True)
class Statement:
    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]

    def allows(self, action: str, resource: str | None) -> bool:
        if not any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in self.actions):
            return False
        return resource is None or any(fnmatch.fnmatchcase(resource, r) for r in self.resources)


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def resolve(value: Any, resources: Mapping[str, Any], region: str) -> str:
    """A template value as a string: Fn::Join, Ref and Fn::GetAtt of the template, pseudo parameters."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(resolve(p, resources, region) for p in parts)
    name = value.get("Ref") or value.get("Fn::GetAtt", [None])[0]
    pseudo = {
        "AWS::Partition": "aws",
        "AWS::Region": region,
        "AWS::AccountId": ACCOUNT,
        "AWS::URLSuffix": "amazonaws.com",
    }
    if name in pseudo:
        return pseudo[name]
    kind = resources[name]["Type"]
    return (CREATED_ARN[kind] % ACCOUNT).format(region)


def role_statements(template: Mapping[str, Any], role_prefix: str, region: str) -> list[Statement]:
    """The statements of the IAM policies attached to the role whose logical id starts with `role_prefix`."""
    resources = template["Resources"]
    (role,) = [n for n, r in resources.items() if r["Type"] == "AWS::IAM::Role" and n.startswith(role_prefix)]
    found = []
    for resource in resources.values():
        if resource["Type"] != "AWS::IAM::Policy" or {"Ref": role} not in resource["Properties"]["Roles"]:
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            found.append(
                Statement(
                    statement["Sid"],
                    tuple(_listed(statement["Action"])),
                    tuple(resolve(r, resources, region) for r in _listed(statement["Resource"])),
                )
            )
    return found


def check(
    calls: Iterable[Call],
    statements: Mapping[str, list[Statement]],
    other_configurations: Mapping[str, str] | None = None,
) -> list[str]:
    """Problems both ways: calls no statement allows, statement actions no call used.

    Calls of tests listed in `other_configurations` (path prefix -> why) are left out: they model a
    configuration other than the one the template was synthesized from.
    """
    problems: list[str] = []
    used: set[tuple[str, str, str]] = set()
    for call in calls:
        if any(call.test.startswith(prefix) for prefix in other_configurations or {}):
            continue
        granted = statements.get(call.role, [])
        for resource in call.resources or (None,):
            allowing = [s for s in granted if s.allows(call.action, resource)]
            if not allowing:
                problems.append(f"not allowed: {call.describe()}")
            for statement in allowing:
                used |= {
                    (call.role, statement.sid, a) for a in statement.actions if fnmatch.fnmatchcase(call.action, a)
                }
    for role, granted in statements.items():
        for statement in granted:
            if statement.sid in PLATFORM_SIDS:
                continue
            problems += [
                f"not needed: {role} {statement.sid} grants {action}, which no functional test's call used"
                for action in statement.actions
                if (role, statement.sid, action) not in used
            ]
    return problems


def _resources(service: str, region: str, params: Mapping[str, Any]) -> tuple[str, ...]:
    """The ARNs the call names: every ARN in its parameters, else the ARN its names make."""
    arns = [v for value in params.values() for v in _listed(value) if isinstance(v, str) and v.startswith("arn:")]
    if arns:
        return tuple(arns)
    if service == "dynamodb" and "TableName" in params:
        return (f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{params['TableName']}",)
    if service == "ecs" and "cluster" in params:
        names = params.get("services") or [params.get("service")]
        return tuple(f"arn:aws:ecs:{region}:{ACCOUNT}:service/{params['cluster']}/{n}" for n in names if n)
    if service == "lambda" and "FunctionName" in params:
        return (f"arn:aws:lambda:{region}:{ACCOUNT}:function:{params['FunctionName']}",)
    return ()


def calling_role() -> str | None:
    """The role of the innermost kafka_autoscaler function on the stack, by ROLE_OF_MODULE; None if none."""
    modules: set[str] = set()
    frame = sys._getframe(1)
    while frame is not None:
        modules.add(str(frame.f_globals.get("__name__", "")))
        frame = frame.f_back  # type: ignore[assignment]
    for prefix, role in ROLE_OF_MODULE:
        if any(m == prefix or m.startswith(prefix + ".") for m in modules):
            return role
    return None


@dataclass
class CallRecorder:
    calls: list[Call] = field(default_factory=list)
    test: str = ""

    def attach(self, client: Any) -> None:
        service = client.meta.service_model.service_name
        region = client.meta.region_name

        def record(params: Mapping[str, Any], model: Any, **_: Any) -> None:
            role = calling_role()
            if role is not None:
                action = f"{IAM_PREFIX.get(service, service)}:{model.name}"
                self.calls.append(Call(role, action, _resources(service, region, params), self.test))

        client.meta.events.register("before-parameter-build", record)  # every operation of this client


# The one recorder of a test session: tests/functional/conftest.py attaches it to every client.
RECORDER = CallRecorder()
