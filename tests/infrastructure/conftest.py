"""Fixtures for the CDK app: each configuration is synthesized once per session and shared."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from cdk_support import EXAMPLE_CONFIG, Synthesized, WriteConfig, synthesize, variant_settings


@pytest.fixture(scope="session")
def write_config(tmp_path_factory: pytest.TempPathFactory) -> WriteConfig:
    """Writes settings to a fresh YAML file and returns its path."""

    def write(settings: dict[str, Any]) -> Path:
        path = tmp_path_factory.mktemp("config") / "autoscaler.yaml"
        path.write_text(yaml.safe_dump(settings), encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def example(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """examples/autoscaler.yaml: new encrypted topic, IAM auth, the scaler's storage policy, topics bound."""
    return synthesize(EXAMPLE_CONFIG, tmp_path_factory.mktemp("example"))


@pytest.fixture(scope="session")
def variant(tmp_path_factory: pytest.TempPathFactory, write_config: WriteConfig) -> Synthesized:
    """variant_settings(): every other branch of the configuration."""
    return synthesize(write_config(variant_settings()), tmp_path_factory.mktemp("variant"))
