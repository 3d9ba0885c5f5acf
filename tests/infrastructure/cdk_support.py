"""Helpers for the CDK app's tests: synthesize a configuration the way `cdk synth` does.

The code asset is built without its third-party packages here (fast); scripts/cdk-synth.sh builds
the real one through the CDK command line.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = REPO_ROOT / "examples" / "autoscaler.yaml"
# app.py and stacks/ live at the repository root, which pytest does not put on sys.path.
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

import aws_cdk as cdk  # noqa: E402
from aws_cdk.assertions import Template  # noqa: E402

import app  # noqa: E402
from stacks.autoscaler_stack import AutoscalerStack  # noqa: E402

WriteConfig = Callable[[dict[str, Any]], Path]


@dataclass(frozen=True)
class Synthesized:
    stack: AutoscalerStack
    template: Template
    outdir: Path

    def resources(self, resource_type: str) -> dict[str, Any]:
        return dict(self.template.find_resources(resource_type))


def synthesize(config_file: Path, outdir: Path) -> Synthesized:
    """The app as `cdk synth -c config=FILE` builds it (cdk-nag included), with the light asset."""
    application = cdk.App(outdir=str(outdir), context={"config": str(config_file), "bundle_dependencies": "false"})
    stack = app.build(application)
    return Synthesized(stack, Template.from_stack(stack), outdir)


def example_settings() -> dict[str, Any]:
    settings: dict[str, Any] = yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    return settings


def variant_settings() -> dict[str, Any]:
    """Every other branch at once: existing topic, SCRAM, AWS storage auto scaling, brokers off,
    a group without topics and one with more topics than an alarm's math can take."""
    settings = example_settings()
    settings["cluster"]["auth"] = {
        "mechanism": "scram",
        "scram_secret_arn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:AmazonMSK_scaler-AbCdEf",
    }
    settings["notifications"] = {"sns_topic_arn": "arn:aws:sns:eu-west-1:123456789012:platform-alerts", "emails": []}
    settings["storage"]["mode"] = "aws_target_tracking"
    settings["brokers"]["enabled"] = False
    settings["schedule"] = {"rate_minutes": 5}
    settings["consumers"][0]["topics"] = []
    settings["consumers"][1]["topics"] = [f"audit-{index}" for index in range(11)]
    return settings
