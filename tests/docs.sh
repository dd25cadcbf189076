#!/usr/bin/env bash
# Documentation of every plugin (make docs): ansible-doc renders each module, filter and
# inventory plugin found under plugins/, and the EXAMPLES of each are checked:
#   modules, filters    the examples become the tasks of a play: `ansible-playbook --syntax-check`;
#                       filter examples that only use debug/set_fact/assert and read no
#                       files also run, on localhost
#   inventory plugins   each example document is a configuration file: it must name the plugin
#                       by FQCN and use only documented options
# The roles' argument specs must render too (roles have no EXAMPLES).
set -euo pipefail
cd "$(dirname "$0")/.."
checkout=$PWD
bin=$checkout/.venv/bin
export ANSIBLE_CONFIG=$checkout/ansible.cfg
export ANSIBLE_COLLECTIONS_PATH=$checkout/.collections
# Only this collection and ansible.builtin: the `ansible` bundle in the venv is not needed here
# and scanning it makes every ansible-doc call slower.
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false
# Any warning while rendering (a broken doc fragment, a missing docs file) fails the check.
export ANSIBLE_DEPRECATION_WARNINGS=true

work=$(mktemp -d -t convox-docs.XXXXXX)
trap 'rm -rf "$work"' EXIT

# Discover the plugins from the tree, so a new plugin is covered without editing this file.
plugins=()
for file in plugins/modules/*.py; do
  name=$(basename "$file" .py)
  [[ $name == __init__ ]] || plugins+=("module convox.volumes.$name")
done
for file in plugins/inventory/*.py; do
  name=$(basename "$file" .py)
  [[ $name == __init__ ]] || plugins+=("inventory convox.volumes.$name")
done
for file in roles/*/meta/argument_specs.yml; do
  [[ -e $file ]] && plugins+=("role convox.volumes.$(basename "$(dirname "$(dirname "$file")")")")
done
# Filters: every name a filter plugin file exports, and every documentation file of one.
mapfile -t filters < <(
  {
    "$bin/ansible-doc" -t filter --list --json convox.volumes \
      | "$bin/python" -c 'import json, sys; print("\n".join(json.load(sys.stdin)))'
    for file in plugins/filter/*.yml plugins/filter/*.yaml; do
      [[ -e $file ]] && echo "convox.volumes.$(basename "${file%.*}")"
    done
  } | sort -u
)
for name in "${filters[@]}"; do
  plugins+=("filter $name")
done

failures=0
fail() { echo "docs: FAIL $*"; failures=$((failures + 1)); }

for entry in "${plugins[@]}"; do
  read -r type name <<<"$entry"
  json=$work/$name.$type.json
  if ! "$bin/ansible-doc" -t "$type" "$name" >"$work/$name.txt" 2>"$work/$name.err" \
      || grep -q . "$work/$name.err"; then
    fail "$type $name: ansible-doc did not render it cleanly:"
    sed 's/^/    /' "$work/$name.err"
    continue
  fi
  if [[ $type == role ]]; then
    echo "docs: role $name: its argument specs render"
    continue
  fi
  "$bin/ansible-doc" -t "$type" --json "$name" >"$json"
  if ! "$bin/python" tests/docs_examples.py "$type" "$name" "$json" "$work"; then
    fail "$type $name: EXAMPLES"
  fi
done

echo "docs: ${#plugins[@]} plugins and roles checked, $failures failed"
((failures == 0))
