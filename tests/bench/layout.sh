#!/usr/bin/env bash
# Benchmark of the volume layout (tests/bench/layout.yml) in a temporary root; prints ratios.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(mktemp -d -t convox-bench-layout.XXXXXX)
trap 'rm -rf "$root"' EXIT
export ANSIBLE_CONFIG=$PWD/ansible.cfg ANSIBLE_COLLECTIONS_PATH=$PWD/.collections
.venv/bin/ansible-playbook -i localhost, tests/bench/layout.yml -e "bench_root=$root" \
  | sed -n '/TASK \[Print the figures\]/,$p'
