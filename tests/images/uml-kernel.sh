#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: contributors to the convox.volumes collection
#
# The User-Mode Linux kernel that the NFS test bed boots: Debian's user-mode-linux package
# from forky, with the C library it links against (trixie's libc6: bookworm's 2.36 is older
# than the 2.38 it needs) unpacked beside it. Both are pinned below by version and SHA-256.
#
# Why not bookworm's own user-mode-linux (6.1): on a host whose CPU has AVX-512 (measured on
# a 2-core Xeon with AVX-512 and AMX), the host kernel takes a process's FPU state through
# ptrace only as a whole XSAVE area of the host's size, and UML 6.1 sends a smaller one. The guest's init then
# dies at once ("userspace - ptrace set fp regs failed, errno = 14", "Attempted to kill
# init!"). Trixie's 6.12 fails the same way on such a host; 7.2 sizes the area from the host
# and boots the same bookworm root file system. On a host without AVX-512 all three boot.
#
# Output (CACHE is ${CONVOX_TEST_CACHE:-/var/cache/convox-volumes}; DIR names the version and
# both pinned hashes, so a changed pin builds a new directory): the directory
#   $CACHE/DIR/linux.uml          the kernel, its ELF interpreter and library path set to the
#                                 unpacked libc (patchelf)
#   $CACHE/DIR/modules/<release>  its modules, for the guests' /lib/modules
# printed on standard output. Fetches (about 40 MB) only when that directory is missing; a
# directory left incomplete is built again.
# Concurrent callers wait for each other on $CACHE/.uml.lock.
set -euo pipefail

CACHE=${CONVOX_TEST_CACHE:-/var/cache/convox-volumes}
MIRROR=${CONVOX_DEBIAN_MIRROR:-http://deb.debian.org/debian}

# The pins: Debian pool path and SHA-256 of each package. When the mirror no longer has one
# (Debian replaces package versions in its pool), take the new version's Filename and SHA256
# from $MIRROR/dists/<suite>/main/binary-amd64/Packages.xz.
UML_DEB=pool/main/u/user-mode-linux/user-mode-linux_7.2um1_amd64.deb
UML_SHA256=f947c9244fd79d481299df2ad68961f6b3b7703bff38c4b0e726f861161da62c
LIBC_DEB=pool/main/g/glibc/libc6_2.41-12+deb13u5_amd64.deb
LIBC_SHA256=b59b0625cd1a791375d40dab23a4d5d3d0641e3d0a773501becdc3725b7f99cf

UML_VERSION=${UML_DEB##*/user-mode-linux_}
UML_VERSION=${UML_VERSION%_amd64.deb}

target=$CACHE/uml-$UML_VERSION-${UML_SHA256:0:12}-${LIBC_SHA256:0:12}

log() { printf 'uml-kernel: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

fetch() {
  local path=$1 sha256=$2 into=$3
  local fix="update the pins in $0 from the Filename and SHA256 fields of the package in"
  fix+=" $MIRROR/dists/{forky,trixie}/main/binary-amd64/Packages.xz"
  curl -fsS --retry 3 -o "$into" "$MIRROR/$path" ||
    die "cannot fetch $MIRROR/$path (has the mirror dropped this version?): $fix"
  echo "$sha256  $into" | sha256sum --quiet -c - ||
    die "$MIRROR/$path does not have the pinned SHA-256: $fix"
}

build() {
  local work libdir release dirs tool
  for tool in curl sha256sum dpkg-deb patchelf; do
    command -v "$tool" >/dev/null || die "$tool not found: run 'make system-deps'"
  done
  work=$(mktemp -d "$CACHE/uml-build.XXXXXX")
  # shellcheck disable=SC2064  # expand now: $work is local to this function
  trap "rm -rf '$work'" EXIT
  log "fetching user-mode-linux $UML_VERSION and its C library from $MIRROR"
  fetch "$UML_DEB" "$UML_SHA256" "$work/uml.deb"
  fetch "$LIBC_DEB" "$LIBC_SHA256" "$work/libc.deb"
  dpkg-deb -x "$work/uml.deb" "$work/uml"
  dpkg-deb -x "$work/libc.deb" "$work/libc"

  mkdir -p "$work/out/libc"
  libdir=$work/libc/usr/lib/x86_64-linux-gnu
  cp -a "$libdir/ld-linux-x86-64.so.2" "$libdir/libc.so.6" "$work/out/libc/"
  dirs=("$work/uml/usr/lib/uml/modules"/*/)
  [[ -d ${dirs[0]} ]] || die "the package has no modules directory"
  release=$(basename "${dirs[0]}")
  mkdir -p "$work/out/modules"
  mv "${dirs[0]%/}" "$work/out/modules/$release"
  cp "$work/uml/usr/bin/linux.uml" "$work/out/linux.uml"
  # The kernel must run before it is put in place (a broken one in the cache would only show
  # as guests that never boot).
  "$work/out/libc/ld-linux-x86-64.so.2" --library-path "$work/out/libc" \
    "$work/out/linux.uml" --version >/dev/null || die "linux.uml $UML_VERSION does not run here"
  # Point it at the unpacked libc in its final place, then move it there as a whole.
  patchelf --set-interpreter "$target/libc/ld-linux-x86-64.so.2" --set-rpath "$target/libc" \
    "$work/out/linux.uml"
  rm -rf "$target"
  mv -T "$work/out" "$target"
  rm -rf "$work"
  trap - EXIT
  log "kernel $release in $target"
}

mkdir -p "$CACHE"
exec 9>"$CACHE/.uml.lock"
flock 9
rm -rf "$CACHE"/uml-build.*  # left by a build that was killed (the lock is ours now)
[[ -x $target/linux.uml && -d $target/modules ]] || build
echo "$target"
