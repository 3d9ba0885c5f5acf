"""The policy is pure: no AWS SDK, no Kafka client, no clock, no environment."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import kafka_autoscaler.policy as policy_package

POLICY_DIR = Path(policy_package.__file__).parent
FORBIDDEN_MODULES = {"boto3", "botocore", "kafka", "time", "os", "random", "socket", "subprocess"}
FORBIDDEN_CALLS = {("datetime", "now"), ("datetime", "utcnow"), ("date", "today"), ("datetime", "today")}


def impure_uses(source: str) -> list[str]:
    """Imports of I/O or clock modules, and clock reads, in one module's source."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        found += [f"import {n}" for n in names if n.split(".")[0] in FORBIDDEN_MODULES]
        is_clock_read = (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and (node.value.id, node.attr) in FORBIDDEN_CALLS
        )
        if is_clock_read:
            found.append(f"{node.value.id}.{node.attr}")  # type: ignore[attr-defined]
    return found


def test_policy_sources_import_nothing_impure() -> None:
    offenders = {
        path.name: uses
        for path in sorted(POLICY_DIR.glob("*.py"))
        if (uses := impure_uses(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}


def test_policy_package_loads_with_io_modules_blocked() -> None:
    """Importing the policy (and all it pulls in) must not need boto3, botocore or kafka."""
    script = (
        "import sys\n"
        "for name in ('boto3', 'botocore', 'kafka'):\n"
        "    sys.modules[name] = None\n"
        "import kafka_autoscaler.policy\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'kafka') and sys.modules[m]]\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_purity_check_catches_impure_sources() -> None:
    """The check is not vacuous: each of these would fail the policy."""
    assert impure_uses("import time\nt = time.time()\n") == ["import time"]
    assert impure_uses("from datetime import datetime\nnow = datetime.now()\n") == ["datetime.now"]
    assert impure_uses("import boto3\n") == ["import boto3"]
    assert impure_uses("from kafka.admin import KafkaAdminClient\n") == ["import kafka.admin"]
    assert impure_uses("import os\nx = os.environ\n") == ["import os"]
