#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: contributors to the convox.volumes collection
#
# The NFS test bed: a rack of two real Linux instances mounting a real NFSv4.1 server that
# moto's EFS API describes as the rack's file system.
#
#   bed.sh up        bring everything up (idempotent: what runs already is kept); ~2 min cold
#   bed.sh down      stop guests, NFS servers and moto; delete the network namespace
#   bed.sh status    say what runs; exit 0 only when all of it does
#   bed.sh nfs-stop | nfs-start    stop or start the main NFS server (for failure tests)
#
# Parts (all addresses live in the network namespace $NS, which only this script creates;
# the one exception is moto on 127.0.0.1 in the host, for discovery on the controller):
#   bridge br0        10.77.1.10/24 (us-east-1a) and 10.77.2.10/24 (us-east-1b): the NFS server
#                     (also 10.77.1.11/24: the same server under another us-east-1a address)
#   nfs-ganesha       NFSv4.0-4.2, export "/" of $WORK/export, no root squash, port 2049;
#                     a second one exports $WORK/export-squash as "/" with root squash on port
#                     2050 (EFS without ClientRootAccess)
#   guest-a, guest-b  User-Mode Linux guests (kernel: tests/images/uml-kernel.sh) on taps of
#                     br0: 10.77.1.21 in us-east-1a and 10.77.2.21 in us-east-1b, no default
#                     route, root SSH with $WORK/id_ed25519
#   moto_server       127.0.0.1:<port in $WORK/run/moto.port>: a VPC, a subnet per AZ, an EFS
#                     file system tagged Rack=$RACK and named $RACK-shared-volumes, and a mount
#                     target per AZ whose IP is the server's address in that subnet
# Written for the tests and for use by hand:
#   $WORK/inventory.yml   the rack's hosts for ansible-playbook (SSH through `ip netns exec`)
#   $WORK/env.sh          AWS_* variables that point boto3 and the modules at moto
#   $WORK/aws.json        the ids moto gave (file system, subnets, mount targets)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CHECKOUT=$(cd "$HERE/../.." && pwd)
WORK=${CONVOX_TESTBED_WORK:-$HERE/work}
RUN=$WORK/run
NS=${CONVOX_TESTBED_NS:-convox-bed}
RACK=${CONVOX_TESTBED_RACK:-bed}
PYTHON=${CONVOX_TESTBED_PYTHON:-$CHECKOUT/.venv/bin/python}
CACHE=${CONVOX_TEST_CACHE:-/var/cache/convox-volumes}
IMAGE=$CACHE/rootfs.ext4
UML=''  # the guests' kernel: tests/images/uml-kernel.sh says where (set by cmd_up)
GUEST_MEMORY=${CONVOX_TESTBED_GUEST_MEMORY:-512M}
BOOT_TIMEOUT=${CONVOX_TESTBED_BOOT_TIMEOUT:-180}

# One row per availability zone: zone, subnet, NFS server address, guest, guest address, MAC.
ZONES=(
  "us-east-1a 10.77.1.0/24 10.77.1.10 guest-a 10.77.1.21 52:54:00:77:01:21"
  "us-east-1b 10.77.2.0/24 10.77.2.10 guest-b 10.77.2.21 52:54:00:77:02:21"
)
PREFIX=24
# A second address of the NFS server in us-east-1a, for tests of a mount target that moves.
ALTERNATE_SERVER=10.77.1.11

log() { printf 'bed: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

in_ns() { ip netns exec "$NS" "$@"; }

# A process recorded in a pid file is alive (and is what we started, not a recycled pid).
alive() {
  local pidfile=$1 expect=$2 pid
  [[ -s $pidfile ]] || return 1
  pid=$(cat "$pidfile")
  [[ -d /proc/$pid ]] || return 1
  grep -q -- "$expect" "/proc/$pid/cmdline" 2>/dev/null
}

# Stop the process group a pid file names (each service is started as its own session).
stop_group() {
  local pidfile=$1 expect=$2 pid
  if alive "$pidfile" "$expect"; then
    pid=$(cat "$pidfile")
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do [[ -d /proc/$pid ]] || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

ns_exists() { [[ -e /run/netns/$NS ]]; }

# ---- network ---------------------------------------------------------------------------

network_up() {
  ns_exists || { ip netns add "$NS"; log "namespace $NS created"; }
  in_ns ip link set lo up
  in_ns ip link show br0 >/dev/null 2>&1 || in_ns ip link add br0 type bridge
  local row zone cidr server guest address mac
  for row in "${ZONES[@]}"; do
    read -r zone cidr server guest address mac <<<"$row"
    in_ns ip address replace "$server/$PREFIX" dev br0
    in_ns ip link show "tap-$guest" >/dev/null 2>&1 ||
      in_ns ip tuntap add dev "tap-$guest" mode tap
    in_ns ip link set "tap-$guest" master br0
    in_ns ip link set "tap-$guest" up
  done
  in_ns ip address replace "$ALTERNATE_SERVER/$PREFIX" dev br0
  in_ns ip link set br0 up
}

# ---- NFS servers -----------------------------------------------------------------------

ganesha_config() {
  local name=$1 port=$2 export_dir=$3 squash=$4
  cat <<EOF
# Written by bed.sh: NFSv4 only, no rpcbind, short lease, no grace period after a restart.
NFS_CORE_PARAM {
  Protocols = 4;
  NFS_Port = $port;
  Enable_NLM = false;
  Enable_RQUOTA = false;
  Enable_UDP = false;
}
NFSV4 {
  Graceless = true;
  Lease_Lifetime = 10;
  Minor_Versions = 0, 1, 2;
  Only_Numeric_Owners = true;
  RecoveryRoot = $RUN/$name-recovery;
}
EXPORT {
  Export_Id = 1;
  Path = $export_dir;
  Pseudo = /;
  Protocols = 4;
  Access_Type = RW;
  Squash = $squash;
  SecType = sys;
  FSAL { Name = VFS; }
  CLIENT { Clients = *; Access_Type = RW; }
}
EOF
}

# name port export squash
NFS_SERVERS=(
  "ganesha 2049 export No_Root_Squash"
  "ganesha-squash 2050 export-squash Root_Squash"
)

nfs_start_one() {
  local name=$1 port=$2 export_dir=$WORK/$3 squash=$4
  alive "$RUN/$name.pid" ganesha && return 0
  mkdir -p "$export_dir" "$RUN/$name-recovery"
  ganesha_config "$name" "$port" "$export_dir" "$squash" >"$RUN/$name.conf"
  rm -f "$RUN/$name.pid"
  # ganesha daemonises itself; setsid makes it the leader of a group we can stop as a whole.
  in_ns setsid ganesha.nfsd -f "$RUN/$name.conf" -L "$RUN/$name.log" -p "$RUN/$name.pid" \
    -N NIV_EVENT
  local _
  for _ in $(seq 100); do
    if alive "$RUN/$name.pid" ganesha &&
       in_ns ss -Hltn "sport = :$port" | grep -q LISTEN; then
      log "$name serving $export_dir on port $port"
      return 0
    fi
    sleep 0.1
  done
  tail -n 20 "$RUN/$name.log" >&2 || true
  die "$name did not start listening on port $port"
}

nfs_stop_one() {
  local name=$1
  stop_group "$RUN/$name.pid" ganesha
}

nfs_up() {
  local row
  for row in "${NFS_SERVERS[@]}"; do
    # shellcheck disable=SC2086  # the row is four words
    nfs_start_one $row
  done
}

# ---- moto ------------------------------------------------------------------------------

moto_url() { echo "http://127.0.0.1:$(cat "$RUN/moto.port")"; }

moto_answers() {
  [[ -s $RUN/moto.port ]] && alive "$RUN/moto.pid" moto_server &&
    "$PYTHON" - "$(moto_url)" <<'EOF' 2>/dev/null
import sys, urllib.request
urllib.request.urlopen(sys.argv[1] + "/moto-api/", timeout=2).close()
EOF
}

moto_up() {
  moto_answers && return 0
  stop_group "$RUN/moto.pid" moto_server
  local port
  port=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0));
print(s.getsockname()[1])')
  echo "$port" >"$RUN/moto.port"
  setsid "$(dirname "$PYTHON")/moto_server" -H 127.0.0.1 -p "$port" \
    </dev/null >"$RUN/moto.log" 2>&1 &
  echo $! >"$RUN/moto.pid"
  local _
  for _ in $(seq 150); do
    moto_answers && { log "moto on $(moto_url)"; return 0; }
    sleep 0.2
  done
  tail -n 20 "$RUN/moto.log" >&2 || true
  die "moto_server did not answer on port $port"
}

aws_up() {
  local specs=() row zone cidr server rest
  for row in "${ZONES[@]}"; do
    read -r zone cidr server rest <<<"$row"
    specs+=("$zone=$cidr=$server")
  done
  "$PYTHON" "$HERE/moto_rack.py" "$(moto_url)" "$RACK" "${specs[@]}" >"$WORK/aws.json.new"
  mv -f "$WORK/aws.json.new" "$WORK/aws.json"
  cat >"$WORK/env.sh" <<EOF
# Source this to point boto3 and the collection's AWS modules at the test bed's moto.
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1 AWS_URL=$(moto_url) AWS_ENDPOINT_URL=$(moto_url)
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
EOF
}

# ---- guests ----------------------------------------------------------------------------

ssh_key() {
  [[ -s $WORK/id_ed25519 ]] ||
    ssh-keygen -q -t ed25519 -N '' -C convox-testbed -f "$WORK/id_ed25519"
  cut -d' ' -f2 "$WORK/id_ed25519.pub"
}

guest_start() {
  local guest=$1 address=$2 mac=$3 key=$4
  # Only a guest of this kernel counts: one booted from another (an older bed) is replaced.
  alive "$RUN/$guest.pid" "$UML" && return 0
  stop_group "$RUN/$guest.pid" linux.uml
  # A fresh copy-on-write layer over the shared image: every boot starts from the image.
  rm -f "$RUN/$guest.cow"
  mkdir -p "$RUN/tmp" "$RUN/uml"
  TMPDIR=$RUN/tmp setsid ip netns exec "$NS" "$UML" \
    "umid=convox-$guest" "uml_dir=$RUN/uml" \
    "ubd0=$RUN/$guest.cow,$IMAGE" root=/dev/ubda rw "mem=$GUEST_MEMORY" \
    "vec0:transport=tap,ifname=tap-$guest,mac=$mac,gro=1" con=null con0=null,fd:1 ssl=null \
    "convox.hostname=$guest" "convox.address=$address/$PREFIX" "convox.key=$key" \
    </dev/null >"$RUN/$guest.console" 2>&1 &
  echo $! >"$RUN/$guest.pid"
  log "$guest booting ($address, console in $RUN/$guest.console)"
}

close_ssh_master() {
  local address=$1 socket=$RUN/ssh-$1
  [[ -S $socket ]] || return 0
  timeout 5 ssh -o "ControlPath=$socket" -O exit "root@$address" >/dev/null 2>&1 || true
  rm -f "$socket"
}

ssh_args() {
  # The same options the inventory gives Ansible.
  printf '%s\n' -o "ProxyCommand=ip netns exec $NS nc %h %p" \
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
    -o ConnectTimeout=5 -o BatchMode=yes -i "$WORK/id_ed25519"
}

guest_answers() {
  local address=$1 args
  mapfile -t args < <(ssh_args)
  timeout 15 ssh "${args[@]}" "root@$address" true </dev/null >/dev/null 2>&1
}

guests_up() {
  local key row zone cidr server guest address mac
  key=$(ssh_key)
  for row in "${ZONES[@]}"; do
    read -r zone cidr server guest address mac <<<"$row"
    guest_start "$guest" "$address" "$mac" "$key"
  done
  local deadline=$((SECONDS + BOOT_TIMEOUT))
  for row in "${ZONES[@]}"; do
    read -r zone cidr server guest address mac <<<"$row"
    until guest_answers "$address"; do
      alive "$RUN/$guest.pid" linux.uml ||
        { tail -n 30 "$RUN/$guest.console" >&2; die "$guest stopped while booting"; }
      ((SECONDS < deadline)) ||
        { tail -n 30 "$RUN/$guest.console" >&2; die "$guest: no SSH after $BOOT_TIMEOUT s"; }
      sleep 1
    done
    log "$guest answers SSH at $address"
  done
}

# ---- inventory -------------------------------------------------------------------------

write_inventory() {
  local row zone cidr server guest address mac fs_id
  fs_id=$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["file_system_id"])' \
    "$WORK/aws.json")
  {
    echo "---"
    echo "# Written by tests/testbed/bed.sh up; rewritten on every run."
    echo "all:"
    echo "  vars:"
    echo "    convox_rack: $RACK"
    echo "    convox_testbed_namespace: $NS"
    echo "    convox_testbed_moto_endpoint: $(moto_url)"
    echo "    convox_testbed_region: us-east-1"
    echo "    convox_testbed_file_system_id: $fs_id"
    echo "    convox_testbed_export: $WORK/export"
    echo "    convox_testbed_alternate_server: $ALTERNATE_SERVER"
    echo "    convox_testbed_squash_port: 2050"
    echo "    convox_testbed_nfs_servers:"
    for row in "${ZONES[@]}"; do
      read -r zone cidr server guest address mac <<<"$row"
      echo "      $zone: $server"
    done
    echo "  children:"
    echo "    rack:"
    echo "      vars:"
    echo "        ansible_user: root"
    echo "        ansible_python_interpreter: /usr/bin/python3"
    echo "        ansible_pipelining: true"
    echo "        ansible_ssh_private_key_file: $WORK/id_ed25519"
    echo "        ansible_ssh_common_args: >-"
    echo "          -o 'ProxyCommand=ip netns exec $NS nc %h %p'"
    echo "          -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
    echo "          -o ServerAliveInterval=5 -o ServerAliveCountMax=3"
    echo "      hosts:"
    for row in "${ZONES[@]}"; do
      read -r zone cidr server guest address mac <<<"$row"
      echo "        $guest:"
      echo "          ansible_host: $address"
      echo "          ec2_availability_zone: $zone"
    done
  } >"$WORK/inventory.yml"
}

# ---- commands --------------------------------------------------------------------------

preflight() {
  ((EUID == 0)) || die "needs root (network namespaces, taps)"
  local tool
  for tool in ip ganesha.nfsd nc ssh ssh-keygen debootstrap mkfs.ext4 patchelf; do
    command -v "$tool" >/dev/null || die "$tool not found: run 'make system-deps'"
  done
  [[ -x $PYTHON ]] || die "$PYTHON not found: run 'make venv'"
}

cmd_up() {
  preflight
  local started=$SECONDS
  mkdir -p "$WORK" "$RUN"
  bash "$CHECKOUT/tests/images/rootfs.sh" >&2
  UML=$(bash "$CHECKOUT/tests/images/uml-kernel.sh")/linux.uml
  network_up
  nfs_up
  moto_up
  aws_up
  guests_up
  write_inventory
  log "up in $((SECONDS - started)) s; inventory $WORK/inventory.yml"
}

cmd_down() {
  local row zone cidr server guest address mac
  for row in "${ZONES[@]}"; do
    read -r zone cidr server guest address mac <<<"$row"
    stop_group "$RUN/$guest.pid" linux.uml
    rm -f "$RUN/$guest.cow"
    # The tests' SSH master connection to this guest (conftest.py): once the guest is gone it
    # would hang every command of the next bed's tests until its TCP connection times out.
    close_ssh_master "$address"
  done
  for row in "${NFS_SERVERS[@]}"; do
    nfs_stop_one "${row%% *}"
  done
  stop_group "$RUN/moto.pid" moto_server
  rm -rf "$RUN/tmp" "$RUN/uml"
  if ns_exists; then
    ip netns delete "$NS"
    log "namespace $NS deleted"
  fi
  rm -f "$WORK/inventory.yml" "$WORK/aws.json" "$WORK/env.sh"
  log "down"
}

cmd_status() {
  local ok=0 row port zone cidr server guest address mac
  report() { printf '%-16s %s\n' "$1" "$2"; }
  if ns_exists; then report namespace "$NS"; else report namespace down; ok=1; fi
  for row in "${NFS_SERVERS[@]}"; do
    read -r server port _ <<<"$row"
    if alive "$RUN/$server.pid" ganesha; then
      report "$server" "pid $(cat "$RUN/$server.pid"), port $port"
    else report "$server" down; ok=1; fi
  done
  if moto_answers; then report moto "$(moto_url)"; else report moto down; ok=1; fi
  for row in "${ZONES[@]}"; do
    read -r zone cidr server guest address mac <<<"$row"
    if alive "$RUN/$guest.pid" linux.uml && guest_answers "$address"; then
      report "$guest" "$address ($zone)"
    else report "$guest" down; ok=1; fi
  done
  return $ok
}

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  nfs-stop) nfs_stop_one ganesha; log "ganesha stopped" ;;
  nfs-start)
    preflight; mkdir -p "$RUN"
    read -r -a first_server <<<"${NFS_SERVERS[0]}"
    nfs_start_one "${first_server[@]}" ;;
  *) echo "usage: $0 up|down|status|nfs-stop|nfs-start" >&2; exit 2 ;;
esac
