#!/usr/bin/env bash
# Benchmark of convox_efs_mount on the NFS test bed (tests/bench/mount.yml); prints the ratio.
# Uses a bed that is already up, or brings one up and takes it down again afterwards.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! bash tests/testbed/bed.sh status >/dev/null 2>&1; then
  trap 'bash tests/testbed/bed.sh down' EXIT
  bash tests/testbed/bed.sh up
fi
export ANSIBLE_CONFIG=$PWD/ansible.cfg ANSIBLE_COLLECTIONS_PATH=$PWD/.collections
output=$(mktemp)
if ! .venv/bin/ansible-playbook -i tests/testbed/work/inventory.yml tests/bench/mount.yml "$@" \
    >"$output" 2>&1; then
  tail -n 40 "$output"
  rm -f "$output"
  echo "bench: the mount benchmark failed (its output above)" >&2
  exit 1
fi
sed -n '/TASK \[Print the figures\]/,$p' "$output"
rm -f "$output"
