#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: contributors to the convox.volumes collection
#
# One Debian bookworm root file system for every test that needs a real Linux userland:
# the User-Mode Linux guests of the NFS test bed boot from it, and the Molecule scenarios
# import it as a docker base image.
#
# Outputs (stable paths; CACHE is ${CONVOX_TEST_CACHE:-/var/cache/convox-volumes}):
#   $CACHE/rootfs.tar    the tree as a plain tar (numeric owners), for
#                        `docker import --change 'CMD ["/bin/bash"]' $CACHE/rootfs.tar NAME`
#   $CACHE/rootfs.ext4   the same tree as an ext4 disk image, for `linux.uml ubd0=COW,IMAGE`
#   $CACHE/rootfs.key    what the cached files were built from; a different key rebuilds them
#
# Usage: tests/images/rootfs.sh          build if missing or out of date, print the paths
#        tests/images/rootfs.sh --force  build again
#
# The tree holds: systemd as init, sshd (root login with a key only), python3 with
# python3-apt (Ansible's apt module), nfs-common, sudo, rsync, the User-Mode Linux kernel's
# modules (tests/images/uml-kernel.sh) under /lib/modules, an empty /etc/machine-id (each
# boot makes its own, so copies get distinct identities), and a boot service, convox-guest-setup, that configures a UML
# guest from its kernel command line:
#   convox.hostname=NAME  convox.address=ADDRESS/PREFIX  convox.key=BASE64-OF-ED25519-KEY
# (the key is authorised for root). In a container that service does nothing.
# Building needs root, debootstrap and e2fsprogs, and takes about 70 s; afterwards it is a
# no-op. Concurrent callers wait for each other on $CACHE/.lock.
set -euo pipefail

CACHE=${CONVOX_TEST_CACHE:-/var/cache/convox-volumes}
MIRROR=${CONVOX_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
# The guests' kernel and its modules (tests/images/uml-kernel.sh fetches them once).
UML_MODULES=$(bash "$(dirname "${BASH_SOURCE[0]}")/uml-kernel.sh")/modules
IMAGE_SIZE=3G
# Bump when the recipe below changes in a way the package list does not show.
RECIPE=4

PACKAGES=(
  systemd-sysv udev kmod iproute2 netbase iputils-ping
  openssh-server
  python3 python3-apt sudo procps
  nfs-common rsync
)

tarball=$CACHE/rootfs.tar
image=$CACHE/rootfs.ext4
keyfile=$CACHE/rootfs.key

kernel_release() {
  # The one module directory of the guests' kernel, e.g. 7.2.7.
  local dirs=("$UML_MODULES"/*/)
  [[ -d ${dirs[0]} ]] || { echo "rootfs: no $UML_MODULES/<release>: see uml-kernel.sh" >&2
                           exit 1; }
  basename "${dirs[0]}"
}

build_key() {
  printf 'suite=%s recipe=%s kernel=%s packages=%s\n' \
    "$SUITE" "$RECIPE" "$(kernel_release)" "${PACKAGES[*]}"
}

up_to_date() {
  [[ -s $tarball && -s $image && -s $keyfile ]] && [[ "$(cat "$keyfile")" == "$(build_key)" ]]
}

# The boot service that turns a copy of the image into one named guest.
write_guest_setup() {
  local root=$1
  cat >"$root/usr/local/sbin/convox-guest-setup" <<'SCRIPT'
#!/bin/sh
# Configure this User-Mode Linux guest from its kernel command line (see the unit file).
set -eu
name='' address='' key=''
for word in $(cat /proc/cmdline); do
  case $word in
    convox.hostname=*) name=${word#*=} ;;
    convox.address=*) address=${word#*=} ;;
    convox.key=*) key=${word#*=} ;;
  esac
done
if [ -n "$name" ]; then
  echo "$name" >/etc/hostname
  hostname "$name"
  printf '127.0.0.1 localhost\n127.0.1.1 %s\n' "$name" >/etc/hosts
fi
ip link set lo up
if [ -n "$address" ]; then
  # vec0: the device of UML's vector driver (bed.sh boots with vec0:transport=tap,...).
  ip link set vec0 up
  ip address replace "$address" dev vec0
fi
if [ -n "$key" ]; then
  install -d -m 0700 /root/.ssh
  echo "ssh-ed25519 $key convox-testbed" >/root/.ssh/authorized_keys
  chmod 0600 /root/.ssh/authorized_keys
fi
SCRIPT
  chmod 0755 "$root/usr/local/sbin/convox-guest-setup"

  cat >"$root/etc/systemd/system/convox-guest-setup.service" <<'UNIT'
[Unit]
Description=Name, address and SSH key of a test guest, from convox.* kernel arguments
ConditionKernelCommandLine=convox.hostname
DefaultDependencies=no
After=local-fs.target
Before=network.target ssh.service
Wants=network.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/convox-guest-setup
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
UNIT
  ln -sf /etc/systemd/system/convox-guest-setup.service \
    "$root/etc/systemd/system/multi-user.target.wants/convox-guest-setup.service"
}

configure_tree() {
  local root=$1 release
  release=$(kernel_release)

  # The UML kernel's modules (NFS client, netem, ...): the directory must exist first.
  mkdir -p "$root/lib/modules"
  cp -a "$UML_MODULES/$release" "$root/lib/modules/"

  # The 7.x NFS client asks for directory delegations, and nfs-ganesha 4.3 answers in a way
  # it turns into EREMOTEIO ("Remote I/O error") on the next stat of a changed directory, for
  # a few seconds. EFS grants no delegations: ask for none, as a client of EFS gets none.
  mkdir -p "$root/etc/modprobe.d"
  echo "options nfsv4 directory_delegations=N" >"$root/etc/modprobe.d/convox-nfs.conf"

  # Every boot gets its own machine id (a shared one gives every guest the same MAC).
  : >"$root/etc/machine-id"
  rm -f "$root/var/lib/dbus/machine-id"

  echo "/dev/ubda / ext4 defaults,noatime 0 1" >"$root/etc/fstab"
  echo convox-guest >"$root/etc/hostname"

  # Key-only SSH, no reverse DNS (there is no resolver in the test bed).
  cat >"$root/etc/ssh/sshd_config.d/convox.conf" <<'SSHD'
PermitRootLogin prohibit-password
PasswordAuthentication no
UseDNS no
SSHD

  # Nothing on the boot path that waits for consoles, clocks or the network of a real host.
  local unit
  for unit in getty@.service serial-getty@.service console-getty.service \
    systemd-networkd-wait-online.service apt-daily.timer apt-daily-upgrade.timer \
    e2scrub_all.timer e2scrub_reap.service fstrim.timer systemd-timesyncd.service; do
    ln -sf /dev/null "$root/etc/systemd/system/$unit"
  done

  write_guest_setup "$root"

  # Smaller artefacts: no downloaded .debs.
  rm -rf "$root/var/cache/apt/archives/"*.deb
}

build() {
  local work
  mkdir -p "$CACHE"
  work=$(mktemp -d "$CACHE/build.XXXXXX")
  # shellcheck disable=SC2064  # expand now: the trap must remove this build's directory
  trap "rm -rf '$work'" EXIT

  local started=$SECONDS
  echo "rootfs: debootstrap $SUITE from $MIRROR into $work/root"
  local include
  include=$(IFS=,; echo "${PACKAGES[*]}")
  debootstrap --variant=minbase --include="$include" "$SUITE" "$work/root" "$MIRROR" \
    >"$work/debootstrap.log" 2>&1 || {
      tail -n 30 "$work/debootstrap.log" >&2
      echo "rootfs: debootstrap failed (log above)" >&2
      exit 1
    }
  configure_tree "$work/root"

  echo "rootfs: writing $tarball and $image"
  tar -C "$work/root" --numeric-owner -cf "$work/rootfs.tar" .
  truncate -s "$IMAGE_SIZE" "$work/rootfs.ext4"
  mkfs.ext4 -q -F -L convox-root -d "$work/root" "$work/rootfs.ext4"

  mv -f "$work/rootfs.tar" "$tarball"
  mv -f "$work/rootfs.ext4" "$image"
  build_key >"$keyfile"
  echo "rootfs: built in $((SECONDS - started)) s"
}

main() {
  local force=false
  [[ ${1:-} == --force ]] && force=true
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.lock"
  flock 9
  if $force || ! up_to_date; then
    rm -f "$keyfile"
    build
  fi
  echo "rootfs: tarball $tarball"
  echo "rootfs: image   $image"
}

main "$@"
