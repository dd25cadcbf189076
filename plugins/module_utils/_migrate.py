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
    """Copy one regular file to a new `target`. If any step fails, the file this call created
    is removed again: a failed entry leaves nothing that a rerun would take for a conflict."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    descriptor = os.open(target, flags, 0o600)
    try:
        try:
            with open(source, "rb") as reader:
                while True:
                    chunk = reader.read(_CHUNK)
                    if not chunk:
                        break
                    os.write(descriptor, chunk)
            os.fchown(descriptor, info.st_uid, info.st_gid)
            os.fchmod(descriptor, stat.S_IMODE(info.st_mode))
            os.utime(descriptor, ns=(info.st_atime_ns, info.st_mtime_ns))
        finally:
            os.close(descriptor)
    except BaseException:
        _undo(os.unlink, target)
        raise


def _make_directory(target: str, info: os.stat_result) -> None:
    """Create `target` with the owner and mode of `info`; removed again if that fails."""
    os.mkdir(target, 0o700)
    try:
        os.chown(target, info.st_uid, info.st_gid)
        os.chmod(target, stat.S_IMODE(info.st_mode))
    except BaseException:
        _undo(os.rmdir, target)
        raise


def _make_symlink(link: str, target: str, info: os.stat_result) -> None:
    os.symlink(link, target)
    try:
        os.lchown(target, info.st_uid, info.st_gid)
    except BaseException:
        _undo(os.unlink, target)
        raise


def _undo(remove: t.Callable[[str], None], path: str) -> None:
    try:
        remove(path)
    except OSError:
        pass  # the error being raised says what went wrong with this entry


def is_copy_of(source: str, info: os.stat_result, target: str) -> bool:
    """Whether `target` is what copying `source` (whose lstat is `info`) gives: a regular file
    of the same size, modification time, mode and owner (the time is set last, so a copy that
    was cut short differs), or a symbolic link to the same place. An earlier migration that
    failed half way leaves such copies; they are not conflicts."""
    try:
        have = os.lstat(target)
    except OSError:
        return False
    if stat.S_IFMT(have.st_mode) != stat.S_IFMT(info.st_mode):
        return False
    if stat.S_ISLNK(info.st_mode):
        return os.readlink(target) == os.readlink(source)
    return (stat.S_ISREG(info.st_mode) and have.st_size == info.st_size
            and have.st_mtime_ns == info.st_mtime_ns and have.st_mode == info.st_mode
            and (have.st_uid, have.st_gid) == (info.st_uid, info.st_gid))


def copy_tree(source_root: str, target_root: str) -> dict[str, t.Any]:
    """Copy everything below `source_root` into `target_root` without overwriting.

    Returns counts of copied files, directories and symbolic links, and of entries found
    already copied (`already_copied`: see is_copy_of); `conflicts` (relative paths that
    already exist in the target with other content or type: left as they are), `skipped`
    (sockets, FIFOs, devices) and `errors` (path: reason).
    """
    report: dict[str, t.Any] = dict(files=0, directories=0, symlinks=0, bytes=0,
                                    already_copied=0, conflicts=[], skipped=[], errors=[])
    directory_times: list[tuple[str, os.stat_result]] = []

    def unreadable(exc: OSError) -> None:
        relative = os.path.relpath(exc.filename or source_root, source_root)
        report["errors"].append(f"{relative}: {exc.strerror or exc}")

    for current, directories, files in os.walk(source_root, onerror=unreadable):
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
                    try:
                        _make_directory(target, info)
                    except OSError:
                        directories.remove(name)  # nothing below it can be copied
                        raise
                    directory_times.append((target, info))
                    report["directories"] += 1
                elif os.path.lexists(target):
                    if is_copy_of(source, info, target):
                        report["already_copied"] += 1
                    else:
                        report["conflicts"].append(relative)
                elif stat.S_ISREG(info.st_mode):
                    _copy_file(source, target, info)
                    report["files"] += 1
                    report["bytes"] += info.st_size
                elif stat.S_ISLNK(info.st_mode):
                    _make_symlink(os.readlink(source), target, info)
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
