#!/usr/bin/env bash
# `cdk synth` through the CDK command line pinned in package.json, as on a fresh machine with no AWS
# account and no Docker, with the real bundling of the code asset (pip, manylinux aarch64 wheels).
# Then: cfn-lint on the template, checks of the code asset (printed with its size), and a broken
# configuration must fail synth with the configuration's own message.
# Usage: scripts/cdk-synth.sh [CONFIG]    (default examples/autoscaler.yaml)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
config="${1:-examples/autoscaler.yaml}"

export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="$(node -p 'process.versions.node.split(".")[0]')"
# No AWS account here: do not probe instance metadata, report usage or fetch notices.
export AWS_EC2_METADATA_DISABLED=true CDK_DISABLE_VERSION_CHECK=1 CDK_DISABLE_CLI_TELEMETRY=true
cdk=(npx --no-install cdk --no-notices --no-version-reporting)
if [[ ! -x node_modules/.bin/cdk ]]; then
    npm ci --no-audit --no-fund --loglevel=error
fi

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

echo "-- cdk synth -c config=$config"
start=$(date +%s%N)
"${cdk[@]}" synth -c "config=$config" --output "$out/cdk.out" --quiet
echo "synth took $(( ($(date +%s%N) - start) / 1000000 )) ms"

echo "-- cfn-lint"
.venv/bin/cfn-lint "$out"/cdk.out/*.template.json

echo "-- code asset"
.venv/bin/python -m stacks.asset_check "$out/cdk.out" "$config"

echo "-- a broken configuration fails synth with its own message"
broken="$out/broken.yaml"
sed 's/^  min_brokers: .*/  min_brokers: 4/' examples/autoscaler.yaml >"$broken"
if "${cdk[@]}" synth -c "config=$broken" --output "$out/broken.out" --quiet >"$out/broken.log" 2>&1; then
    echo "synth of $broken succeeded; it must fail" >&2
    exit 1
fi
if ! grep -q "min_brokers (4) is not a multiple of az_count (3)" "$out/broken.log"; then
    echo "synth of $broken failed without the configuration's message:" >&2
    cat "$out/broken.log" >&2
    exit 1
fi
grep "min_brokers" "$out/broken.log"
echo "cdk synth: ok"
