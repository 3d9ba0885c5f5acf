#!/usr/bin/env bash
# The whole test suite, as CI runs it: set-up (idempotent), linters, type checks, every test
# layer (unit, functional, infrastructure, integration on a real local Kafka), the CDK synth
# through the CDK command line, and a short benchmark.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1

bash scripts/setup.sh

echo "== lint and types"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy

echo "== tests"
.venv/bin/pytest -p no:cacheprovider "$@"

if [[ -x scripts/cdk-synth.sh ]]; then
    echo "== cdk synth"
    bash scripts/cdk-synth.sh
fi

echo "== quick benchmark"
.venv/bin/kafka-autoscaler bench --quick
