"""Checks of a built code asset: its content, and that the handlers import as Lambda would load them.

    python -m stacks.asset_check CDK_OUT_DIR CONFIG_FILE

prints the asset's size, then each problem, and exits 1 if there is one. scripts/cdk-synth.sh runs it
on the real asset.
"""

from __future__ import annotations

import io
import platform
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from stacks import names
from stacks.bundling import IGNORED, MACHINE, PACKAGE_NAME, build_asset, pinned_dependencies, pip_install

# Imports the handler modules and reads the configuration as the handler does at cold start, with
# nothing on sys.path but the task root, the runtime's SDK and the standard library.
PROBE = """
import importlib, os, sys
task_root, sdk, *modules = sys.argv[1:]
sys.path[:0] = [task_root, sdk]
for module in modules:
    importlib.import_module(module)
from kafka_autoscaler.config import load_config
load_config(os.path.join(os.environ["LAMBDA_TASK_ROOT"], os.environ["AUTOSCALER_CONFIG_FILE"]))
"""


def handler_modules() -> list[str]:
    return [handler.rsplit(".", 1)[0] for handler in (names.SCALER_HANDLER, names.REBALANCER_HANDLER)]


def missing_handlers(asset_dir: Path) -> list[str]:
    """Handler modules the functions name that the asset does not contain."""
    return [module for module in handler_modules() if not (asset_dir / (module.replace(".", "/") + ".py")).is_file()]


# ELF e_machine codes (the System V ABI's list): what a shared object was compiled for.
ELF_MACHINES = {"aarch64": 183, "x86_64": 62}


def _built_for_lambda(path: Path) -> bool:
    """Whether a shared object is an ELF file for the Lambda architecture, read from its header.

    The name says nothing for vendored libraries (numpy.libs/libscipy_openblas64_-*.so).
    """
    with path.open("rb") as file:
        header = file.read(20)
    if header[:4] != b"\x7fELF":
        return False
    little_endian = header[5] == 1
    machine = int.from_bytes(header[18:20], "little" if little_endian else "big")
    return machine == ELF_MACHINES[MACHINE]


def asset_problems(asset_dir: Path, *, with_dependencies: bool) -> list[str]:
    """What is wrong with a built code asset, one sentence each; empty when it is fit to deploy."""
    problems: list[str] = []
    if not (asset_dir / names.CONFIG_FILE_NAME).is_file():
        problems.append(f"{names.CONFIG_FILE_NAME} is not at the asset root")
    if not (asset_dir / PACKAGE_NAME / "__init__.py").is_file():
        problems.append(f"the {PACKAGE_NAME} package is missing")
    leftovers = [
        *(path for pattern in IGNORED if pattern != "tests" for path in asset_dir.rglob(pattern)),
        *(asset_dir / PACKAGE_NAME).rglob("tests"),
    ]
    if leftovers:
        listed = ", ".join(str(path.relative_to(asset_dir)) for path in leftovers[:5])
        problems.append(f"caches or tests in the asset: {listed}")
    if with_dependencies:
        installed = {path.name.lower() for path in asset_dir.glob("*.dist-info")}
        for pin in pinned_dependencies():
            name, version = pin.split("==")
            if f"{name.replace('-', '_')}-{version}.dist-info" not in installed:
                problems.append(f"dependency {pin} is not installed in the asset")
        foreign = [path.name for path in asset_dir.rglob("*.so*") if path.is_file() and not _built_for_lambda(path)]
        if foreign:
            problems.append(f"compiled modules not built for {MACHINE}: {', '.join(foreign)}")
    return problems


def import_problems(config_path: Path, workdir: Path) -> list[str]:
    """Import the handlers from a twin of the asset built for this machine (same pins, same files).

    Only the twin, the runtime's boto3 and the standard library are importable: a package the
    handlers use but pyproject.toml does not declare fails here instead of in Lambda.
    """
    host_platform = f"manylinux2014_{platform.machine()}"
    host_python = f"{sys.version_info.major}.{sys.version_info.minor}"
    task_root, sdk = workdir / "task", workdir / "runtime-sdk"
    build_asset(task_root, config_path, pinned_dependencies(), platform=host_platform, python_version=host_python)
    boto3 = f"boto3=={metadata.version('boto3')}"
    pip_install([boto3], sdk, platform=host_platform, python_version=host_python, with_dependencies=True)
    present = [module for module in handler_modules() if module not in missing_handlers(task_root)]
    environment = {
        "LAMBDA_TASK_ROOT": str(task_root),
        names.ENV_CONFIG_FILE: names.CONFIG_FILE_NAME,
        # Powertools behaves as in Lambda (the tracer loads the X-Ray SDK, for one).
        "AWS_LAMBDA_FUNCTION_NAME": "asset-check",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    command = [sys.executable, "-I", "-S", "-c", PROBE, str(task_root), str(sdk), *present]
    result = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
    if result.returncode != 0:
        last_line = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        return [f"the handlers cannot start from the asset alone: {last_line}"]
    return []


def zipped_size(asset_dir: Path) -> int:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in sorted(asset_dir.rglob("*")):
            if path.is_file():
                zipped.write(path, path.relative_to(asset_dir))
    return len(archive.getvalue())


def main(argv: Sequence[str]) -> int:
    cdk_out, config_path = Path(argv[0]), Path(argv[1])
    (asset,) = cdk_out.glob("asset.*")
    files = [path for path in asset.rglob("*") if path.is_file()]
    size = sum(path.stat().st_size for path in files)
    print(f"code asset: {len(files)} files, {size / 2**20:.1f} MiB, {zipped_size(asset) / 2**20:.1f} MiB zipped")
    for module in missing_handlers(asset):
        print(f"warning: handler module {module} is not in the package yet")
    with tempfile.TemporaryDirectory() as workdir:
        problems = asset_problems(asset, with_dependencies=True) + import_problems(config_path, Path(workdir))
    for problem in problems:
        print(f"problem: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
