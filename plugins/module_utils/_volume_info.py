# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: contributors to the convox.volumes collection
"""Listing the volumes under a root and judging their health, with a time limit.

Every access to the tree runs in a forked child (call_with_timeout): a dead NFS server blocks
every access in the kernel, so the parent only waits as long as the caller allows and then
reports what it could not reach.

Where a volume starts is not written on disk. Without a container path, a volume is found by
following directories that hold exactly one subdirectory from the service directory down
(db/var/lib/postgresql/data), so a volume whose only content is one directory is reported
one level too deep; giving the container path avoids that guess.
"""
from __future__ import annotations

import errno
import json
import os
import posixpath
import stat
import time
import typing as t

from ansible_collections.convox.volumes.plugins.module_utils._child import (
    ChildFailed,
    ChildTimeout,
    call_with_timeout,
)
from ansible_collections.convox.volumes.plugins.module_utils._clean import (
    NFS_SILLY_PREFIX,
    SIDECAR_SUFFIX,
    TRASH_DIR,
)
from ansible_collections.convox.volumes.plugins.module_utils._paths import (
    VolumeRuleError,
    normalise_container_path,
    validate_name,
)

MAX_PROBLEMS = 100

_REASONS = {
    errno.ESTALE: "stale file handle",
    errno.EIO: "I/O error",
    errno.EACCES: "unreadable (permission denied)",
    errno.EPERM: "unreadable (operation not permitted)",
    errno.ELOOP: "symbolic link loop",
    errno.ENOTCONN: "file system not connected",
    errno.ENOTDIR: "a file where a directory should be (on the way to it)",
}


def reason_for(exc: OSError) -> str:
    return _REASONS.get(exc.errno or 0, exc.strerror or str(exc))


def _problem(path: str, reason: str) -> dict[str, str]:
    return {"path": path, "reason": reason}


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "a special file"


# ---------------------------------------------------------------------------------------------
# Discovery: which service directories and volumes are in scope (runs in a child)


def _app_directories(target: str, root: str, rack: str | None,
                     app: str | None) -> list[tuple[str, str, str]]:
    """(rack, app, directory) of every app directory of the scope."""
    found = []
    for name in sorted(os.listdir(root)):
        if name.startswith("."):
            continue
        if target == "rack":
            prefix = f"{rack}-"
            if not name.startswith(prefix) or (app is not None and name != prefix + app):
                continue
            found.append((rack or "", name[len(prefix):], posixpath.join(root, name)))
        elif app is None or name == app:
            found.append(("", name, posixpath.join(root, name)))
    return found


def _chain_end(directory: str) -> str:
    """Follow directories that hold exactly one entry, itself a real directory."""
    while True:
        entries = os.listdir(directory)
        if len(entries) != 1:
            return directory
        below = posixpath.join(directory, entries[0])
        if not stat.S_ISDIR(os.lstat(below).st_mode):
            return directory
        directory = below


def discover(target: str, root: str, rack: str | None, app: str | None, service: str | None,
             container_path: str | None) -> dict[str, t.Any]:
    """The volumes of the scope (unwalked), problems of the layout itself, and the trash."""
    volumes: list[dict[str, t.Any]] = []
    problems: list[dict[str, str]] = []
    for rack_name, app_name, app_dir in _app_directories(target, root, rack, app):
        mode = os.lstat(app_dir).st_mode
        if not stat.S_ISDIR(mode):
            problems.append(_problem(app_dir, f"{_kind(mode)} where an app directory should be"))
            continue
        for service_name in sorted(os.listdir(app_dir)):
            if service is not None and service_name != service:
                continue
            service_dir = posixpath.join(app_dir, service_name)
            base = {"rack": rack_name or None, "app": app_name, "service": service_name}
            mode = os.lstat(service_dir).st_mode
            if not stat.S_ISDIR(mode):
                problems.append(_problem(service_dir,
                                         f"{_kind(mode)} where a service directory should be"))
                continue
            if container_path is not None:
                candidates = [posixpath.join(service_dir, container_path.lstrip("/"))]
            else:
                candidates = [posixpath.join(service_dir, name)
                              for name in sorted(os.listdir(service_dir))]
            for candidate in candidates:
                entry = _linked_component(service_dir, candidate) \
                    or _candidate(candidate, container_path is None)
                if entry is not None:
                    volumes.append(dict(base, **entry))
    return {"volumes": volumes, "problems": problems,
            "quarantined": quarantined(root, target, rack, app, service)}


def _unwalked(host_path: str, where: str, reason: str) -> dict[str, t.Any]:
    """A volume entry that is reported with one problem and not walked."""
    return {"host_path": host_path, "walk": False, "exists": True,
            "problems": [_problem(where, reason)]}


def _linked_component(service_dir: str, candidate: str) -> dict[str, t.Any] | None:
    """A problem entry when a directory between the service directory and the volume is a
    symbolic link (the walk would measure somewhere else, and clean refuses it); None when
    every component is a real directory or one is missing."""
    current = service_dir
    for part in posixpath.relpath(candidate, service_dir).split("/")[:-1]:
        current = posixpath.join(current, part)
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            return None
        except OSError as exc:
            return _unwalked(candidate, current, reason_for(exc))
        if stat.S_ISLNK(mode):
            try:
                target = repr(os.readlink(current))
            except OSError:  # gone again since the lstat
                target = "somewhere"
            return _unwalked(candidate, current,
                             f"a symbolic link (to {target}) on the way to the volume: not "
                             f"walked, and clean refuses it")
        if not stat.S_ISDIR(mode):
            return _unwalked(candidate, candidate, _REASONS[errno.ENOTDIR])
    return None


def _candidate(candidate: str, guess: bool) -> dict[str, t.Any] | None:
    """A volume entry with its host path ('walk': whether to walk it), None if missing."""
    try:
        mode = os.lstat(candidate).st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        return _unwalked(candidate, candidate, reason_for(exc))
    if stat.S_ISLNK(mode):
        try:
            os.stat(candidate)
            reason = "a symbolic link where a volume directory should be (clean refuses it)"
        except OSError:
            reason = "dangling symbolic link where a volume directory should be"
        return _unwalked(candidate, candidate, reason)
    if not stat.S_ISDIR(mode):
        return _unwalked(candidate, candidate,
                         f"{_kind(mode)} where a volume directory should be")
    host_path = _chain_end(candidate) if guess else candidate
    return {"host_path": host_path, "walk": True, "exists": True, "problems": []}


def quarantined(root: str, target: str, rack: str | None, app: str | None,
                service: str | None) -> list[dict[str, t.Any]]:
    """Trash entries of the scope, newest first, with their age in seconds."""
    trash = posixpath.join(root, TRASH_DIR)
    try:
        names = os.listdir(trash)
    except FileNotFoundError:
        return []
    now = time.time()
    entries = []
    for name in names:
        if name.endswith(SIDECAR_SUFFIX):
            continue
        path = posixpath.join(trash, name)
        record: dict[str, t.Any] = {}
        try:
            with open(path + SIDECAR_SUFFIX, encoding="utf-8") as handle:
                record = json.load(handle)
        except (OSError, ValueError):
            pass
        wanted = {"rack": rack if target == "rack" else None, "app": app, "service": service}
        if record:
            if any(value is not None and record.get(key) != value
                   for key, value in wanted.items()):
                continue
        elif any(value is not None for value in wanted.values()):
            continue  # no record: only listed when the whole root is asked for
        since = record.get("quarantined_at") or os.lstat(path).st_mtime
        entries.append({"path": path, "age_seconds": int(now - since),
                        "host_path": record.get("host_path"), "rack": record.get("rack"),
                        "app": record.get("app"), "service": record.get("service")})
    return sorted(entries, key=lambda entry: entry["age_seconds"])


# ---------------------------------------------------------------------------------------------
# Walking one volume (runs in a child)


def walk_volume(host_path: str) -> dict[str, t.Any]:
    """Files, bytes, newest change and problems of one volume tree. Never follows links into
    the tree and never enters another file system (a mount inside is itself a problem)."""
    top = os.lstat(host_path)
    files = 0
    size = 0
    newest = top.st_mtime
    problems: list[dict[str, str]] = []
    more = 0

    def note(path: str, reason: str) -> None:
        nonlocal more
        if len(problems) < MAX_PROBLEMS:
            problems.append(_problem(path, reason))
        else:
            more += 1

    pending = [host_path]
    while pending:
        directory = pending.pop()
        try:
            with os.scandir(directory) as iterator:
                entries = list(iterator)
        except OSError as exc:
            note(directory, reason_for(exc))
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError as exc:
                note(entry.path, reason_for(exc))
                continue
            newest = max(newest, info.st_mtime)
            if stat.S_ISDIR(info.st_mode):
                if info.st_dev != top.st_dev:
                    note(entry.path, "another file system is mounted here (clean refuses it)")
                    continue
                pending.append(entry.path)
                continue
            files += 1
            size += info.st_size
            if stat.S_ISLNK(info.st_mode):
                try:
                    os.stat(entry.path)
                except FileNotFoundError:
                    note(entry.path, f"dangling symbolic link to {os.readlink(entry.path)!r}")
                except OSError as exc:
                    note(entry.path, f"symbolic link: {reason_for(exc)}")
            elif entry.name.startswith(NFS_SILLY_PREFIX):
                note(entry.path, "deleted file still held open by a process (NFS .nfsXXXX)")
    if more:
        problems.append(_problem(host_path, f"{more} more problems not listed"))
    return {"files": files, "bytes": size, "problems": problems,
            "newest_change": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(newest))}


# ---------------------------------------------------------------------------------------------
# The whole listing


def validate_scope(target: str, rack: object, app: object, service: object,
                   path: object) -> str | None:
    """Check the scope names; return the normalised container path, if any."""
    if target == "rack":
        validate_name("rack", rack)
    if app is not None:
        validate_name("app", app)
    if service is not None:
        if app is None:
            raise VolumeRuleError(f"service {service!r} is given without app: name the app too")
        validate_name("service", service)
    return normalise_container_path(path) if path is not None else None


def volume_info(*, target: str, root: str, rack: str | None, app: str | None,
                service: str | None, container_path: str | None,
                timeout: float) -> dict[str, t.Any]:
    """List and walk the volumes of the scope within `timeout` seconds in all."""
    deadline = time.monotonic() + timeout
    result: dict[str, t.Any] = {"changed": False, "root": root, "volumes": [],
                                "quarantined": [], "problems": [], "unreachable": []}
    try:
        found = call_with_timeout(discover, (target, root, rack, app, service, container_path),
                                  timeout=timeout)
    except ChildTimeout:
        result["unreachable"].append(root)
        result["problems"].append(_problem(root, f"not reachable within {timeout:g} s: the "
                                                 f"file server may be down"))
        return result
    except ChildFailed as exc:
        if exc.exc_type == "FileNotFoundError":
            result["msg"] = f"the volumes root {root} does not exist: no volumes"
            return result
        result["problems"].append(_problem(root, f"cannot be listed: {exc}"))
        return result
    result["problems"] = found["problems"]
    result["quarantined"] = found["quarantined"]

    for candidate in found["volumes"]:
        volume = {"host_path": candidate["host_path"], "rack": candidate["rack"],
                  "app": candidate["app"], "service": candidate["service"], "bytes": 0,
                  "files": 0, "newest_change": None, "problems": list(candidate["problems"])}
        if candidate["walk"]:
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise ChildTimeout("no time left")
                volume.update(call_with_timeout(walk_volume, (candidate["host_path"],),
                                                timeout=remaining))
            except ChildTimeout:
                result["unreachable"].append(candidate["host_path"])
                volume["problems"].append(_problem(
                    candidate["host_path"], f"not reachable within the time limit "
                                            f"(timeout={timeout:g} s): the file server may be "
                                            f"down, or the tree is too large for the limit"))
            except ChildFailed as exc:
                volume["problems"].append(_problem(candidate["host_path"], str(exc)))
        volume["healthy"] = not volume["problems"]
        result["volumes"].append(volume)
    return result
