# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: contributors to the convox.volumes collection
"""The live mount table: parse /proc/self/mountinfo and compare a wanted NFS mount with it.

Reading /proc/self/mountinfo never touches the mounted file systems, so it is safe even when
an NFS server is gone. Everything here is pure except read_mountinfo().
"""
from __future__ import annotations

import typing as t

from ansible_collections.convox.volumes.plugins.module_utils._fstab import (
    is_fstab_only, kernel_options, normalise_mount_point, unescape,
)

MOUNTINFO = "/proc/self/mountinfo"
NFS_TYPES = ("nfs", "nfs4")

# Options the kernel shows for an NFS mount, by the name it shows them under. A wanted
# option is compared with the live value only when it is known here; the kernel shows no
# trace of other options, so they cannot be checked against the mount table.
_VALUE_OPTIONS = {
    "vers": "vers", "nfsvers": "vers", "rsize": "rsize", "wsize": "wsize", "timeo": "timeo",
    "retrans": "retrans", "proto": "proto", "port": "port", "sec": "sec",
    "acregmin": "acregmin", "acregmax": "acregmax", "acdirmin": "acdirmin",
    "acdirmax": "acdirmax", "nconnect": "nconnect", "lookupcache": "lookupcache",
    "local_lock": "local_lock", "mountport": "mountport", "max_connect": "max_connect",
}
# Flags that belong to a group where the kernel shows exactly one member.
_FLAG_GROUPS = {
    "hard": ("recovery", "hard"), "soft": ("recovery", "soft"),
    "softerr": ("recovery", "softerr"),
    "ro": ("access", "ro"), "rw": ("access", "rw"),
}
# Flags the kernel shows only when they are set.
_SHOWN_WHEN_SET = {"noresvport": "noresvport", "resvport": None, "noac": "noac", "ac": None,
                   "fsc": "fsc", "nofsc": None, "nosharecache": "nosharecache",
                   "sharecache": None, "nordirplus": "nordirplus", "rdirplus": None}
# What the kernel shows when an option is not asked for.
_KERNEL_DEFAULTS = {"recovery": "hard", "access": "rw"}
# Value options the kernel leaves out of the mount table while they hold their default:
# a missing value means this one. A value option that is missing and not listed here
# (mountport on NFSv4, for example) cannot be checked, and is never a reason to remount.
_HIDDEN_DEFAULTS = {"acregmin": "3", "acregmax": "60", "acdirmin": "30", "acdirmax": "60",
                    "port": "2049", "lookupcache": "all", "nconnect": "1"}
# Other spellings of a value, as the kernel shows it.
_SHOWN_AS = {("lookupcache", "positive"): "pos"}
# Sizes the kernel rounds down to whole pages and the server may lower to its own maximum:
# a live value below the wanted one is what that request gave.
_NEGOTIATED = ("rsize", "wsize")


class MountTableError(ValueError):
    """The mount table holds something this module will not act on; the message says what."""


class MountEntry(t.NamedTuple):
    mount_id: int
    parent_id: int
    mount_point: str
    fstype: str
    source: str
    mount_options: tuple[str, ...]
    super_options: tuple[str, ...]

    @property
    def options(self) -> tuple[str, ...]:
        """The per-mount options followed by the file system's own (for NFS: vers, rsize...)."""
        return self.mount_options + self.super_options

    def describe(self) -> str:
        return f"{self.source} {self.fstype} {','.join(self.options)}"


def parse_mountinfo(text: str) -> list[MountEntry]:
    """Entries of /proc/self/mountinfo, in the kernel's order (a later entry on the same
    mount point is stacked on the earlier one)."""
    found = []
    for line in text.split("\n"):
        fields = line.split(" ")
        if "-" not in fields or len(fields) < 7:
            continue
        separator = fields.index("-", 6)
        fstype, source = fields[separator + 1], fields[separator + 2]
        super_options = fields[separator + 3] if len(fields) > separator + 3 else ""
        found.append(MountEntry(
            mount_id=int(fields[0]), parent_id=int(fields[1]),
            mount_point=unescape(fields[4]), fstype=fstype, source=unescape(source),
            mount_options=tuple(fields[5].split(",")),
            super_options=tuple(option for option in super_options.split(",") if option)))
    return found


def read_mountinfo(path: str = MOUNTINFO) -> list[MountEntry]:
    with open(path, encoding="utf-8", errors="surrogateescape") as handle:
        return parse_mountinfo(handle.read())


def mounts_at(table: t.Sequence[MountEntry], mount_point: str) -> list[MountEntry]:
    wanted = normalise_mount_point(mount_point)
    return [entry for entry in table if entry.mount_point == wanted]


def single_mount_at(table: t.Sequence[MountEntry], mount_point: str) -> MountEntry | None:
    """The one mount at `mount_point`, None when nothing is mounted there; stacked mounts are
    an error, since unmounting once would reveal the one below rather than free the path."""
    found = mounts_at(table, mount_point)
    if len(found) > 1:
        listing = "; ".join(entry.describe() for entry in found)
        raise MountTableError(
            f"{len(found)} file systems are stacked on {normalise_mount_point(mount_point)} "
            f"({listing}). Unmount them by hand (umount {mount_point}, once per entry) until "
            f"at most one is left, then run again.")
    return found[0] if found else None


def _option_pairs(options: t.Iterable[str]) -> dict[str, str]:
    """Comparable form: kernel name -> value, for the options the kernel shows."""
    pairs: dict[str, str] = {}
    for option in options:
        name, value = option.partition("=")[::2]
        if name in _VALUE_OPTIONS and value:
            shown = _VALUE_OPTIONS[name]
            pairs[shown] = _SHOWN_AS.get((shown, value), value)
        elif name in _FLAG_GROUPS:
            group, shown = _FLAG_GROUPS[name]
            pairs[group] = shown
        elif name in _SHOWN_WHEN_SET and _SHOWN_WHEN_SET[name]:
            pairs[name] = "set"
    return pairs


def _same_version(wanted: str, live: str) -> bool:
    """'4' asks for any 4.x the server offers; '4.1' asks for exactly 4.1."""
    if "." not in wanted:
        return live.split(".")[0] == wanted
    return wanted == live


def _lowered_by_negotiation(name: str, want: str, have: str,
                            asked_before: dict[str, str]) -> bool:
    """True when a live rsize/wsize below the wanted one is what asking for the wanted value
    gave: the mount was asked for the same value (or nothing is known about how it was asked,
    as for a mount made by hand)."""
    if name not in _NEGOTIATED or not (want.isdigit() and have.isdigit()):
        return False
    return int(have) < int(want) and asked_before.get(name, want) == want


def option_differences(wanted: t.Iterable[str], live: t.Iterable[str],
                       asked_before: t.Iterable[str] = ()) -> list[str]:
    """How the live mount's options differ from the wanted ones, as readable strings such as
    'timeo: live 600, wanted 300'. Empty when they agree.

    Options in any order are the same. Options that only live in fstab (_netdev, nofail...)
    and options the kernel does not show are ignored: they can never cause a remount.
    `asked_before` are the options the live mount was asked for (its fstab line): an rsize or
    wsize the server lowered is no difference while the wanted value is the one asked for.
    """
    wanted_pairs = _option_pairs(kernel_options(wanted))
    live_pairs = _option_pairs(live)
    before_pairs = _option_pairs(asked_before)
    for group, default in _KERNEL_DEFAULTS.items():
        wanted_pairs.setdefault(group, default)
    differences = []
    for name in sorted(set(wanted_pairs) | set(live_pairs)):
        want = wanted_pairs.get(name)
        have = live_pairs.get(name, _HIDDEN_DEFAULTS.get(name))
        if name in _VALUE_OPTIONS.values() and (want is None or have is None):
            continue  # not asked for, or not shown: nothing to compare
        if want is not None and have is not None and _lowered_by_negotiation(
                name, want, have, before_pairs):
            continue
        if name == "vers" and want is not None and have is not None:
            if not _same_version(want, have):
                differences.append(f"vers: live {have}, wanted {want}")
            continue
        if want != have:
            differences.append(f"{name}: live {have or 'unset'}, wanted {want or 'unset'}")
    return differences


def unverifiable_options(wanted: t.Iterable[str]) -> list[str]:
    """Wanted options the mount table cannot confirm (neither fstab-only nor shown)."""
    known = set(_VALUE_OPTIONS) | set(_FLAG_GROUPS) | set(_SHOWN_WHEN_SET)
    return [option for option in wanted
            if not is_fstab_only(option) and option.partition("=")[0] not in known]


def same_source(wanted: str, live: str, tls: bool = False) -> bool:
    """Whether the live mount shows the wanted source.

    A TLS mount of amazon-efs-utils goes through a local stunnel, so the kernel shows
    127.0.0.1:<path> whatever the file system: only the path can be compared then.
    """
    wanted_host, wanted_path = wanted.partition(":")[::2]
    live_host, live_path = live.partition(":")[::2]
    wanted_path = normalise_mount_point(wanted_path or "/")
    live_path = normalise_mount_point(live_path or "/")
    if tls:
        return live_host in ("127.0.0.1", "localhost") and live_path == wanted_path
    return live_host.lower() == wanted_host.lower() and live_path == wanted_path
