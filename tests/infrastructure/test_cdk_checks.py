"""Synth-time guarantees: cdk-nag, cfn-lint, the code asset, and bad configurations failing clearly."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sns as sns
from cdk_support import EXAMPLE_CONFIG, Synthesized, WriteConfig, example_settings
from kafka_autoscaler.config import ConfigError
from packaging.requirements import Requirement

import app
from stacks.asset_check import asset_problems, missing_handlers
from stacks.bundling import applies_in_lambda, pinned_dependencies, source_fingerprint

pytestmark = pytest.mark.infrastructure

# A reason is a sentence, not a placeholder.
MIN_REASON_LENGTH = 40


def acknowledgments(synth: Synthesized) -> dict[str, list[dict[str, str]]]:
    """Logical id -> the cdk-nag acknowledgments written into its metadata."""
    return {
        logical_id: resource["Metadata"]["cdk_nag"]["rules_to_suppress"]
        for logical_id, resource in synth.template.to_json()["Resources"].items()
        if "cdk_nag" in resource.get("Metadata", {})
    }


def test_cdk_nag_finds_nothing_unacknowledged(example: Synthesized, variant: Synthesized) -> None:
    for synth in (example, variant):
        report = json.loads((synth.outdir / "validation-report.json").read_text(encoding="utf-8"))
        assert report["pluginReports"] == []


def test_every_acknowledgment_has_a_reason_and_names_a_real_wildcard(
    example: Synthesized, variant: Synthesized
) -> None:
    for synth in (example, variant):
        resources = synth.template.to_json()["Resources"]
        found = acknowledgments(synth)
        assert found, "the wildcards and the runtime pin are acknowledged"
        for logical_id, rules in found.items():
            for rule in rules:
                assert len(rule["reason"]) >= MIN_REASON_LENGTH, rule
                if rule["id"].startswith("AwsSolutions-IAM5[Resource::"):
                    wildcard = rule["id"].removeprefix("AwsSolutions-IAM5[Resource::").removesuffix("]")
                    granted = _resources_of_role(resources, logical_id)
                    assert wildcard in granted, f"{logical_id} acknowledges {wildcard} it does not grant"
                else:
                    assert rule["id"] == "AwsSolutions-L1", rule


def _resources_of_role(resources: dict[str, Any], logical_id: str) -> set[str]:
    """Resources granted by the policy `logical_id`, or by the policies of the role `logical_id`."""
    policies = [
        resource
        for name, resource in resources.items()
        if resource["Type"] == "AWS::IAM::Policy"
        and (name == logical_id or {"Ref": logical_id} in resource["Properties"]["Roles"])
    ]
    assert policies, f"{logical_id} is neither a role with a policy nor a policy"
    granted: set[str] = set()
    for policy in policies:
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            listed = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            granted |= {resource for resource in listed if isinstance(resource, str)}
    return granted


def test_cdk_nag_is_on_an_unprotected_topic_fails_synth(tmp_path: Path) -> None:
    application = cdk.App(outdir=str(tmp_path), context={"config": str(EXAMPLE_CONFIG), "bundle_dependencies": "false"})
    stack = app.build(application)
    sns.Topic(stack, "PlainTopic")
    with pytest.raises(Exception, match=r"AwsSolutions-SNS3"):
        application.synth()


def test_cfn_lint_is_clean(example: Synthesized, variant: Synthesized, tmp_path: Path) -> None:
    templates = []
    for name, synth in (("example", example), ("variant", variant)):
        path = tmp_path / f"{name}.template.json"
        path.write_text(json.dumps(synth.template.to_json()), encoding="utf-8")
        templates.append(str(path))
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run([str(cfn_lint), *templates], capture_output=True, text=True, check=False)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def code_asset(synth: Synthesized) -> Path:
    (code,) = {json.dumps(r["Properties"]["Code"]) for r in synth.resources("AWS::Lambda::Function").values()}
    asset_hash = json.loads(code)["S3Key"].removesuffix(".zip")
    return synth.outdir / f"asset.{asset_hash}"


def test_code_asset_holds_the_package_and_the_config_only(example: Synthesized) -> None:
    asset = code_asset(example)
    assert asset_problems(asset, with_dependencies=False) == []
    assert (asset / "autoscaler.yaml").read_bytes() == EXAMPLE_CONFIG.read_bytes()
    assert "kafka_autoscaler.handlers.scaler" not in missing_handlers(asset)
    assert sorted(path.name for path in asset.iterdir()) == ["autoscaler.yaml", "kafka_autoscaler"]


def test_asset_problems_name_what_is_wrong(tmp_path: Path) -> None:
    package = tmp_path / "kafka_autoscaler"
    (package / "__pycache__").mkdir(parents=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    elf = b"\x7fELF\x02\x01\x01" + bytes(11)  # 64-bit little-endian ELF header up to e_machine
    (tmp_path / "native.cpython-312-x86_64-linux-gnu.so").write_bytes(elf + (62).to_bytes(2, "little"))
    (tmp_path / "libvendored-1234.so").write_bytes(elf + (183).to_bytes(2, "little"))  # aarch64: no name to tell
    problems = asset_problems(tmp_path, with_dependencies=True)
    assert problems[0] == "autoscaler.yaml is not at the asset root"
    assert problems[1] == "caches or tests in the asset: kafka_autoscaler/__pycache__"
    assert f"dependency pydantic-core=={metadata.version('pydantic-core')} is not installed in the asset" in problems
    assert problems[-1] == "compiled modules not built for aarch64: native.cpython-312-x86_64-linux-gnu.so"


def test_dependencies_are_pinned_to_the_tested_versions_without_boto3() -> None:
    pins = dict(pin.split("==") for pin in pinned_dependencies())
    for name in ("aws-lambda-powertools", "kafka-python", "pydantic", "pydantic-core", "pyyaml"):
        assert pins[name] == metadata.version(name)
    assert "boto3" not in pins
    assert "botocore" not in pins


@pytest.mark.parametrize(
    ("requirement", "extras", "applies"),
    [
        ("pydantic-core==2.50.5", frozenset(), True),
        ("aws-xray-sdk<3,>=2.8; extra == 'tracer'", frozenset({"tracer"}), True),  # an extra asked for
        ("aws-xray-sdk<3,>=2.8; extra == 'tracer'", frozenset(), False),
        ("tzdata; platform_system == 'Windows'", frozenset(), False),  # Lambda runs Linux
        ("exceptiongroup; python_version < '3.11'", frozenset(), False),  # the runtime's Python is newer
        ("uvloop; platform_machine == 'aarch64'", frozenset(), True),  # arm64
    ],
)
def test_requirements_are_evaluated_for_the_lambda_runtime(
    requirement: str, extras: frozenset[str], applies: bool
) -> None:
    assert applies_in_lambda(Requirement(requirement), extras) is applies


def test_asset_hash_follows_the_content_not_the_machine(write_config: WriteConfig) -> None:
    pins = pinned_dependencies()
    same = source_fingerprint(EXAMPLE_CONFIG, pins)
    assert same == source_fingerprint(EXAMPLE_CONFIG, list(pins))
    changed = example_settings()
    changed["dry_run"] = True
    assert source_fingerprint(write_config(changed), pins) != same
    assert source_fingerprint(EXAMPLE_CONFIG, []) != same


def build_with(config_file: Path | None, tmp_path: Path) -> None:
    context = {"bundle_dependencies": "false", **({"config": str(config_file)} if config_file else {})}
    app.build(cdk.App(outdir=str(tmp_path), context=context))


def test_a_broken_configuration_fails_with_the_configurations_message(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    broken = example_settings()
    broken["brokers"]["min_brokers"] = 4
    config_file = write_config(broken)
    with pytest.raises(ConfigError) as raised:
        build_with(config_file, tmp_path)
    assert str(raised.value) == (
        f"{config_file}: 1 problem(s) in the configuration:\n"
        "  - brokers: min_brokers (4) is not a multiple of az_count (3); "
        "MSK keeps the same number of brokers in every availability zone"
    )


def test_deploying_needs_the_network_settings(write_config: WriteConfig, tmp_path: Path) -> None:
    settings = example_settings()
    del settings["cluster"]["network"]
    with pytest.raises(ConfigError, match=r"cluster.network: required to deploy"):
        build_with(write_config(settings), tmp_path)


def test_the_config_context_is_required(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config: missing; name the configuration file"):
        build_with(None, tmp_path)
