#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: contributors to the convox.volumes collection
#
# What `make testbed` runs: bring the NFS test bed up, run the tests on it, and always tear
# it down again. Extra arguments go to pytest (e.g. -k migrate). Set CONVOX_TESTBED_KEEP=1
# to leave the bed running afterwards (then `make testbed-down`).
set -euo pipefail
cd "$(dirname "$0")/../.."

started=$SECONDS
teardown() {
  local status=$?
  if [[ ${CONVOX_TESTBED_KEEP:-0} == 1 ]]; then
    echo "testbed: left running (CONVOX_TESTBED_KEEP=1); 'make testbed-down' stops it"
  else
    bash tests/testbed/bed.sh down || true
  fi
  echo "testbed: finished in $((SECONDS - started)) s (exit $status)"
  exit "$status"
}
trap teardown EXIT

bash tests/testbed/bed.sh up
echo "testbed: up after $((SECONDS - started)) s"
.venv/bin/pytest tests/testbed -p no:cacheprovider --durations=0 "$@"
