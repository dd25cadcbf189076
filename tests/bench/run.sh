#!/usr/bin/env bash
# Benchmarks: not tests, not in CI. Each prints the figures it measured side by side.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tests/bench/layout.sh
bash tests/bench/fleet.sh
bash tests/bench/clean.sh
bash tests/bench/mount.sh
