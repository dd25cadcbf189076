#!/usr/bin/env bash
# The built artifact works, not only the checkout (make build-check): build the collection with
# `ansible-galaxy collection build`, install the tarball into an empty collections path, and run
# a playbook from outside the checkout that uses the collection by FQCN from there only.
set -euo pipefail
cd "$(dirname "$0")/.."
checkout=$PWD
bin=$checkout/.venv/bin

work=$(mktemp -d -t convox-build.XXXXXX)
trap '[[ -n ${BUILD_CHECK_KEEP:-} ]] || rm -rf "$work"' EXIT

"$bin/ansible-galaxy" collection build --output-path "$work/dist" "$checkout" >/dev/null
tarball=$(echo "$work"/dist/convox-volumes-*.tar.gz)
[[ -f $tarball ]] || { echo "build-check: ansible-galaxy built no tarball"; exit 1; }
echo "build-check: built $(basename "$tarball") ($(du -k "$tarball" | cut -f1) KiB)"

# Nothing from the checkout's working state may ship.
leaked=$(tar -tzf "$tarball" | grep -E '(^|/)(\.venv|\.collections|\.ansible|\.git|tests/output|tests/testbed/work|__pycache__)(/|$)' \
  | head -n 5 || true)
[[ -z $leaked ]] || { echo "build-check: the tarball holds working files:"; echo "$leaked"; exit 1; }

# Install offline: the collection declares no dependencies, so nothing is fetched. --force,
# because ansible-galaxy otherwise sees the checkout's link on the configured collections path
# and skips the install as "already installed".
"$bin/ansible-galaxy" collection install --offline --no-deps --force -p "$work/collections" \
  "$tarball" >"$work/install.log" 2>&1 || { cat "$work/install.log"; exit 1; }
[[ -f $work/collections/ansible_collections/convox/volumes/MANIFEST.json ]] \
  || { echo "build-check: the tarball was not installed:"; cat "$work/install.log"; exit 1; }
echo "build-check: installed into $work/collections"

# What ansible-builder would put into an execution environment from the installed copy.
"$bin/ansible-builder" introspect --sanitize "$work/collections" >"$work/introspect.yml"
"$bin/python" - "$work/introspect.yml" <<'PY'
import sys
import yaml

data = yaml.safe_load(open(sys.argv[1]))
python = " ".join(data.get("python") or [])
system = " ".join(data.get("system") or [])
wanted = {"boto3 with a range": "boto3>=" in python and "<" in python,
          "nfs-common on Debian": "nfs-common [platform:dpkg]" in system,
          "nfs-utils on RedHat": "nfs-utils [platform:rpm]" in system}
missing = [what for what, found in wanted.items() if not found]
if missing:
    sys.exit(f"build-check: execution environment dependencies lack {', '.join(missing)}: {data}")
print("build-check: ansible-builder introspect finds boto3 and the NFS client")
PY

# Run from a directory outside the checkout, with a configuration that knows only the
# installed copy: no ansible.cfg of the checkout, no `library` path, no scan of the venv's
# bundled collections.
mkdir -p "$work/run"
cat >"$work/run/ansible.cfg" <<CFG
[defaults]
collections_path = $work/collections
interpreter_python = $bin/python
stdout_callback = default
CFG
cat >"$work/run/playbook.yml" <<'PLAYBOOK'
---
- name: Use the installed collection by FQCN
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    root: "{{ lookup('ansible.builtin.env', 'BUILD_CHECK_ROOT') }}"
  tasks:
    - name: Lay out one app
      convox.volumes.convox_volume:
        rack: r1
        app: a1
        root: "{{ root }}"
        services:
          web: [/data, /srv/cache/]
      register: first

    - name: Lay out the same app again
      convox.volumes.convox_volume:
        rack: r1
        app: a1
        root: "{{ root }}"
        services:
          web: [/data, /srv/cache/]
      register: second

    - name: Stat the created directories
      ansible.builtin.stat:
        path: "{{ root }}/r1-a1/web/{{ item }}"
      loop: [data, srv/cache]
      register: created

    - name: The module created the tree once, the filter agrees with it
      ansible.builtin.assert:
        that:
          - first is changed
          - second is not changed
          - created.results | map(attribute='stat.isdir') | list == [true, true]
          - >-
            '/data' | convox.volumes.volume_path(rack='r1', app='a1', service='web', root=root)
            == root ~ '/r1-a1/web/data'
PLAYBOOK

mkdir -p "$work/root"
(
  cd "$work/run"
  env -u ANSIBLE_COLLECTIONS_PATH -u ANSIBLE_LIBRARY \
    ANSIBLE_CONFIG="$work/run/ansible.cfg" ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false \
    BUILD_CHECK_ROOT="$work/root" \
    "$bin/ansible-playbook" -i localhost, playbook.yml
)
# The modules really came from the installed copy.
[[ -f $work/collections/ansible_collections/convox/volumes/plugins/modules/convox_volume.py ]]
echo "build-check: the installed artifact ran convox.volumes.convox_volume and volume_path"

# The main job by its FQCN from the installed copy: its plays find their shared vars file
# (playbooks/vars/layout.yml) there, and a bad entry stops it before anything is created.
provision() {
  (
    cd "$work/run"
    env -u ANSIBLE_COLLECTIONS_PATH -u ANSIBLE_LIBRARY \
      ANSIBLE_CONFIG="$work/run/ansible.cfg" ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false \
      "$bin/ansible-playbook" -i localhost, -c local convox.volumes.provision \
      -e convox_volumes_target=local -e "convox_volumes_root=$work/local" -e "$1"
  ) >"$work/provision.log" 2>&1
}
if provision '{"convox_apps": [{"name": "a1", "services": {"web": ["/x/../y"]}}]}' \
  || ! grep -q "has a '..' component" "$work/provision.log" || [[ -e $work/local ]]; then
  cat "$work/provision.log"
  echo "build-check: a bad entry did not stop provision before anything was created"
  exit 1
fi
provision '{"convox_apps": [{"name": "a1", "services": {"web": ["/data"]}}]}' \
  || { cat "$work/provision.log"; echo "build-check: convox.volumes.provision failed"; exit 1; }
[[ -d $work/local/a1/web/data ]] \
  || { cat "$work/provision.log"; echo "build-check: provision laid out nothing"; exit 1; }
echo "build-check: convox.volumes.provision ran from the installed artifact and refused bad input"
