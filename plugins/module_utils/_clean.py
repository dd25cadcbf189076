# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: contributors to the convox.volumes collection
"""Clearing one volume directory safely: resolve, check, lock, delete or quarantine, restore.

Every rule is checked before anything is touched:
- the volume is strictly inside <root>/<rack>-<app>/<service>/ (locally <root>/<app>/<service>/);
- no path component below the root is a symbolic link;
- no mount point sits at or below the volume, and deletion never leaves the volume's file
  system (every directory is opened with O_NOFOLLOW and its device compared);
- one lock per service directory in <root>/.convox-locks/ keeps two hosts from cleaning at once.

Deletion works on directory file descriptors (unlinkat/rmdirat relative to an fd opened with
O_NOFOLLOW), so a symbolic link in the tree is removed as a link and never followed, even if
the tree changes while it is being deleted.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import posixpath
import socket
import stat
import time
import typing as t
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ansible_collections.convox.volumes.plugins.module_utils._paths import (
    VolumeRuleError,
    app_directory,
    default_root,
    forbidden_host_root,
    normalise_absolute,
    service_directory,
    validate_name,
    volume_host_path,
)

LOCK_DIR = ".convox-locks"
TRASH_DIR = ".convox-trash"
SIDECAR_SUFFIX = ".json"
RESTORED_SUFFIX = ".restored.json"
NFS_SILLY_PREFIX = ".nfs"

# Errors a delete gets from a file that some process still holds open (NFS "silly rename":
# unlink of the .nfsXXXX file gives EBUSY, rmdir of its directory ENOTEMPTY).
BUSY_ERRNOS = frozenset({errno.EBUSY, errno.ETXTBSY, errno.ENOTEMPTY})
PERMISSION_ERRNOS = frozenset({errno.EACCES, errno.EPERM})
# Threads that delete (and count) top-level subdirectories at once. On a network file system
# every unlink waits for a round trip, so many threads hide the latency. On a local one the
# work is CPU-bound: threads beyond the CPUs only fight over the GIL and the journal (measured:
# 8 threads on 2 CPUs took 1.8x the time of rm -rf, 2 threads 0.9x).
DELETE_WORKERS = 8
NETWORK_FSTYPES = ("nfs", "nfs4", "cifs", "smb3", "ceph", "glusterfs", "lustre", "9p", "fuse.")
RETRY_PAUSE = 0.5

_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def workers_for(fstype: str) -> int:
    """How many threads to delete with on a file system of this type."""
    if fstype.startswith(NETWORK_FSTYPES):
        return DELETE_WORKERS
    try:
        cpus = len(os.sched_getaffinity(0))  # the CPUs this process may run on
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(DELETE_WORKERS, cpus))


class CleanError(Exception):
    """The clean was refused or failed; the message says what, where and how to fix it."""

    def __init__(self, message: str, **details: t.Any) -> None:
        super().__init__(message)
        self.details = details


class LockHeld(CleanError):
    """Another process holds the service's lock."""


# ---------------------------------------------------------------------------------------------
# Resolving the target (pure)


@dataclass(frozen=True)
class VolumeTarget:
    """Where one volume lives, validated against the path rules."""

    target: str
    root: str
    app: str
    service: str
    rack: str | None
    service_dir: str
    host_path: str

    @property
    def relative(self) -> str:
        """The volume below its service directory, e.g. 'var/lib/postgresql/data'."""
        return posixpath.relpath(self.host_path, self.service_dir)

    @property
    def label(self) -> str:
        """<rack>-<app>-<service> on a rack, <app>-<service> locally."""
        owner = f"{self.rack}-{self.app}" if self.target == "rack" else self.app
        return f"{owner}-{self.service}"

    @property
    def slug(self) -> str:
        return self.relative.replace("/", "-")

    @property
    def lock_path(self) -> str:
        return posixpath.join(self.root, LOCK_DIR, f"{self.label}.lock")

    @property
    def trash_dir(self) -> str:
        return posixpath.join(self.root, TRASH_DIR)

    def describe(self) -> dict[str, t.Any]:
        return {"target": self.target, "root": self.root, "rack": self.rack, "app": self.app,
                "service": self.service, "container_path": "/" + self.relative,
                "host_path": self.host_path}


def _names_nothing(path: str) -> bool:
    """True for '', '/', '.', '//', '/./' ...: a path with no component at all."""
    return not [part for part in path.split("/") if part not in ("", ".")]


def _check_root(root: object) -> str:
    """An explicit root: absolute, and not '/' or a kernel or runtime file system."""
    if isinstance(root, str) and not root.strip():
        raise VolumeRuleError(f"root {root!r} is empty: give the volumes root, e.g. "
                              f"root=/volumes, or leave root out to use the default")
    root_dir = normalise_absolute(root, "root")
    if root_dir == "/":
        raise VolumeRuleError(f"root {root!r} is '/', the whole host: give the directory that "
                              f"holds the volumes, e.g. root=/volumes")
    system = forbidden_host_root(root_dir)
    if system is not None:
        raise VolumeRuleError(f"root {root!r} is inside {system}, a kernel or runtime file "
                              f"system that holds no volumes: give the volumes root, e.g. "
                              f"root=/volumes")
    return root_dir


def resolve_target(*, target: str, app: object, service: object, rack: object = None,
                   path: object = None, host_path: object = None, root: object = None,
                   home: str | None = None) -> VolumeTarget:
    """Validate the inputs and compute the volume directory; refuse anything over-broad.

    Refusals name the path the input would have resolved to, so the user sees what would
    have been deleted.
    """
    if target not in ("rack", "local"):
        raise VolumeRuleError(f"target {target!r} is unknown: use 'rack' or 'local'")
    if target == "rack":
        validate_name("rack", rack)
    else:
        rack = None
    validate_name("app", app)
    root_dir = _check_root(root) if root is not None else default_root(target, home)
    app_dir = app_directory(target=target, root=root_dir, app=app, rack=rack)

    if not isinstance(service, str) or not service.strip():
        raise VolumeRuleError(
            f"service {service!r} is empty: the volume would resolve to {app_dir}, the app "
            f"directory that holds every service's volumes; name the service, e.g. service=db")
    service_dir = service_directory(target=target, root=root_dir, app=app, service=service,
                                    rack=rack)

    if path is not None and host_path is not None:
        raise VolumeRuleError(f"path {path!r} and host_path {host_path!r} are both set: give "
                              f"one of them")
    if path is None and host_path is None:
        raise VolumeRuleError(f"neither path nor host_path is set: give the volume's container "
                              f"path (as in the compose file), e.g. path=/data, which resolves "
                              f"below {service_dir}")

    if path is not None:
        if not isinstance(path, str) or _names_nothing(path):
            raise VolumeRuleError(
                f"path {path!r} resolves to {service_dir}, the service directory itself, which "
                f"holds every volume of service {service}: give one volume's container path, "
                f"e.g. path=/data")
        resolved = volume_host_path(path, target=target, app=app, service=service, rack=rack,
                                    root=root_dir)
    else:
        resolved = normalise_absolute(host_path, "host_path")
        if not resolved.startswith(service_dir + "/"):
            if resolved in (service_dir, app_dir, root_dir) or resolved == "/":
                names = {service_dir: "the service directory itself",
                         app_dir: "the app directory", root_dir: "the volumes root"}
                what = names.get(resolved, "the root")
                raise VolumeRuleError(
                    f"host_path {host_path!r} resolves to {resolved}, {what}: give one volume's "
                    f"directory strictly below {service_dir}/")
            raise VolumeRuleError(
                f"host_path {host_path!r} resolves to {resolved}, which is not inside "
                f"{service_dir}/: only a volume of rack {rack}, app {app}, service {service} "
                f"can be cleaned; check rack, app, service and root")
    return VolumeTarget(target=target, root=root_dir, app=app, service=service, rack=rack,
                        service_dir=service_dir, host_path=resolved)


# ---------------------------------------------------------------------------------------------
# Checks on the disk (all read-only)


def _unescape_mountinfo(field_text: str) -> str:
    return (field_text.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n")
            .replace("\\134", "\\"))


def read_mounts(mountinfo: str = "/proc/self/mountinfo") -> list[tuple[str, str]]:
    """(mount point, file system type) of every mount this process sees."""
    mounts = []
    with open(mountinfo, encoding="utf-8", errors="surrogateescape") as handle:
        for line in handle:
            fields = line.split()
            if " - " not in line or len(fields) < 5:
                continue
            fstype = line.split(" - ", 1)[1].split()[0]
            mounts.append((_unescape_mountinfo(fields[4]), fstype))
    return mounts


def mounts_at_or_below(real_path: str, mounts: list[tuple[str, str]]) -> list[str]:
    prefix = real_path.rstrip("/") + "/"
    return sorted({point for point, _fstype in mounts
                   if point == real_path or point.startswith(prefix)})


def filesystem_type(real_path: str, mounts: list[tuple[str, str]]) -> str:
    """The type of the file system that holds real_path (the longest matching mount)."""
    best, best_type = "", "unknown"
    for point, fstype in mounts:
        if (real_path == point or real_path.startswith(point.rstrip("/") + "/")) \
                and len(point) >= len(best):
            best, best_type = point, fstype
    return best_type


@dataclass
class DiskState:
    """What the checks found: whether the volume exists, its stat, and its real path."""

    exists: bool
    real_path: str
    fstype: str
    stat: os.stat_result | None = None
    root_stat: os.stat_result | None = None
    chain: list[os.stat_result] = field(default_factory=list)


def check_on_disk(volume: VolumeTarget) -> DiskState:
    """Refuse symbolic links below the root, non-directories, and mounts at or below the
    volume. Returns whether the volume exists. Reads only."""
    try:
        root_stat = os.stat(volume.root)
    except FileNotFoundError as exc:
        raise CleanError(f"the volumes root {volume.root} does not exist: check root (and, on a "
                         f"rack, that the shared file system is mounted)") from exc
    if not stat.S_ISDIR(root_stat.st_mode):
        raise CleanError(f"the volumes root {volume.root} is not a directory: check root")

    current = volume.root
    chain = []
    for part in posixpath.relpath(volume.host_path, volume.root).split("/"):
        current = posixpath.join(current, part)
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            return DiskState(exists=False, real_path="", fstype="")
        chain.append(info)
        if stat.S_ISLNK(info.st_mode):
            raise CleanError(
                f"{current} is a symbolic link (to {os.readlink(current)!r}): no component "
                f"below the volumes root {volume.root} may be a link, since cleaning through "
                f"it could delete something else; remove the link or give the real path",
                symlink=current)
        if not stat.S_ISDIR(info.st_mode):
            raise CleanError(f"{current} is a {_kind(info.st_mode)} where a directory should "
                             f"be: nothing was deleted; move it away by hand if it is debris",
                             not_a_directory=current)

    real_path = posixpath.join(os.path.realpath(volume.root),
                               posixpath.relpath(volume.host_path, volume.root))
    mounts = read_mounts()
    below = mounts_at_or_below(real_path, mounts)
    if below:
        raise CleanError(
            f"{', '.join(below)} {'is a mount point' if len(below) == 1 else 'are mount points'}"
            f" at or below the volume {volume.host_path}: cleaning would cross into another "
            f"file system; unmount it first. Nothing was deleted.", mounts=below)
    return DiskState(exists=True, real_path=real_path,
                     fstype=filesystem_type(real_path, mounts), stat=info,
                     root_stat=root_stat, chain=chain)


def _ident(info: os.stat_result) -> tuple[int, int]:
    return (info.st_dev, info.st_ino)


@dataclass
class OpenVolume:
    """Descriptors of the root, the volume's parent directory and the volume itself, each
    opened relative to the one above without following links and matched against the
    checks. Every change to the volume goes through these, never through its path."""

    root_fd: int
    parent_fd: int
    volume_fd: int
    name: str

    def close(self) -> None:
        for fd in sorted({self.volume_fd, self.parent_fd, self.root_fd}):
            if fd >= 0:
                os.close(fd)


def open_volume(volume: VolumeTarget, disk: DiskState) -> OpenVolume:
    """Open the checked path again, one component at a time (O_NOFOLLOW, relative to the
    parent's descriptor), and refuse if any directory is not the one the checks saw: a
    component swapped for a link or another directory since then would otherwise redirect
    the clean into someone else's data."""
    if disk.root_stat is None or not disk.chain:
        raise AssertionError("the volume directory was not inspected before this step")
    parts = posixpath.relpath(volume.host_path, volume.root).split("/")
    fds = [os.open(volume.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)]
    try:
        if _ident(os.fstat(fds[0])) != _ident(disk.root_stat):
            raise _changed(volume, volume.root, "another directory")
        current = volume.root
        for part, checked in zip(parts, disk.chain):
            current = posixpath.join(current, part)
            try:
                fds.append(os.open(part, _OPEN_DIR, dir_fd=fds[-1]))
            except OSError as exc:
                if exc.errno in PERMISSION_ERRNOS:
                    raise CleanError(f"cannot open {current}: {exc.strerror}. "
                                     f"{ROOT_SQUASH_HINT} Nothing was deleted or moved.",
                                     unreadable=[current]) from exc
                what = _describe_at(fds[-1], part, exc)
                raise _changed(volume, current, what) from exc
            if _ident(os.fstat(fds[-1])) != _ident(checked):
                raise _changed(volume, current, "another directory")
            if len(fds) > 3:  # keep the root, the parent and the newest only
                os.close(fds.pop(1))
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    parent_fd = fds[-2] if len(fds) >= 2 else fds[0]
    return OpenVolume(root_fd=fds[0], parent_fd=parent_fd, volume_fd=fds[-1], name=parts[-1])


def _describe_at(dir_fd: int, name: str, exc: OSError) -> str:
    """What name inside dir_fd is now, for an open that failed with exc."""
    try:
        info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return f"unreachable ({exc.strerror})"
    if stat.S_ISLNK(info.st_mode):
        return "a symbolic link"
    return f"a {_kind(info.st_mode)}" if not stat.S_ISDIR(info.st_mode) else \
        f"unreachable ({exc.strerror})"


def _changed(volume: VolumeTarget, where: str, what: str) -> CleanError:
    return CleanError(f"{where} became {what} after the checks: the path to {volume.host_path} "
                      f"changed while the clean was starting, so it could now lead into "
                      f"another volume. Nothing was deleted or moved; look at who changes "
                      f"{volume.root} and run again.", changed_path=where)


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "regular file"
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device node"
    return "non-directory"


# ---------------------------------------------------------------------------------------------
# Survey: what a clean would remove


@dataclass
class Survey:
    files: int = 0
    directories: int = 0
    bytes: int = 0
    other_devices: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    busy_names: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.files == 0 and self.directories == 0 and not self.unreadable

    def counts(self) -> dict[str, int]:
        return {"files": self.files, "directories": self.directories, "bytes": self.bytes}


def survey(path: str, device: int, workers: int = DELETE_WORKERS) -> Survey:
    """Count the files, directories and bytes below path without following links; note any
    directory on another device (a mount the mount table did not show) and unreadable ones.
    The top-level subdirectories are walked in parallel threads."""
    top = Survey()
    subdirectories = _survey_directory(path, device, top)
    if not subdirectories:
        return top

    def one(directory: str) -> Survey:
        part = Survey()
        pending = [directory]
        while pending:
            pending.extend(_survey_directory(pending.pop(), device, part))
        return part

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(subdirectories)))) as pool:
        for part in pool.map(one, subdirectories):
            top.files += part.files
            top.directories += part.directories
            top.bytes += part.bytes
            top.other_devices.extend(part.other_devices)
            top.unreadable.extend(part.unreadable)
            top.busy_names.extend(part.busy_names)
    return top


def _survey_directory(directory: str, device: int, result: Survey) -> list[str]:
    """Count one directory's entries into result; return its subdirectories on device."""
    subdirectories = []
    try:
        with os.scandir(directory) as entries:
            listing = list(entries)
    except OSError as exc:
        result.unreadable.append(f"{directory}: {exc.strerror}")
        return subdirectories
    for entry in listing:
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError as exc:
            result.unreadable.append(f"{entry.path}: {exc.strerror}")
            continue
        if stat.S_ISDIR(info.st_mode):
            if info.st_dev != device:
                result.other_devices.append(entry.path)
                continue
            result.directories += 1
            subdirectories.append(entry.path)
        else:
            result.files += 1
            result.bytes += info.st_size
            if entry.name.startswith(NFS_SILLY_PREFIX):
                result.busy_names.append(entry.path)
    return subdirectories


def is_empty(path: str) -> bool:
    with os.scandir(path) as entries:
        return next(entries, None) is None


# ---------------------------------------------------------------------------------------------
# The lock


@dataclass
class LockInfo:
    path: str
    holder: dict[str, t.Any]
    replaced_stale: dict[str, t.Any] | None = None


def _read_holder(lock_path: str) -> dict[str, t.Any]:
    return _read_lock(lock_path)[0]


Stamp = t.Tuple[int, int, int, int]


def _stamp(info: os.stat_result) -> Stamp:
    """What tells one lock file from another: inode numbers alone are reused at once."""
    return (info.st_dev, info.st_ino, info.st_mtime_ns, info.st_size)


def _read_lock(lock_path: str) -> tuple[dict[str, t.Any], Stamp | None]:
    """The holder written in the lock file ({} when unreadable) and the file's stamp (None
    when there is no lock file)."""
    try:
        fd = os.open(lock_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return {}, None
    with os.fdopen(fd, encoding="utf-8") as handle:
        stamp = _stamp(os.fstat(handle.fileno()))
        try:
            holder = json.load(handle)
        except (OSError, ValueError):
            return {}, stamp
    return (holder if isinstance(holder, dict) else {}), stamp


def _read_lock_when_written(lock_path: str) -> tuple[dict[str, t.Any], Stamp | None]:
    """_read_lock, waiting up to half a second for a lock file that was created but not
    written yet (its holder is between the create and the write), so that the holder can
    be named."""
    for _attempt in range(10):
        holder, stamp = _read_lock(lock_path)
        if holder or stamp is None:
            break
        time.sleep(0.05)
    return holder, stamp


def _remove_lock_file(lock_path: str, stamp: Stamp, holder: dict[str, t.Any]) -> bool:
    """Remove the lock file only if it is the very file that was judged (same stamp and
    holder): it is renamed aside first and compared; another file (someone took the lock
    meanwhile, after an operator removed the judged one) is linked back. True when the
    judged file went."""
    aside = f"{lock_path}.taking-{socket.gethostname()}-{os.getpid()}"
    try:
        os.rename(lock_path, aside)
    except FileNotFoundError:
        return False
    if _read_lock(aside) == (holder, stamp):
        os.unlink(aside)
        return True
    try:
        os.link(aside, lock_path)
    except FileExistsError:
        pass  # a third taker's lock is in place now; this one was already overtaken
    os.unlink(aside)
    return False


def _holder_age(lock_path: str, holder: dict[str, t.Any], now: float) -> float:
    since = holder.get("since_epoch")
    if isinstance(since, (int, float)):
        return now - since
    try:  # unreadable or half-written lock: the file's own time
        return now - os.lstat(lock_path).st_mtime
    except OSError:
        return 0.0


def _machine_identity() -> dict[str, str]:
    """What tells this process's host apart: the host name alone does not (containers and
    cloned instances share names), so the kernel's boot id and the PID namespace go with it.
    A PID means something only when all three match."""
    identity = {"host": socket.gethostname()}
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            identity["boot_id"] = handle.read().strip()
    except OSError:
        pass
    try:
        identity["pid_namespace"] = os.readlink("/proc/self/ns/pid")
    except OSError:
        pass
    return identity


def _process_gone(holder: dict[str, t.Any]) -> bool:
    """True only when the holder ran on this very machine and PID namespace (same host name,
    boot id and namespace) and its process no longer exists."""
    here = _machine_identity()
    if len(here) < 3 or any(holder.get(key) != value for key, value in here.items()) \
            or not isinstance(holder.get("pid"), int):
        return False
    try:
        os.kill(holder["pid"], 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def describe_holder(holder: dict[str, t.Any]) -> str:
    if not holder:
        return "an unknown holder (the lock file is unreadable)"
    return (f"host {holder.get('host', '?')}, process {holder.get('pid', '?')}, since "
            f"{holder.get('since', '?')}")


def _safe_directory(path: str, mode: int) -> None:
    """Create path (one level) if missing; refuse it when it is a link or not a directory."""
    try:
        os.mkdir(path, mode)
    except FileExistsError:
        pass
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise CleanError(f"{path} is a {_kind(info.st_mode)}, not a directory: move it away")


ROOT_SQUASH_HINT = ("On NFS this is root squashing: the server treats root as an unprivileged "
                    "user. On EFS, root needs the elasticfilesystem:ClientRootAccess "
                    "permission (file system policy or IAM mount), or run as the files' owner.")


def check_lock_timeout(lock_timeout: float) -> None:
    """A lock that is stale at once would let two cleans run together."""
    if not lock_timeout > 0:
        raise CleanError(f"lock_timeout={lock_timeout:g} must be more than 0 seconds: a lock "
                         f"that is stale at once protects nothing; use the default 3600 or the "
                         f"longest time a clean may take")


def acquire_lock(lock_path: str, lock_timeout: float, purpose: str) -> LockInfo:
    """Create the lock file exclusively; a lock older than lock_timeout, or left by a process
    of this host that no longer exists, is stale and replaced. Raises LockHeld otherwise."""
    check_lock_timeout(lock_timeout)
    try:
        return _acquire_lock(lock_path, lock_timeout, purpose)
    except PermissionError as exc:
        raise CleanError(f"cannot create the lock {lock_path}: {exc.strerror}. "
                         f"{ROOT_SQUASH_HINT} Nothing was deleted.") from exc


GUARD_NAME = ".guard"
GUARD_WAIT = 30.0


@contextlib.contextmanager
def _guard(lock_dir: str) -> t.Iterator[None]:
    """Serialise every removal of a lock file (a stale takeover, a release) across hosts: a
    POSIX record lock on <lock dir>/.guard, held for the few milliseconds of a judge-and-remove.
    Without it, two hosts that both judge one lock stale could each remove it, the second
    removing the fresh lock the first had just created. The kernel (or the NFS server) drops
    the record lock when its process dies, so the guard itself never goes stale."""
    path = posixpath.join(lock_dir, GUARD_NAME)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        deadline = time.monotonic() + GUARD_WAIT
        while True:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise CleanError(
                        f"cannot lock {path}: {exc.strerror}. The file system of the volumes "
                        f"root must support POSIX record locks (NFSv4 does; a mount with "
                        f"'nolock' or 'local_lock' does not share them between hosts). "
                        f"Nothing was deleted.") from exc
                if time.monotonic() >= deadline:
                    raise LockHeld(f"{path} stayed locked for {GUARD_WAIT:g} s: another clean "
                                   f"is taking over or releasing a lock there; try again") \
                        from exc
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing drops the record lock


def _create_lock(lock_path: str, holder: dict[str, t.Any]) -> bool:
    """Create the lock file with O_EXCL and write the holder; False when a lock file
    exists."""
    try:
        fd = os.open(lock_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                     | os.O_CLOEXEC, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(holder, handle)
        handle.flush()
        os.fsync(handle.fileno())
    return True


def _acquire_lock(lock_path: str, lock_timeout: float, purpose: str) -> LockInfo:
    lock_dir = posixpath.dirname(lock_path)
    _safe_directory(lock_dir, 0o755)
    now = time.time()
    holder = dict(_machine_identity(), pid=os.getpid(),
                  since=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)), since_epoch=now,
                  purpose=purpose)
    if _create_lock(lock_path, holder):
        return LockInfo(path=lock_path, holder=holder)
    # It exists: judge it, and if it is stale replace it, all inside the guard, so that no
    # other taker can remove a lock between this judgement and this removal.
    with _guard(lock_dir):
        for _attempt in range(3):
            current, stamp = _read_lock_when_written(lock_path)
            age = _holder_age(lock_path, current, time.time())
            if stamp is not None and age <= lock_timeout and not _process_gone(current):
                raise LockHeld(
                    f"another clean holds the lock {lock_path}: {describe_holder(current)} "
                    f"({age:.0f} s ago; it counts as stale after lock_timeout="
                    f"{lock_timeout:g} s). Wait for it to finish, or remove the lock file if "
                    f"that process is gone", holder=current)
            replaced = None
            if stamp is not None:
                if not _remove_lock_file(lock_path, stamp, current):
                    continue  # not the file judged: judge again
                replaced = current
            if _create_lock(lock_path, holder):
                return LockInfo(path=lock_path, holder=holder, replaced_stale=replaced)
        current = _read_holder(lock_path)  # someone outside the guard was faster
    raise LockHeld(f"another clean holds the lock {lock_path}: {describe_holder(current)} "
                   f"(it took the lock just now). Wait for it to finish", holder=current)


def release_lock(lock: LockInfo) -> str | None:
    """Remove the lock file if it is still this holder's (inside the guard: a lock judged
    stale and taken over meanwhile belongs to someone else now and stays). Returns a warning
    when the lock could not be released; it then expires after lock_timeout."""
    try:
        with _guard(posixpath.dirname(lock.path)):
            current, stamp = _read_lock(lock.path)
            if stamp is not None and current == lock.holder:
                _remove_lock_file(lock.path, stamp, current)
    except FileNotFoundError:
        pass
    except (CleanError, OSError) as exc:
        return (f"the lock {lock.path} was left in place ({exc}); it counts as stale after "
                f"lock_timeout, or remove it by hand")
    return None


# ---------------------------------------------------------------------------------------------
# Deleting


@dataclass
class Tally:
    files: int = 0
    directories: int = 0
    bytes: int = 0
    errors: list[tuple[str, int, str]] = field(default_factory=list)

    def failed(self, where: str, exc: OSError) -> None:
        """Note an error; ENOENT is not one: the entry is already gone (a .nfsXXXX file
        vanishes when its holder closes it, another clean may have removed it)."""
        if exc.errno != errno.ENOENT:
            self.errors.append((where, exc.errno or 0, exc.strerror or str(exc)))

    def add(self, other: Tally) -> None:
        self.files += other.files
        self.directories += other.directories
        self.bytes += other.bytes
        self.errors.extend(other.errors)


def _unlink(dir_fd: int, name: str, where: str, tally: Tally) -> None:
    """Remove one non-directory, counting its size; never follows a link."""
    try:
        size = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_size
        os.unlink(name, dir_fd=dir_fd)
    except OSError as exc:
        tally.failed(where, exc)
        return
    tally.files += 1
    tally.bytes += size


def _clear_files(dir_fd: int, relative: str, tally: Tally) -> list[str]:
    """Remove every non-directory inside dir_fd (links as links); return the names of its
    subdirectories."""
    subdirectories = []
    try:
        with os.scandir(dir_fd) as entries:
            listing = list(entries)
    except OSError as exc:
        tally.failed(relative, exc)
        return subdirectories
    for entry in listing:
        where = posixpath.join(relative, entry.name)
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError as exc:
            tally.failed(where, exc)
            continue
        if is_dir:
            subdirectories.append(entry.name)
        else:
            _unlink(dir_fd, entry.name, where, tally)
    return subdirectories


def _open_subdirectory(parent_fd: int, name: str, where: str, device: int,
                       tally: Tally) -> int | None:
    try:
        child_fd = os.open(name, _OPEN_DIR, dir_fd=parent_fd)
    except OSError as exc:  # ELOOP/ENOTDIR: it became a link since it was listed
        tally.failed(where, exc)
        return None
    if os.fstat(child_fd).st_dev != device:
        os.close(child_fd)
        tally.errors.append((where, errno.EXDEV, "another file system is mounted here"))
        return None
    return child_fd


def _rmdir(parent_fd: int, name: str, where: str, tally: Tally) -> bool:
    try:
        os.rmdir(name, dir_fd=parent_fd)
        return True
    except OSError as exc:
        tally.failed(where, exc)
        return False


@dataclass
class _Level:
    """One directory on the way down: its name in its parent, its identity, and the
    subdirectories still to visit."""

    name: str
    where: str
    ident: tuple[int, int]
    pending: list[str]


def _remove_directory(parent_fd: int, name: str, where: str, device: int, tally: Tally) -> bool:
    """Remove the directory name inside parent_fd and everything below it, never following
    links and never entering another device. Depth first with an explicit stack of names, not
    recursion, holding at most two descriptors however deep the tree is: going back up opens
    '..' and checks it is the directory that was entered. True when name itself was removed
    (the caller counts it)."""
    fd = _open_subdirectory(parent_fd, name, where, device, tally)
    if fd is None:
        return False
    stack = [_Level(name, where, _ident(os.fstat(fd)), _clear_files(fd, where, tally))]
    try:
        while stack:
            level = stack[-1]
            if level.pending:
                child = level.pending.pop()
                child_where = posixpath.join(level.where, child)
                child_fd = _open_subdirectory(fd, child, child_where, device, tally)
                if child_fd is not None:
                    os.close(fd)
                    fd = child_fd
                    stack.append(_Level(child, child_where, _ident(os.fstat(fd)),
                                        _clear_files(fd, child_where, tally)))
                continue
            stack.pop()
            if not stack:
                os.close(fd)
                fd = -1
                return _rmdir(parent_fd, level.name, level.where, tally)
            up_fd = os.open("..", _OPEN_DIR, dir_fd=fd)
            os.close(fd)
            fd = up_fd
            if _ident(os.fstat(fd)) != stack[-1].ident:
                tally.errors.append((level.where, errno.ESTALE, "the directory was moved "
                                     "while it was being deleted"))
                return False
            if _rmdir(fd, level.name, level.where, tally):
                tally.directories += 1
        return False
    except OSError as exc:
        tally.failed(where, exc)
        return False
    finally:
        if fd >= 0:
            os.close(fd)


def _delete_pass(volume_fd: int, device: int, workers: int) -> Tally:
    """One pass over the volume: the files at its top here, each subdirectory in a thread
    (on NFS every unlink is a round trip, so parallel directories hide the latency)."""
    tally = Tally()
    with os.scandir(volume_fd) as entries:
        listing = list(entries)
    subdirectories = []
    for entry in listing:
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError as exc:
            tally.failed(entry.name, exc)
            continue
        if is_dir:
            subdirectories.append(entry.name)
            continue
        _unlink(volume_fd, entry.name, entry.name, tally)

    def one(name: str) -> Tally:
        local = Tally()
        if _remove_directory(volume_fd, name, name, device, local):
            local.directories += 1
        return local

    if len(subdirectories) <= 1 or workers <= 1:
        for name in subdirectories:
            tally.add(one(name))
    else:
        with ThreadPoolExecutor(max_workers=min(workers, len(subdirectories))) as pool:
            for part in pool.map(one, subdirectories):
                tally.add(part)
    return tally


@dataclass
class DeleteResult:
    files: int
    directories: int
    bytes: int
    passes: int
    errors: list[tuple[str, int, str]]


def delete_contents(path: str, device: int, busy_timeout: float,
                    workers: int = DELETE_WORKERS) -> DeleteResult:
    """Empty the directory at path. Files some process holds open (EBUSY, ENOTEMPTY) are
    retried until busy_timeout has passed; any other error stops at the end of the pass.
    Everything that can go, goes. The caller decides what the remaining errors mean."""
    volume_fd = os.open(path, _OPEN_DIR)
    try:
        return delete_contents_fd(volume_fd, path, device, busy_timeout, workers)
    finally:
        os.close(volume_fd)


def delete_contents_fd(volume_fd: int, path: str, device: int, busy_timeout: float,
                       workers: int = DELETE_WORKERS) -> DeleteResult:
    """delete_contents on a directory already open as volume_fd (path only names it)."""
    if os.fstat(volume_fd).st_dev != device:
        raise CleanError(f"{path} changed to another file system since it was checked: "
                         f"nothing was deleted")
    deadline = time.monotonic() + busy_timeout
    total = Tally()
    passes = 0
    while True:
        passes += 1
        current = _delete_pass(volume_fd, device, workers)
        total.files += current.files
        total.directories += current.directories
        total.bytes += current.bytes
        if not current.errors:
            # A pass without errors has not proved the volume empty: NFS renames a deleted
            # file that is still open to .nfsXXXX, after the listing. Anything there now
            # counts as busy and goes through the same retries.
            current.errors = _leftovers(volume_fd)
            if not current.errors:
                return DeleteResult(total.files, total.directories, total.bytes, passes, [])
        only_busy = all(code in BUSY_ERRNOS for _where, code, _text in current.errors)
        if not only_busy or time.monotonic() >= deadline:
            return DeleteResult(total.files, total.directories, total.bytes, passes,
                                current.errors)
        time.sleep(min(RETRY_PAUSE, max(0.0, deadline - time.monotonic())))


def _leftovers(volume_fd: int) -> list[tuple[str, int, str]]:
    """The entries still in the volume after a clean pass, as busy errors."""
    with os.scandir(volume_fd) as entries:
        names = sorted(entry.name for entry in entries)
    return [(name, errno.EBUSY, "still present after a pass without errors (a file some "
                                "process holds open)") for name in names]


def explain_failure(volume: VolumeTarget, result: DeleteResult, remaining: Survey,
                    fstype: str, busy_timeout: float) -> str:
    """The message of a partial delete: what went, what remains, why, and what to do."""
    codes = {code for _where, code, _text in result.errors}
    example_where, _code, example_text = result.errors[0]
    parts = [f"the volume {volume.host_path} was only partly cleaned: removed "
             f"{result.files} files and {result.directories} directories; remaining "
             f"{remaining.files} files and {remaining.directories} directories "
             f"({remaining.bytes} bytes)."]
    busy = sorted({where for where, code, _text in result.errors
                   if code in (errno.EBUSY, errno.ETXTBSY)}
                  | {posixpath.relpath(name, volume.host_path) for name in remaining.busy_names})
    if busy:
        parts.append(f"{len(busy)} busy {'file remains' if len(busy) == 1 else 'files remain'} "
                     f"after retrying for {busy_timeout:g} s (for example {busy[0]}): a "
                     f"process still holds {'it' if len(busy) == 1 else 'them'} open (NFS keeps "
                     f"a deleted open file as .nfsXXXX). Stop the service first (for example "
                     f"'convox scale {volume.service} --count 0'), then run the clean again.")
    if codes & PERMISSION_ERRNOS:
        parts.append(f"Permission denied on {example_where} ({example_text}) on a {fstype} "
                     f"file system. {ROOT_SQUASH_HINT} On a local file system look for the "
                     f"immutable attribute (lsattr).")
    other = [(where, text) for where, code, text in result.errors
             if code not in BUSY_ERRNOS | PERMISSION_ERRNOS]
    if other:
        parts.append(f"{len(other)} other errors, first: {other[0][0]}: {other[0][1]}.")
    if not busy and codes <= {errno.ENOTEMPTY}:
        parts.append(f"Directories stayed non-empty (first: {example_where}): something keeps "
                     f"writing into the volume; stop the service first.")
    return " ".join(parts)


# ---------------------------------------------------------------------------------------------
# Quarantine and restore


def trash_name(volume: VolumeTarget, when: float) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(when))
    return f"{stamp}-{volume.label}-{volume.slug}"


def quarantine(volume: VolumeTarget, disk: DiskState, opened: OpenVolume,
               recreate: bool) -> tuple[str, bool]:
    """Rename the volume into <root>/.convox-trash/ and record where it came from; recreate an
    empty directory with the old owner and mode. Returns (quarantined_to, recreated).

    The rename and the recreate go through the descriptors of open_volume. Once the rename has
    happened, a later failure raises CleanError that still carries quarantined_to."""
    if disk.stat is None:
        raise AssertionError("the volume directory was not inspected before this step")
    _safe_directory(volume.trash_dir, 0o700)
    trash_fd = os.open(TRASH_DIR, _OPEN_DIR, dir_fd=opened.root_fd)
    try:
        if os.fstat(trash_fd).st_dev != disk.stat.st_dev:
            raise CleanError(f"the trash {volume.trash_dir} is on another file system than "
                             f"{volume.host_path}, so a quarantine cannot be an instant "
                             f"rename: clean without quarantine, or fix the mounts")
        base = trash_name(volume, time.time())
        name, counter = base, 1
        while _lexists(name, trash_fd) or _lexists(name + SIDECAR_SUFFIX, trash_fd):
            counter += 1
            name = f"{base}-{counter}"
        destination = posixpath.join(volume.trash_dir, name)
        os.rename(opened.name, name, src_dir_fd=opened.parent_fd, dst_dir_fd=trash_fd)
        moved = os.stat(name, dir_fd=trash_fd, follow_symlinks=False)
        if _ident(moved) != _ident(os.fstat(opened.volume_fd)):
            # the name was pointed at something else between the open and the rename
            os.rename(name, opened.name, src_dir_fd=trash_fd, dst_dir_fd=opened.parent_fd)
            raise _changed(volume, volume.host_path, "another entry")
        return destination, _after_rename(volume, disk.stat, opened, trash_fd, name,
                                          destination, recreate)
    finally:
        os.close(trash_fd)


def _lexists(name: str, dir_fd: int) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _after_rename(volume: VolumeTarget, old: os.stat_result, opened: OpenVolume, trash_fd: int,
                  name: str, destination: str, recreate: bool) -> bool:
    """Write the record and recreate the directory; say exactly what did not happen."""
    incomplete = []
    record = dict(volume.describe(), quarantined_at=time.time(), mode=stat.S_IMODE(old.st_mode),
                  uid=old.st_uid, gid=old.st_gid)
    try:
        write_record(trash_fd, name + SIDECAR_SUFFIX, record)
    except OSError as exc:
        incomplete.append(f"the record {destination + SIDECAR_SUFFIX} was not written "
                          f"({exc.strerror or exc}), so convox_volume_restore needs rack, app, "
                          f"service and path given explicitly")
    recreated = False
    if recreate:
        try:
            recreate_directory(opened.parent_fd, opened.name, old)
            recreated = True
        except OSError as exc:
            incomplete.append(f"{volume.host_path} was not recreated ({exc.strerror or exc}): "
                              f"create it by hand with owner {old.st_uid}:{old.st_gid} and mode "
                              f"{stat.S_IMODE(old.st_mode):04o}, or restore the volume")
    if incomplete:
        raise CleanError(f"moved {volume.host_path} to {destination}, but "
                         + "; and ".join(incomplete) + ".",
                         quarantined_to=destination, recreated=recreated, changed=True,
                         incomplete=incomplete)
    return recreated


def write_record(dir_fd: int, name: str, record: dict[str, t.Any]) -> None:
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o644, dir_fd=dir_fd)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=1)


def recreate_directory(parent_fd: int, name: str, old: os.stat_result) -> None:
    """An empty directory name inside parent_fd with the old owner and mode, set through an
    O_NOFOLLOW descriptor of the new directory."""
    os.mkdir(name, 0o700, dir_fd=parent_fd)
    fd = os.open(name, _OPEN_DIR, dir_fd=parent_fd)
    try:
        os.fchown(fd, old.st_uid, old.st_gid)
        os.fchmod(fd, stat.S_IMODE(old.st_mode))
    except OSError:
        # no half-made directory with the wrong owner: it is either right or not there
        if _ident(os.stat(name, dir_fd=parent_fd, follow_symlinks=False)) == \
                _ident(os.fstat(fd)):
            os.rmdir(name, dir_fd=parent_fd)
        raise
    finally:
        os.close(fd)


def read_quarantine_record(quarantined_to: str) -> dict[str, t.Any]:
    for suffix, restored in ((SIDECAR_SUFFIX, False), (RESTORED_SUFFIX, True)):
        try:
            with open(quarantined_to + suffix, encoding="utf-8") as handle:
                record = json.load(handle)
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as exc:
            raise CleanError(f"the record {quarantined_to + suffix} is unreadable ({exc}): "
                             f"give rack, app, service and path to say where it goes") from exc
        record["restored"] = restored
        return record
    return {}


def check_trash_entry(quarantined_to: object) -> tuple[str, str]:
    """quarantined_to must be an entry directly inside some <root>/.convox-trash/.
    Returns (normalised path, root)."""
    path = normalise_absolute(quarantined_to, "quarantined_to")
    trash = posixpath.dirname(path)
    if posixpath.basename(trash) != TRASH_DIR or path.endswith(SIDECAR_SUFFIX):
        raise VolumeRuleError(f"quarantined_to {quarantined_to!r} is not an entry of a "
                              f"{TRASH_DIR} directory: give the quarantined_to value that "
                              f"convox_volume_clean returned")
    return path, posixpath.dirname(trash)


def check_restore(volume: VolumeTarget, quarantined_to: str) -> DiskState:
    """Refuse a restore that would mix data or go through a link; reads only."""
    entry = os.lstat(quarantined_to)
    if not stat.S_ISDIR(entry.st_mode):
        raise CleanError(f"{quarantined_to} is a {_kind(entry.st_mode)}, not a quarantined "
                         f"volume directory")
    disk = check_on_disk(volume)
    if disk.exists and not is_empty(volume.host_path):
        count = len(os.listdir(volume.host_path))
        raise CleanError(
            f"the volume directory {volume.host_path} holds {count} entries: restoring "
            f"would mix two versions of the volume. Clean it first (convox_volume_clean), "
            f"or move its contents away, then restore", entries=count)
    return disk


def restore(volume: VolumeTarget, quarantined_to: str) -> None:
    """Move a quarantined volume back, through descriptors: the trash and every directory on
    the way to the volume are opened relative to the root with O_NOFOLLOW (missing ones are
    created), and the rename replaces only a missing or empty directory (rename(2) itself
    refuses a non-empty one), so the volume cannot land anywhere but where it came from, nor
    mix with data written in between."""
    disk = check_restore(volume, quarantined_to)
    if posixpath.dirname(quarantined_to) != volume.trash_dir:
        raise CleanError(f"{quarantined_to} is not in {volume.trash_dir}: a volume is restored "
                         f"from the trash of its own root only")
    root_fd = os.open(volume.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if disk.root_stat is not None and _ident(os.fstat(root_fd)) != _ident(disk.root_stat):
            raise _changed(volume, volume.root, "another directory")
        trash_fd = _open_below(volume, root_fd, [TRASH_DIR], create=False)
        try:
            entry = posixpath.basename(quarantined_to)
            info = os.stat(entry, dir_fd=trash_fd, follow_symlinks=False)
            if not stat.S_ISDIR(info.st_mode):
                raise CleanError(f"{quarantined_to} is a {_kind(info.st_mode)}, not a "
                                 f"quarantined volume directory")
            parts = posixpath.relpath(volume.host_path, volume.root).split("/")
            parent_fd = _open_below(volume, root_fd, parts[:-1], create=True)
            try:
                try:
                    os.rename(entry, parts[-1], src_dir_fd=trash_fd, dst_dir_fd=parent_fd)
                except OSError as exc:
                    if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                        raise CleanError(
                            f"the volume directory {volume.host_path} is no longer empty: "
                            f"restoring would mix two versions of the volume. Clean it first, "
                            f"then restore. Nothing was moved.") from exc
                    if exc.errno == errno.ENOTDIR:
                        raise _changed(volume, volume.host_path, "a non-directory") from exc
                    raise
                moved = os.stat(parts[-1], dir_fd=parent_fd, follow_symlinks=False)
                if _ident(moved) != _ident(info):
                    # the trash entry was swapped between its check and the rename
                    os.rename(parts[-1], entry, src_dir_fd=parent_fd, dst_dir_fd=trash_fd)
                    raise CleanError(f"{quarantined_to} was replaced while the restore was "
                                     f"starting; it was moved back to the trash and nothing "
                                     f"was restored. Look at who changes {volume.trash_dir}")
            finally:
                os.close(parent_fd)
            try:
                os.rename(entry + SIDECAR_SUFFIX, entry + RESTORED_SUFFIX, src_dir_fd=trash_fd,
                          dst_dir_fd=trash_fd)
            except FileNotFoundError:
                pass
        finally:
            os.close(trash_fd)
    finally:
        os.close(root_fd)


def _open_below(volume: VolumeTarget, root_fd: int, parts: list[str], create: bool) -> int:
    """The directory root/parts..., opened one component at a time without following links;
    missing components are created (mode 0755) when create is true."""
    fd = os.dup(root_fd)
    current = volume.root
    try:
        for part in parts:
            current = posixpath.join(current, part)
            try:
                child = os.open(part, _OPEN_DIR, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                try:
                    os.mkdir(part, 0o755, dir_fd=fd)
                except FileExistsError:
                    pass
                child = os.open(part, _OPEN_DIR, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise _changed(volume, current, _describe_at(fd, part, exc)) from exc
                raise
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


# ---------------------------------------------------------------------------------------------
# The whole task


def decide(empty: bool, quarantine_it: bool, recreate: bool) -> str | None:
    """The one decision both check mode and the real run follow: None (nothing to do: the
    volume is already an empty directory and should stay one), 'quarantine', 'delete', or
    'remove-empty' (an empty directory that should not stay)."""
    if empty and recreate:
        return None
    if quarantine_it:
        return "quarantine"
    return "remove-empty" if empty else "delete"


def clean_volume(volume: VolumeTarget, *, quarantine_it: bool, recreate: bool,
                 busy_timeout: float, lock_timeout: float, check_mode: bool,
                 log: t.Callable[[str], None] = lambda _message: None) -> dict[str, t.Any]:
    """Check, lock, then delete or quarantine one volume. Returns the module's result;
    raises CleanError (with details) when refused or when the delete was partial."""
    check_lock_timeout(lock_timeout)
    result: dict[str, t.Any] = {
        "changed": False, "host_path": volume.host_path, "quarantined_to": None,
        "recreated": False, "removed": {"files": 0, "directories": 0, "bytes": 0}}
    disk = check_on_disk(volume)
    if not disk.exists:
        result["msg"] = f"{volume.host_path} does not exist: nothing to clean"
        return result
    if disk.stat is None:
        raise AssertionError("the volume directory was not inspected before this step")
    log(f"{volume.host_path} passed the checks (inside {volume.service_dir}, no links below "
        f"{volume.root}, no mounts below it, {disk.fstype} file system)")
    if check_mode:
        return _predict(volume, disk, quarantine_it, recreate, result)

    lock = acquire_lock(volume.lock_path, lock_timeout, f"clean {volume.host_path}")
    if lock.replaced_stale is not None:
        result["warnings"] = [f"replaced a stale lock {volume.lock_path} of "
                              f"{describe_holder(lock.replaced_stale)}"]
    try:
        opened = open_volume(volume, disk)
        try:
            with os.scandir(opened.volume_fd) as entries:
                empty = next(entries, None) is None
            action = decide(empty, quarantine_it, recreate)
            log(f"decided: {action or 'nothing to do'} ({'empty' if empty else 'not empty'}, "
                f"quarantine={quarantine_it}, recreate={recreate})")
            if action is None:
                result["msg"] = f"{volume.host_path} is already empty: nothing to clean"
                return result
            if action == "quarantine":
                try:
                    return _quarantine_step(volume, disk, opened, recreate, result, log)
                except PermissionError as exc:
                    raise CleanError(f"cannot move {volume.host_path} to the trash: {exc}. "
                                     f"{ROOT_SQUASH_HINT}") from exc
            if action == "remove-empty":
                _remove_opened(volume, opened, "nothing was deleted")
                result.update(changed=True,
                              diff=_diff(volume, result["removed"], False, False),
                              msg=f"removed the empty directory {volume.host_path}")
                return result
            return _delete_step(volume, disk, opened, recreate, busy_timeout, result)
        finally:
            opened.close()
    finally:
        problem = release_lock(lock)
        if problem is not None:
            result.setdefault("warnings", []).append(problem)


def _remove_opened(volume: VolumeTarget, opened: OpenVolume, so_far: str) -> None:
    """Remove the (empty) volume directory by its name in the parent, once that name is seen
    to still be the directory that was opened and checked."""
    now = os.stat(opened.name, dir_fd=opened.parent_fd, follow_symlinks=False)
    if _ident(now) != _ident(os.fstat(opened.volume_fd)):
        raise CleanError(f"{volume.host_path} now names another entry than the directory that "
                         f"was checked, so it was not removed ({so_far}); look at who changes "
                         f"{volume.root}", changed_path=volume.host_path)
    os.rmdir(opened.name, dir_fd=opened.parent_fd)


def _predict(volume: VolumeTarget, disk: DiskState, quarantine_it: bool, recreate: bool,
             result: dict[str, t.Any]) -> dict[str, t.Any]:
    """Check mode: what the real run would do, by the same decision."""
    if disk.stat is None:
        raise AssertionError("the volume directory was not inspected before this step")
    found = survey(volume.host_path, disk.stat.st_dev, workers_for(disk.fstype))
    if found.other_devices:
        raise CleanError(f"{', '.join(found.other_devices)} is on another file system than "
                         f"{volume.host_path} (a mount): unmount it first. Nothing was "
                         f"deleted.", mounts=found.other_devices)
    action = decide(found.empty, quarantine_it, recreate)
    # A quarantine only renames, so unreadable entries inside do not stop it; the volume
    # directory itself must still be opened, by every action.
    top_unreadable = any(item.startswith(volume.host_path + ": ") for item in found.unreadable)
    if found.unreadable and (action != "quarantine" or top_unreadable):
        raise CleanError(
            f"check mode: the clean would stop partway: {len(found.unreadable)} entries of "
            f"{volume.host_path} cannot be read (first: {found.unreadable[0]}) on a "
            f"{disk.fstype} file system. {ROOT_SQUASH_HINT} Nothing was touched.",
            unreadable=found.unreadable[:20], removed=found.counts())
    if action is None:
        result["msg"] = f"{volume.host_path} is already empty: nothing to clean"
        return result
    verb = {"quarantine": "move to the trash", "delete": "delete",
            "remove-empty": "remove the empty directory and delete"}[action]
    result.update(changed=True, removed=found.counts(), recreated=recreate,
                  diff=_diff(volume, found.counts(), quarantine_it, recreate),
                  msg=f"would {verb} {found.files} files, {found.directories} "
                      f"directories, {found.bytes} bytes in {volume.host_path}")
    return result


def _delete_step(volume: VolumeTarget, disk: DiskState, opened: OpenVolume, recreate: bool,
                 busy_timeout: float, result: dict[str, t.Any]) -> dict[str, t.Any]:
    """Delete in one walk that counts as it goes, through the volume's descriptor: the mount
    table was checked already, and the walk itself never enters another device."""
    if disk.stat is None:
        raise AssertionError("the volume directory was not inspected before this step")
    started = time.monotonic()
    workers = workers_for(disk.fstype)
    deleted = delete_contents_fd(opened.volume_fd, volume.host_path, disk.stat.st_dev,
                                 busy_timeout, workers)
    removed = {"files": deleted.files, "directories": deleted.directories,
               "bytes": deleted.bytes}
    if deleted.errors:
        remaining = survey(volume.host_path, disk.stat.st_dev, workers_for(disk.fstype))
        raise CleanError(explain_failure(volume, deleted, remaining, disk.fstype, busy_timeout),
                         removed=removed, remaining=remaining.counts(),
                         host_path=volume.host_path,
                         changed=bool(deleted.files or deleted.directories))
    if recreate:
        result["recreated"] = True
    else:
        _remove_opened(volume, opened, f"its contents were deleted ({deleted.files} files)")
    result.update(changed=True, removed=removed,
                  diff=_diff(volume, removed, False, recreate),
                  msg=f"deleted {deleted.files} files, {deleted.directories} directories, "
                      f"{deleted.bytes} bytes in {volume.host_path} in "
                      f"{time.monotonic() - started:.1f} s ({deleted.passes} passes, up to "
                      f"{workers} threads on a {disk.fstype} file system)"
                      + ("" if recreate else "; removed the directory itself"))
    return result


def _quarantine_step(volume: VolumeTarget, disk: DiskState, opened: OpenVolume, recreate: bool,
                     result: dict[str, t.Any], log: t.Callable[[str], None]) -> dict[str, t.Any]:
    destination, recreated = quarantine(volume, disk, opened, recreate)
    log(f"renamed {volume.host_path} to {destination}")
    result.update(changed=True, quarantined_to=destination, recreated=recreated,
                  diff={"before": f"{volume.host_path}: volume data\n",
                        "after": f"{volume.host_path}: "
                                 f"{'empty directory' if recreated else 'absent'}\n"
                                 f"{destination}: volume data (quarantined)\n"},
                  msg=f"moved {volume.host_path} to {destination}"
                      + ("; recreated it empty with the old owner and mode" if recreated
                         else ""))
    return result


def _diff(volume: VolumeTarget, counts: dict[str, int], quarantine_it: bool,
          recreate: bool) -> dict[str, str]:
    after = "empty directory" if recreate else "absent"
    if quarantine_it:
        after += f" (data moved to {volume.trash_dir}/)"
    return {"before": f"{volume.host_path}: {counts['files']} files, "
                      f"{counts['directories']} directories, {counts['bytes']} bytes\n",
            "after": f"{volume.host_path}: {after}\n"}
