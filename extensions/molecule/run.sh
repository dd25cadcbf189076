#!/usr/bin/env bash
# The Molecule scenarios of the collection (make molecule).
#
# 1. Start Debian's docker.io engine by hand (no systemd here), on its own socket and data
#    directory so that it neither needs nor disturbs any other engine; stop it by PID at the end.
# 2. Build the base image of the `default` scenario by `docker import` of the shared root file
#    system tarball (no image registry can be reached); skip it when the image already matches.
# 3. `molecule test` each scenario, from the checkout root (collection mode: scenarios under
#    extensions/molecule/).
#
# Usage: extensions/molecule/run.sh [SCENARIO...]   (default: default local efs)
# Environment: CONVOX_MOLECULE_WORK  engine state and the efs scenario's bed
#                                    (default /var/tmp/convox-molecule)
#              CONVOX_TESTBED_NS, CONVOX_TESTBED_WORK  the bed the efs scenario brings up or
#                                    reuses (default: namespace convox-molecule, $work/bed)
set -euo pipefail
cd "$(dirname "$0")/../.."
checkout=$PWD

work=${CONVOX_MOLECULE_WORK:-/var/tmp/convox-molecule}
export CONVOX_MOLECULE_IMAGE=convox-volumes-molecule:bookworm
export DOCKER_HOST=unix://$work/docker.sock
export PATH=$checkout/.venv/bin:$PATH
export ANSIBLE_CONFIG=$checkout/ansible.cfg
export ANSIBLE_COLLECTIONS_PATH=$checkout/.collections
# community.docker and ansible.posix come from the `ansible` bundle in the venv (site-packages/
# ansible_collections), found through Python's path: Galaxy cannot be reached here.
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=true
# Molecule keeps each scenario's state (created, prepared, converged) under $ANSIBLE_HOME/tmp, in
# a directory named after the checkout's base name and the scenario. Under ~/.ansible, a checkout
# of the same name run before would lend its state: 'prepare' would be skipped as done already
# and the local scenario would run as a developer it never created. So Molecule gets a home of
# its own here, emptied before every run (main). One directory per scenario: every run of
# `molecule test -s NAME` also reads the default scenario's configuration and state, which must
# not be NAME's (a single MOLECULE_EPHEMERAL_DIRECTORY would make them one file).
export ANSIBLE_HOME=$work/ansible-home

# The efs scenario's NFS test bed gets its own network namespace and work directory, so that it
# never takes down a bed that someone else brought up (tests/testbed/ uses the defaults).
export CONVOX_TESTBED_NS=${CONVOX_TESTBED_NS:-convox-molecule}
export CONVOX_TESTBED_WORK=${CONVOX_TESTBED_WORK:-$work/bed}
# Plain logs in CI.
export NO_COLOR=1 PY_COLORS=0 ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0

log() { printf 'molecule: %s\n' "$*"; }

engine_pid=
start_engine() {
  mkdir -p "$work"
  if docker info >/dev/null 2>&1; then
    log "reusing the engine already listening on $DOCKER_HOST"
    return
  fi
  log "starting dockerd (data in $work/docker, log $work/dockerd.log)"
  dockerd --data-root "$work/docker" --exec-root "$work/exec" --pidfile "$work/dockerd.pid" \
    --host "$DOCKER_HOST" >"$work/dockerd.log" 2>&1 &
  engine_pid=$!
  local waited=0
  until docker info >/dev/null 2>&1; do
    if ! kill -0 "$engine_pid" 2>/dev/null || ((waited >= 60)); then
      log "dockerd did not start; last lines of $work/dockerd.log:"
      tail -n 20 "$work/dockerd.log"
      exit 1
    fi
    sleep 0.5
    waited=$((waited + 1))
  done
}

stop_engine() {
  [[ -n $engine_pid ]] || return 0
  log "stopping dockerd (pid $engine_pid)"
  kill "$engine_pid" 2>/dev/null || true
  wait "$engine_pid" 2>/dev/null || true
}

# The root file system tarball that tests/images/rootfs.sh builds once (and caches) for both
# the NFS test bed and this image. Prints the tarball's path.
rootfs_tarball() {
  local output
  output=$(bash tests/images/rootfs.sh) || { printf '%s\n' "$output" >&2; exit 1; }
  sed -n 's/^rootfs: tarball *//p' <<<"$output"
}

build_image() {
  local tarball digest current
  tarball=$(rootfs_tarball)
  [[ -s $tarball ]] || { log "tests/images/rootfs.sh gave no tarball"; exit 1; }
  digest=$(stat -c '%s-%Y' "$tarball")
  current=$(docker image inspect --format '{{ index .Config.Labels "rootfs" }}' \
    "$CONVOX_MOLECULE_IMAGE" 2>/dev/null || true)
  if [[ $current == "$digest" ]]; then
    log "image $CONVOX_MOLECULE_IMAGE is up to date with $tarball"
    return
  fi
  log "docker import $tarball as $CONVOX_MOLECULE_IMAGE"
  docker import --change 'CMD ["/sbin/init"]' --change "LABEL rootfs=$digest" \
    "$tarball" "$CONVOX_MOLECULE_IMAGE" >/dev/null
}

main() {
  local scenarios=("$@")
  ((${#scenarios[@]})) || scenarios=(default local efs)
  trap stop_engine EXIT
  local started=$SECONDS
  rm -rf "$ANSIBLE_HOME"
  start_engine
  build_image
  log "engine and image ready in $((SECONDS - started)) s"

  local failed=() scenario began
  for scenario in "${scenarios[@]}"; do
    began=$SECONDS
    log "=== scenario $scenario"
    if molecule test --scenario-name "$scenario"; then
      log "scenario $scenario passed in $((SECONDS - began)) s"
    else
      log "scenario $scenario FAILED after $((SECONDS - began)) s"
      failed+=("$scenario")
    fi
  done
  if ((${#failed[@]})); then
    log "failed scenarios: ${failed[*]}"
    exit 1
  fi
  log "all scenarios passed in $((SECONDS - started)) s"
}

main "$@"
