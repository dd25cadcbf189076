# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: contributors to the convox.volumes collection
"""Where a volume lives: the one implementation of the naming and path rules.

Rack target:  <root>/<rack>-<app>/<service>/<container path>      (root: /volumes)
Local target: <root>/<app>/<service>/<container path>              (root: ~/.convox/volumes)

Every function here is pure (it computes and validates, it never touches the disk), except
`current_user_home`, which reads the password database.
"""
from __future__ import annotations

import os
import posixpath
import pwd
import re
import typing as t

RACK_ROOT = "/volumes"
LOCAL_ROOT_BELOW_HOME = ".convox/volumes"
TARGETS = ("rack", "local")

_CONVOX_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")

# A Docker volume name: what `docker volume create` accepts (two characters at least).
_VOLUME_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")

# A Windows drive path (C:\data, c:/data, C:) or a UNC path (\\server\share).
_WINDOWS_PATH = re.compile(r"^(?:[A-Za-z]:(?:[\\/]|$)|\\\\)")

# Control characters (newline, NUL, ...): no compose file means them in a path.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# Kernel and runtime file systems: nothing is ever created below these, whatever is asked.
FORBIDDEN_HOST_ROOTS = ("/proc", "/sys", "/dev", "/run", "/var/run")


class VolumeRuleError(ValueError):
    """An input breaks a path or naming rule; the message names the input, value and fix."""


def validate_name(kind: str, value: object) -> str:
    """A rack, app or service name: lowercase letters, digits and hyphens, starting with a
    letter or digit."""
    if not isinstance(value, str) or not _CONVOX_NAME.match(value):
        raise VolumeRuleError(
            f"{kind} name {value!r} is not a Convox name: use lowercase letters, digits and "
            f"hyphens, starting with a letter or digit (for example 'my-{kind}')")
    return value


def validate_target(target: object) -> str:
    """'rack' or 'local'."""
    if target not in TARGETS:
        raise VolumeRuleError(f"target {target!r} is unknown: use one of {', '.join(TARGETS)}")
    return t.cast(str, target)


def components(path: str) -> list[str]:
    """The components of a path with '', '.' (from '//', '/./' and trailing slashes) dropped."""
    return [part for part in path.split("/") if part not in ("", ".")]


def collapse(path: str) -> str:
    """`path` with '//', '.' and trailing slashes collapsed; absolute stays absolute."""
    return ("/" if path.startswith("/") else "") + "/".join(components(path))


def normalise_absolute(path: object, what: str) -> str:
    """Collapse '//', '.' and trailing slashes of an absolute path; refuse '..', empty and
    relative paths. `what` names the input in the error, e.g. "container path '/data/'"."""
    if not isinstance(path, str) or not path.strip():
        raise VolumeRuleError(f"{what} is empty: give an absolute path such as '/data'")
    control = _CONTROL.search(path)
    if control:
        raise VolumeRuleError(f"{what} {path!r} has the control character "
                              f"{control.group()!r} at position {control.start()}: remove it")
    if path.startswith("~"):
        raise VolumeRuleError(f"{what} {path!r} starts with '~', which is not expanded here: "
                              f"give an absolute path such as '/home/user/data'")
    if not path.startswith("/"):
        raise VolumeRuleError(f"{what} {path!r} is relative: give an absolute path such as "
                              f"'/{path.strip().lstrip('./')}'")
    parts = components(path)
    if ".." in parts:
        raise VolumeRuleError(f"{what} {path!r} has a '..' component, which could leave the "
                              f"volume's directory: write the path without '..'")
    if "~" in parts:
        raise VolumeRuleError(f"{what} {path!r} has a '~' component, which would become a "
                              f"directory literally named '~': '~' means the home directory "
                              f"only at the start of a host path")
    return "/" + "/".join(parts)


def normalise_container_path(path: object) -> str:
    """A container path as a volume key: absolute, normalised, and not '/' itself."""
    if is_windows_path(path):
        raise VolumeRuleError(f"container path {path!r} is a Windows path, which does not exist "
                              f"in a Linux container: give a Linux path such as '/data'")
    normalised = normalise_absolute(path, "container path")
    if normalised == "/":
        raise VolumeRuleError("container path '/' is the container's root, which cannot be a "
                              "volume: name a directory such as '/data'")
    return normalised


def default_root(target: str, home: str | None = None) -> str:
    """The volumes root of a target: /volumes on a rack, ~/.convox/volumes locally."""
    if validate_target(target) == "rack":
        return RACK_ROOT
    if not home:
        raise VolumeRuleError("the local target needs the user's home directory to place "
                              "~/.convox/volumes: set 'root' explicitly")
    return posixpath.join(normalise_absolute(home, "home directory"), LOCAL_ROOT_BELOW_HOME)


def app_directory(*, target: str, root: str, app: str, rack: str | None = None) -> str:
    """The directory that holds every volume of one app: <root>/<rack>-<app> on a rack,
    <root>/<app> locally."""
    root = normalise_absolute(root, "volumes root")
    validate_name("app", app)
    if validate_target(target) == "rack":
        validate_name("rack", rack)
        return posixpath.join(root, f"{rack}-{app}")
    return posixpath.join(root, app)


def service_directory(*, target: str, root: str, app: str, service: str,
                      rack: str | None = None) -> str:
    validate_name("service", service)
    return posixpath.join(app_directory(target=target, root=root, app=app, rack=rack), service)


def volume_host_path(container_path: str, *, target: str, app: str, service: str,
                     rack: str | None = None, root: str | None = None,
                     home: str | None = None) -> str:
    """The host directory of a single-path (namespaced) volume.

    >>> volume_host_path('/my/shared/data', target='rack', rack='myrack', app='myapp',
    ...                  service='web')
    '/volumes/myrack-myapp/web/my/shared/data'
    """
    relative = normalise_container_path(container_path).lstrip("/")
    base = service_directory(target=target, root=root or default_root(target, home), app=app,
                             service=service, rack=rack)
    return posixpath.join(base, relative)


def is_volume_name(value: object) -> bool:
    """True for a Docker named volume such as 'dbdata' (letters, digits, '_', '.', '-')."""
    return isinstance(value, str) and bool(_VOLUME_NAME.match(value))


def is_windows_path(value: object) -> bool:
    """True for a Windows drive or UNC path, which has no meaning on a Linux host."""
    return isinstance(value, str) and bool(_WINDOWS_PATH.match(value))


def is_relative_path(value: str) -> bool:
    """True for a path relative to the compose project: '.', '..', './x' or '../x'."""
    return value in (".", "..") or value.startswith(("./", "../"))


def is_home_path(value: str) -> bool:
    """True for '~' or '~/x'. '~user/x' is not one: only the current user's home expands."""
    return value == "~" or value.startswith("~/")


def current_user_home() -> str | None:
    """Home of the user this process runs as (after become), from the password database:
    $HOME can still name the connecting user's home after become."""
    try:
        return pwd.getpwuid(os.geteuid()).pw_dir
    except KeyError:
        return None


def expand_home(path: str, home: str | None, what: str) -> str:
    """Replace a leading '~' by `home` and normalise; other paths are only normalised.

    `home` is the home directory of the user the layout runs as (after become), looked up
    from the password database, not from $HOME."""
    if path.startswith("~") and not is_home_path(path):
        raise VolumeRuleError(f"{what} {path!r} names another user's home: only '~' and '~/...'"
                              f" (the home of the user the task runs as) are expanded; write "
                              f"the absolute path instead")
    if is_home_path(path):
        if not home:
            raise VolumeRuleError(f"{what} {path!r} starts with '~' but the user's home "
                                  f"directory is unknown: write the absolute path instead")
        home = normalise_absolute(home, "home directory")
        path = home + "/" + path[1:].lstrip("/")
    return normalise_absolute(path, what)


def resolve_relative(path: str, project_dir: str | None, what: str) -> str:
    """Resolve './x' or '../x' against the compose project directory.

    '..' is accepted only as the leading components; anywhere else it is refused."""
    parts = components(path)
    leading_up = 0
    while leading_up < len(parts) and parts[leading_up] == "..":
        leading_up += 1
    if ".." in parts[leading_up:]:
        raise VolumeRuleError(f"{what} {path!r} has a '..' component after its start: write "
                              f"the path without it (only leading '../' is resolved)")
    if "~" in parts:
        raise VolumeRuleError(f"{what} {path!r} has a '~' component, which would become a "
                              f"directory literally named '~'")
    if not project_dir:
        raise VolumeRuleError(f"{what} {path!r} is relative to the compose project, but no "
                              f"project directory is known: set 'project_dir' to the "
                              f"directory of the compose file")
    base = normalise_absolute(project_dir, "project directory")
    return normalise_absolute(posixpath.normpath(posixpath.join(base, path)), what)


def forbidden_host_root(path: str) -> str | None:
    """The kernel or runtime file system that holds `path` (e.g. '/run'), or None.

    `path` must be absolute and normalised."""
    for root in FORBIDDEN_HOST_ROOTS:
        if path == root or path.startswith(root + "/"):
            return root
    return None


def looks_like_socket(path: str) -> bool:
    """True for a path named like a Unix socket (docker.sock, agent.socket)."""
    return path.endswith((".sock", ".socket"))
