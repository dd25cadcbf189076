#!/usr/bin/env bash
# Benchmark of convox_volume_clean (tests/bench/clean.yml) in a temporary root; prints ratios.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(mktemp -d -t convox-bench-clean.XXXXXX)
trap 'rm -rf "$root"' EXIT
export ANSIBLE_CONFIG=$PWD/ansible.cfg ANSIBLE_COLLECTIONS_PATH=$PWD/.collections
.venv/bin/ansible-playbook -i localhost, tests/bench/clean.yml -e "bench_root=$root" \
  | sed -n '/TASK \[Print the figures\]/,$p'
