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
.venv/bin/ansible-playbook -i tests/testbed/work/inventory.yml tests/bench/mount.yml "$@" \
  | sed -n '/TASK \[Print the figures\]/,$p'
