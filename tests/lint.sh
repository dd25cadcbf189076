#!/usr/bin/env bash
# Static checks of the whole checkout (make lint): yamllint, ansible-lint with the production
# profile, and the changelog fragments. Configuration: .yamllint, .ansible-lint.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/.venv/bin
export ANSIBLE_CONFIG=$PWD/ansible.cfg
export ANSIBLE_COLLECTIONS_PATH=$PWD/.collections

failed=()
run() {
  local name=$1; shift
  local started=$SECONDS
  echo "lint: $name"
  if "$@"; then
    echo "lint: $name passed in $((SECONDS - started)) s"
  else
    echo "lint: $name FAILED"
    failed+=("$name")
  fi
}

run yamllint "$bin/yamllint" --strict .
# ansible-lint warns when PATH holds the venv twice (make already put it first).
run ansible-lint "$bin/ansible-lint" --nocolor
run changelog bash tests/changelog.sh

if ((${#failed[@]})); then
  echo "lint: FAILED: ${failed[*]}"
  exit 1
fi
