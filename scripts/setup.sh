#!/usr/bin/env bash
# One-time set-up on a fresh machine (safe to run again): a Python virtualenv with the
# package and its tools, the Apache Kafka jars for the local cluster, and the CDK command line.
# Needs: python3 (3.11+), Java 17+, Maven, Node.js 18+ with npm.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

python="${PYTHON:-python3}"
if [[ ! -x .venv/bin/python ]]; then
    "$python" -m venv .venv
fi
stamp=.venv/.requirements-installed
if [[ ! -f $stamp || requirements.txt -nt $stamp || requirements-dev.txt -nt $stamp || pyproject.toml -nt $stamp ]]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -r requirements-dev.txt
    .venv/bin/python -m pip install --quiet --no-deps -e .
    touch "$stamp"
fi

bash local-kafka/fetch.sh

if [[ -f package-lock.json && ( ! -d node_modules || package-lock.json -nt node_modules ) ]]; then
    npm ci --no-audit --no-fund --loglevel=error
    touch node_modules
fi
echo "Set-up done. Try: .venv/bin/kafka-autoscaler demo"
