#!/usr/bin/env bash
# Debian packages the tests need. Installs only what is missing, so a machine that already
# has them needs no network.
set -euo pipefail

packages=(
  # the virtual environment of requirements.txt (with Debian's own Python)
  python3-venv
  # NFS test bed: real NFSv4.1 server, its network, the guests' root file system; the guests'
  # kernel is fetched pinned by tests/images/uml-kernel.sh (bookworm's cannot boot on AVX-512
  # hosts), with curl and set up with patchelf
  nfs-ganesha nfs-ganesha-vfs debootstrap e2fsprogs iproute2 curl patchelf
  openssh-client netcat-openbsd
  # Molecule's container engine
  docker.io
  # Molecule's local scenario becomes a throwaway developer with sudo (pipelining needs it)
  sudo
  # data migration and tree copies
  rsync
  # shell scripts: make lint and ansible-test sanity run shellcheck (sanity skips it if missing)
  shellcheck
  # ansible-test wants the en_US.UTF-8 locale (generated below)
  locales
)

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$package")
done

if ((${#missing[@]} == 0)); then
  echo "system-deps: all ${#packages[@]} Debian packages present"
else
  echo "system-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Without en_US.UTF-8, ansible-test falls back to C.UTF-8 and warns on every run.
if ! locale -a 2>/dev/null | grep -qix 'en_US\.utf-\?8'; then
  echo "system-deps: generating the en_US.UTF-8 locale"
  localedef -i en_US -c -f UTF-8 en_US.UTF-8
fi
