#!/usr/bin/env bash
# Every test, fast checks first. Called by `make test` (and so by .ci/run).
set -uo pipefail
cd "$(dirname "$0")/.."

started=$SECONDS
stage() {
  local name=$1; shift
  echo
  echo "=== $name ($((SECONDS - started)) s since start)"
  if ! make --no-print-directory "$@"; then
    echo
    echo "FAILED at stage '$name' after $((SECONDS - started)) s: fix it and run 'make $*' again."
    exit 1
  fi
}

stage "lint" lint
stage "documentation" docs
stage "unit tests" unit
stage "integration tests on localhost and moto" integration
stage "ansible-test sanity and units" sanity
stage "built collection artifact" build-check
stage "NFS test bed: moto, nfs-ganesha, User-Mode Linux guests" testbed
stage "Molecule scenarios" molecule

echo
echo "=== all stages passed in $((SECONDS - started)) s"
