#!/usr/bin/env bash
# Static checks of the whole checkout (make lint): yamllint, ansible-lint with the production
# profile, shellcheck, and the changelog fragments. Configuration: .yamllint, .ansible-lint.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
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
# The shell scripts, as ansible-test sanity checks them (its exclusions: SC1090 and SC1091,
# sourced files it cannot follow; SC2028, echo with backslashes), here in seconds rather than
# minutes into the run. .ci/run has no .sh suffix, so sanity would not see it.
mapfile -t shell_scripts < <(
  find . \( -path ./.venv -o -path ./.collections -o -path ./.cache -o -path ./.git \
    -o -path ./tests/output -o -path ./tests/testbed/work \) -prune -o -name '*.sh' -print | sort
)
run shellcheck shellcheck --exclude SC1090,SC1091,SC2028 "${shell_scripts[@]}" .ci/run
run changelog bash tests/changelog.sh

if ((${#failed[@]})); then
  echo "lint: FAILED: ${failed[*]}"
  exit 1
fi
