"""The Lambda code asset, bundled on this machine without Docker.

The asset holds the `kafka_autoscaler` package (no tests, no caches), the configuration file at its
root, and the package's dependencies as manylinux wheels for the Lambda runtime. The dependency
versions are the ones installed here (the versions the tests ran against), pinned with their whole
closure and installed with `--no-deps`, so the same tree always gives the same asset.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any, Final

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling, aws_lambda
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from stacks import names

PACKAGE_NAME: Final = "kafka_autoscaler"
DISTRIBUTION: Final = "kafka-autoscaler"
REPO_ROOT: Final = Path(__file__).resolve().parent.parent
PACKAGE_DIR: Final = REPO_ROOT / "lambdas" / PACKAGE_NAME
# The Lambda Python runtime ships boto3 and botocore (with their own dependencies): not bundled.
PROVIDED_BY_RUNTIME: Final = frozenset({"boto3", "botocore"})
# The CPU of the Lambda runtime, as wheels and compiled modules name it.
MACHINE: Final = names.PIP_PLATFORM.split("_", 1)[1]
# Never shipped: byte code of this machine's Python and test leftovers.
IGNORED: Final = ("__pycache__", "*.pyc", "*.pyo", ".pytest_cache", ".mypy_cache", "tests")


class BundlingError(Exception):
    """The code asset cannot be built (a dependency is missing here, or pip failed)."""


def runtime_python_version() -> str:
    """'3.12' for Runtime.PYTHON_3_12: the Python the wheels are chosen for."""
    return names.RUNTIME.name.removeprefix("python")


def _target_environment() -> dict[str, str]:
    version = runtime_python_version()
    return {
        "python_version": version,
        "python_full_version": f"{version}.0",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "platform_machine": MACHINE,
        "platform_system": "Linux",
        "sys_platform": "linux",
        "os_name": "posix",
    }


def applies_in_lambda(requirement: Requirement, extras: frozenset[str]) -> bool:
    """Whether the requirement holds in Lambda, for a parent installed with these extras."""
    marker: Marker | None = requirement.marker
    environment = _target_environment()
    return marker is None or any(marker.evaluate({**environment, "extra": extra}) for extra in {"", *extras})


def pinned_dependencies(distribution: str = DISTRIBUTION) -> list[str]:
    """`name==version` for every package the distribution needs in Lambda, transitively, with extras.

    The versions are the installed ones: the asset runs what the tests ran.
    """
    pins: dict[str, str] = {}
    walked: set[tuple[str, frozenset[str]]] = set()
    pending: list[tuple[str, frozenset[str]]] = [(distribution, frozenset())]
    while pending:
        name, extras = pending.pop()
        if (name, extras) in walked:
            continue
        walked.add((name, extras))
        for text in metadata.requires(name) or []:
            requirement = Requirement(text)
            dependency = canonicalize_name(requirement.name)
            if dependency in PROVIDED_BY_RUNTIME or not applies_in_lambda(requirement, extras):
                continue
            if dependency not in pins:
                try:
                    pins[dependency] = metadata.version(dependency)
                except metadata.PackageNotFoundError:
                    raise BundlingError(f"'{requirement}' is needed in Lambda but not installed here") from None
            pending.append((dependency, frozenset(requirement.extras)))
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


def _package_files() -> Iterator[Path]:
    """The package's files as they are copied into the asset, in a stable order."""
    ignore = shutil.ignore_patterns(*IGNORED)
    for directory, subdirectories, files in os.walk(PACKAGE_DIR):
        ignored = ignore(directory, [*subdirectories, *files])
        subdirectories[:] = sorted(d for d in subdirectories if d not in ignored)
        yield from (Path(directory, f) for f in sorted(files) if f not in ignored)


def source_fingerprint(config_path: Path, dependencies: list[str]) -> str:
    """A hash of everything that goes into the asset: package sources, config, pins, runtime."""
    digest = hashlib.sha256()
    for part in (names.RUNTIME.name, names.PIP_PLATFORM, *dependencies):
        digest.update(part.encode() + b"\0")
    for path in _package_files():
        digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode() + b"\0" + path.read_bytes())
    digest.update(config_path.read_bytes())
    return digest.hexdigest()


def pip_install(
    requirements: list[str], target: Path, *, platform: str, python_version: str, with_dependencies: bool = False
) -> None:
    """Install wheels for `platform` and `python_version` (not this machine's) into `target`."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        *([] if with_dependencies else ["--no-deps"]),
        "--no-compile",
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--platform",
        platform,
        "--python-version",
        python_version,
        "--target",
        str(target),
        *requirements,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BundlingError(f"pip could not fetch {', '.join(requirements)}:\n{result.stderr.strip()}")
    # Entry-point scripts are of no use in Lambda.
    shutil.rmtree(target / "bin", ignore_errors=True)


def build_asset(
    output: Path,
    config_path: Path,
    dependencies: list[str],
    *,
    platform: str = names.PIP_PLATFORM,
    python_version: str | None = None,
) -> None:
    """The asset's content: the dependencies, the package without caches or tests, the config at the root."""
    if dependencies:
        pip_install(dependencies, output, platform=platform, python_version=python_version or runtime_python_version())
    shutil.copytree(PACKAGE_DIR, output / PACKAGE_NAME, ignore=shutil.ignore_patterns(*IGNORED))
    shutil.copyfile(config_path, output / names.CONFIG_FILE_NAME)


@jsii.implements(ILocalBundling)
class LocalBundler:
    """Builds the asset directory with pip on this machine (CDK local bundling: no Docker)."""

    def __init__(self, config_path: Path, dependencies: list[str]) -> None:
        self._config_path = config_path
        self._dependencies = dependencies

    def try_bundle(self, output_dir: str, *_options: Any, **_keyword_options: Any) -> bool:
        """Fill `output_dir`. The bundling options (image, command, ...) are Docker's: not used."""
        build_asset(Path(output_dir), self._config_path, self._dependencies)
        return True


def bundled_code(config_path: Path, *, with_dependencies: bool = True) -> aws_lambda.Code:
    """The code asset for both functions.

    `with_dependencies=False` leaves the third-party packages out: a fast asset for unit tests of
    the infrastructure, never for a deployment.
    """
    config_path = config_path.resolve()
    dependencies = pinned_dependencies() if with_dependencies else []
    return aws_lambda.Code.from_asset(
        str(PACKAGE_DIR.parent),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=source_fingerprint(config_path, dependencies),
        bundling=BundlingOptions(
            # Only used if local bundling declined, which it never does: it raises instead.
            image=DockerImage.from_registry("unused-local-bundling-only"),
            local=LocalBundler(config_path, dependencies),
        ),
    )
