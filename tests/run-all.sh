#!/usr/bin/env bash
# Every test, fast checks first. Called by `make test` (and so by .ci/run).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

started=$SECONDS
logs=tests/output/stages
mkdir -p "$logs"
stage() {
  local name=$1; shift
  local log="$logs/$1.log"
  echo
  echo "=== $name ($((SECONDS - started)) s since start)"
  if ! make --no-print-directory "$@" 2>&1 | tee "$log"; then
    echo
    # CI keeps only the end of the output: repeat what failed, so that it is seen there.
    echo "--- what failed in stage '$name' (whole output: $log)"
    grep -E 'fatal: |FAILED|failed=[1-9]|Error|ERROR|assert' "$log" | grep -v '^ok:' | tail -n 40
    echo
    echo "FAILED at stage '$name' after $((SECONDS - started)) s: fix it and run 'make $*' again."
    exit 1
  fi
}

# The quick checks first: lint, docs, unit and build-check take about a minute together on 2
# cores, so a mistake there stops the run at once. Then the slow stages.
stage "lint" lint
stage "documentation" docs
stage "unit tests" unit
stage "built collection artifact" build-check
stage "integration tests on localhost and moto" integration
stage "ansible-test sanity and units" sanity
stage "NFS test bed: moto, nfs-ganesha, User-Mode Linux guests" testbed
stage "Molecule scenarios" molecule

echo
echo "=== all stages passed in $((SECONDS - started)) s"
