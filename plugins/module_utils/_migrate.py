# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: contributors to the convox.volumes collection
"""Moving the data of a local /volumes into the file system mounted over it.

Mounting over a non-empty directory would hide its content. Instead the directory is renamed
aside (same file system, so instant), an empty mount point takes its place, and after the
mount its content is copied in: owners, modes and times kept, nothing that already exists
overwritten. The renamed local directory stays until the operator removes it.
"""
from __future__ import annotations

import os
import stat
import time
import typing as t

_CHUNK = 1 << 20


def list_entries(path: str, limit: int = 5) -> tuple[int, list[str]]:
    """How many entries a directory holds and the first few names, sorted."""
    names = sorted(os.listdir(path))
    return len(names), names[:limit]


def aside_path(path: str, now: float | None = None) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now if now is not None else time.time()))
    return f"{path.rstrip('/')}.local-{stamp}"


def move_aside(path: str, aside: str) -> None:
    """Rename `path` to `aside` and put an empty directory with its owner and mode in place."""
    if os.path.lexists(aside):
        raise FileExistsError(f"{aside} already exists; remove or rename it and run again.")
    info = os.lstat(path)
    os.rename(path, aside)
    os.mkdir(path)
    os.chown(path, info.st_uid, info.st_gid)
    os.chmod(path, stat.S_IMODE(info.st_mode))


def move_back(path: str, aside: str) -> None:
    """Undo move_aside (the mount point must be empty and unmounted)."""
    os.rmdir(path)
    os.rename(aside, path)


def _copy_file(source: str, target: str, info: os.stat_result) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    descriptor = os.open(target, flags, 0o600)
    try:
        with open(source, "rb") as reader:
            while True:
                chunk = reader.read(_CHUNK)
                if not chunk:
                    break
                os.write(descriptor, chunk)
        os.fchown(descriptor, info.st_uid, info.st_gid)
        os.fchmod(descriptor, stat.S_IMODE(info.st_mode))
    finally:
        os.close(descriptor)
    os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))


def copy_tree(source_root: str, target_root: str) -> dict[str, t.Any]:
    """Copy everything below `source_root` into `target_root` without overwriting.

    Returns counts of copied files, directories and symbolic links; `conflicts` (relative
    paths that already exist in the target with other content type or as files: left as
    they are), `skipped` (sockets, FIFOs, devices) and `errors` (path: reason).
    """
    report: dict[str, t.Any] = dict(files=0, directories=0, symlinks=0, bytes=0,
                                    conflicts=[], skipped=[], errors=[])
    directory_times: list[tuple[str, os.stat_result]] = []

    for current, directories, files in os.walk(source_root):
        relative_dir = os.path.relpath(current, source_root)
        target_dir = os.path.normpath(os.path.join(target_root, relative_dir))
        for name in sorted(directories) + sorted(files):
            source = os.path.join(current, name)
            target = os.path.join(target_dir, name)
            relative = os.path.normpath(os.path.join(relative_dir, name))
            try:
                info = os.lstat(source)
                if stat.S_ISDIR(info.st_mode):
                    if os.path.lexists(target):
                        if not os.path.isdir(target) or os.path.islink(target):
                            report["conflicts"].append(relative)
                            directories.remove(name)  # its content stays local
                        continue
                    os.mkdir(target, 0o700)
                    os.chown(target, info.st_uid, info.st_gid)
                    os.chmod(target, stat.S_IMODE(info.st_mode))
                    directory_times.append((target, info))
                    report["directories"] += 1
                elif os.path.lexists(target):
                    report["conflicts"].append(relative)
                elif stat.S_ISREG(info.st_mode):
                    _copy_file(source, target, info)
                    report["files"] += 1
                    report["bytes"] += info.st_size
                elif stat.S_ISLNK(info.st_mode):
                    os.symlink(os.readlink(source), target)
                    os.lchown(target, info.st_uid, info.st_gid)
                    report["symlinks"] += 1
                else:
                    report["skipped"].append(relative)
            except OSError as exc:
                report["errors"].append(f"{relative}: {exc.strerror or exc}")

    # Directory times last: creating their entries changed them.
    for target, info in reversed(directory_times):
        try:
            os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))
        except OSError as exc:
            report["errors"].append(f"{target}: {exc.strerror or exc}")
    return report
