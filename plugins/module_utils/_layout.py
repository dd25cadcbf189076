# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: contributors to the convox.volumes collection
"""Where each compose volume lives on a host, and the directories to create for them.

`describe_apps` is pure: it turns apps (compose documents or service mappings) into the list
of volumes the module and the `compose_volumes` filter return. `plan_directories` looks at the
disk (stat only) and `create_directories` makes what the plan lists, nothing else.
"""
from __future__ import annotations

import os
import pwd
import stat
import typing as t
from dataclasses import dataclass, field

from ansible_collections.convox.volumes.plugins.module_utils._compose import (
    HOST,
    NAMED,
    NAMESPACED,
    ComposeError,
    ComposeVolume,
    entry_error,
    parse_compose,
    parse_services,
)
from ansible_collections.convox.volumes.plugins.module_utils._paths import (
    VolumeRuleError,
    default_root,
    expand_home,
    forbidden_host_root,
    is_relative_path,
    looks_like_socket,
    resolve_relative,
    validate_name,
    validate_target,
    volume_host_path,
)

NAMED_VOLUME_CHOICES = ("skip", "namespace")


@dataclass
class PlacedVolume:
    """A compose volume with its host path, and whether the layout should create it."""

    app: str
    volume: ComposeVolume
    host_path: str | None
    create: bool
    created: bool = False

    def as_result(self) -> dict[str, t.Any]:
        return {
            "app": self.app,
            "service": self.volume.service,
            "source": self.volume.source,
            "container_path": self.volume.container_path,
            "host_path": self.host_path,
            "kind": self.volume.kind,
            "read_only": self.volume.read_only,
            "selinux": self.volume.selinux,
            "created": self.created,
        }


@dataclass
class Layout:
    """Every volume of every app, the root they are placed under, and what to tell the user."""

    root: str
    volumes: list[PlacedVolume]
    warnings: list[str] = field(default_factory=list)


def describe_apps(apps: t.Iterable[t.Mapping[str, t.Any]], *, target: str = "rack",
                  rack: str | int | None = None, root: str | None = None,
                  home: str | None = None, named_volumes: str = "skip",
                  create_host_paths: bool = False) -> Layout:
    """Place every volume of `apps`; each app is a mapping with `name`, one of `compose` or
    `services`, and optional `env` and `project_dir`.

    Validates everything first and raises ComposeError listing every problem."""
    apps = _app_list(apps)
    errors: list[str] = []
    rack = _name_text(rack)
    root = _check_settings(target, rack, root, home, named_volumes, errors)
    can_place = not errors
    placed: list[PlacedVolume] = []
    seen_apps: set[str] = set()
    for app in apps:
        name = _name_text(app.get("name"))
        try:
            validate_name("app", name)
        except VolumeRuleError as exc:
            errors.append(str(exc))
            continue
        if name in seen_apps:
            errors.append(f"app {name!r} is listed twice: give each app once")
            continue
        seen_apps.add(name)
        try:
            volumes = _parse_app(app)
        except ComposeError as exc:
            errors.extend(f"app {name!r}, {line}" for line in exc.errors)
            volumes = exc.volumes  # still placed, to report every problem in one run
        for volume in volumes if can_place else []:
            try:
                placed.append(_place(name, volume, target=target, rack=rack, root=root,
                                     home=home, project_dir=app.get("project_dir"),
                                     named_volumes=named_volumes,
                                     create_host_paths=create_host_paths))
            except VolumeRuleError as exc:
                errors.append(f"app {name!r}, {entry_error(volume.service, volume.entry, exc)}")
    if errors:
        raise ComposeError(errors)
    return Layout(root=root or "", volumes=placed, warnings=_warnings(placed, named_volumes))


def _app_list(apps: object) -> list[t.Mapping[str, t.Any]]:
    """`apps` as a list of mappings; ComposeError naming what is not one."""
    if isinstance(apps, (str, bytes, t.Mapping)) or not isinstance(apps, t.Iterable):
        raise ComposeError([f"the apps must be a list of apps (each a mapping with name and one "
                            f"of compose or services), not {type(apps).__name__}"])
    apps = list(apps)
    not_apps = [f"item {index} is {type(app).__name__}" for index, app in enumerate(apps)
                if not isinstance(app, t.Mapping)]
    if not_apps:
        raise ComposeError([f"each app must be a mapping with name and one of compose or "
                            f"services: {'; '.join(not_apps)}"])
    return apps


def _name_text(name: t.Any) -> t.Any:
    """An integer rack or app name as text, as the module's `type: str` options turn it (YAML
    reads `name: 2048` as a number); anything else is left for validate_name to judge."""
    return str(name) if isinstance(name, int) and not isinstance(name, bool) else name


def _check_settings(target: str, rack: str | None, root: str | None, home: str | None,
                    named_volumes: str, errors: list[str]) -> str | None:
    try:
        validate_target(target)
    except VolumeRuleError as exc:
        errors.append(str(exc))
        return None
    if named_volumes not in NAMED_VOLUME_CHOICES:
        errors.append(f"named_volumes {named_volumes!r} is unknown: use one of "
                      f"{', '.join(NAMED_VOLUME_CHOICES)}")
    if target == "rack" and not rack:
        errors.append("'rack' is missing: the rack target lays out <root>/<rack>-<app>; give "
                      "the rack's name, or use target=local for convox start")
    elif target == "rack":
        try:
            validate_name("rack", rack)
        except VolumeRuleError as exc:
            errors.append(str(exc))
    try:
        if root:
            resolved = expand_home(root, home, "volumes root")
        else:
            resolved = default_root(target, home)
    except VolumeRuleError as exc:
        errors.append(str(exc))
        return None
    forbidden = forbidden_host_root(resolved)
    if forbidden:
        errors.append(f"volumes root {resolved!r} is below {forbidden}, a kernel or runtime "
                      f"file system where nothing may be created: choose another 'root'")
        return None
    return resolved


def _parse_app(app: t.Mapping[str, t.Any]) -> list[ComposeVolume]:
    compose, services = app.get("compose"), app.get("services")
    if (compose is None) == (services is None):
        raise ComposeError(["give exactly one of 'compose' (a parsed compose document) and "
                            "'services' (service name to list of volume entries)"])
    env = app.get("env") or {}
    if compose is not None:
        return parse_compose(compose, env)
    return parse_services(services, env)


def _place(app: str, volume: ComposeVolume, *, target: str, rack: str | None, root: str | None,
           home: str | None, project_dir: str | None, named_volumes: str,
           create_host_paths: bool) -> PlacedVolume:
    """The host path of one volume and whether to create it."""
    def namespaced() -> str:
        return volume_host_path(volume.container_path, target=target, rack=rack, app=app,
                                service=volume.service, root=root)

    if volume.kind == NAMESPACED:
        return PlacedVolume(app, volume, namespaced(), create=True)
    if volume.kind == NAMED:
        if named_volumes == "namespace":
            return PlacedVolume(app, volume, namespaced(), create=True)
        return PlacedVolume(app, volume, None, create=False)
    if volume.kind != HOST:
        return PlacedVolume(app, volume, None, create=False)

    source = t.cast(str, volume.source)
    if is_relative_path(source):
        if target == "rack":
            raise VolumeRuleError(
                "a path relative to the compose file has no meaning on a rack instance, where "
                "the compose file is not: write an absolute host path, or use only the "
                "container path to get a namespaced volume")
        if project_dir:
            project_dir = expand_home(project_dir, home, "project directory")
        host_path = resolve_relative(source, project_dir, "host path")
    else:
        host_path = expand_home(source, home, "host path")
    wanted = create_host_paths and volume.create_host_path \
        and not forbidden_host_root(host_path) and not looks_like_socket(host_path)
    return PlacedVolume(app, volume, host_path, create=wanted)


def _warnings(placed: list[PlacedVolume], named_volumes: str) -> list[str]:
    warnings = []
    skipped = sorted({f"{p.app}/{p.volume.service}: {p.volume.source}" for p in placed
                      if p.volume.kind == NAMED and p.host_path is None})
    if skipped and named_volumes == "skip":
        warnings.append(
            f"named volumes are left to Docker and not laid out: {'; '.join(skipped)}. To lay "
            f"them out like single-path volumes, set named_volumes=namespace (in the role "
            f"convox.volumes.volume_layout: volume_layout_named_volumes=namespace; in the "
            f"playbooks: -e convox_volumes_named=namespace)")
    if named_volumes == "namespace":
        services_of: dict[tuple[str, str], list[str]] = {}
        for p in placed:
            if p.volume.kind == NAMED:
                services_of.setdefault((p.app, t.cast(str, p.volume.source)), []).append(
                    p.volume.service)
        for (app, name), services in sorted(services_of.items()):
            if len(set(services)) > 1:
                warnings.append(
                    f"named volume {name!r} of app {app!r} is shared by the services "
                    f"{', '.join(sorted(set(services)))}; laid out like single-path volumes, "
                    f"each service gets its own directory, so they no longer share data")
    return warnings


# ---------------------------------------------------------------------------------------------
# The disk: plan (stat only), then create.

@dataclass
class DirectoryPlan:
    """Directories to create, in creation order (parents first), and host paths left alone."""

    create: list[str]
    not_created: list[tuple[str, str]]  # (host path, reason)


def plan_directories(layout: Layout) -> DirectoryPlan:
    """Find the missing directories of every volume to create, and refuse what cannot be:
    a non-directory in the way, a directory the task's user cannot create anything in, or a
    path that resolves into a kernel file system.

    Raises VolumeRuleError naming every problem before anything is created."""
    missing: set[str] = set()
    existing: set[str] = set()
    write_verdicts: dict[str, str | None] = {}  # existing parent -> why nothing can be made
    blocked: dict[str, list[str]] = {}  # unwritable parent -> the volumes that need it
    problems: list[str] = []
    not_created: list[tuple[str, str]] = []
    for placed in layout.volumes:
        if placed.host_path is None:
            continue
        if placed.volume.kind == HOST and os.path.lexists(placed.host_path):
            continue  # a host path may be a file or a socket: whatever is there is used
        if not placed.create:
            reason = _not_created_reason(placed)
            if reason:
                not_created.append((placed.host_path, reason))
            continue
        try:
            below = _missing_below(placed.host_path, existing)
        except VolumeRuleError as exc:
            problems.append(f"app {placed.app!r}, "
                            f"{entry_error(placed.volume.service, placed.volume.entry, exc)}")
            continue
        parent = os.path.dirname(below[-1]) if below else None
        if parent is not None and _unwritable(parent, write_verdicts):
            blocked.setdefault(parent, []).append(
                f"app {placed.app!r}, service {placed.volume.service!r}, volume entry "
                f"{placed.volume.entry!r}")
            continue
        missing.update(below)
    problems.extend(_blocked_error(directory, write_verdicts[directory], volumes)
                    for directory, volumes in blocked.items())
    if problems:
        raise VolumeRuleError("\n".join(problems))
    return DirectoryPlan(create=sorted(missing), not_created=not_created)


def _not_created_reason(placed: PlacedVolume) -> str | None:
    if placed.volume.kind != HOST:
        return None
    path = t.cast(str, placed.host_path)
    forbidden = forbidden_host_root(path)
    if forbidden:
        return f"below {forbidden}, where nothing is ever created"
    if looks_like_socket(path):
        return "named like a socket, which its service creates"
    if not placed.volume.create_host_path:
        return "the entry says bind.create_host_path: false"
    return "a host path, created only with create_host_paths=true"


def _missing_below(path: str, existing: set[str]) -> list[str]:
    """The components of `path` that do not exist yet, stat-ing from the deepest up."""
    missing = []
    current = path
    while current not in existing:
        try:
            mode = os.stat(current).st_mode
        except FileNotFoundError:
            missing.append(current)
            current = os.path.dirname(current)
            continue
        except NotADirectoryError:  # a file further up: found and refused on the way up
            current = os.path.dirname(current)
            continue
        except OSError as exc:  # EACCES above the path, a dead mount (ESTALE), ...
            raise VolumeRuleError(
                f"{current!r} cannot be looked at: {exc.strerror}; run the task as a user "
                f"who can reach it (become), or choose another root") from None
        if not stat.S_ISDIR(mode):
            raise VolumeRuleError(f"{current!r} exists and is not a directory: move it away "
                                  f"or choose another path")
        existing.add(current)
    if missing:
        resolved = os.path.join(os.path.realpath(current), os.path.relpath(path, current))
        forbidden = forbidden_host_root(resolved)
        if forbidden:
            raise VolumeRuleError(f"{path!r} resolves to {resolved!r}, below {forbidden}, "
                                  f"where nothing is ever created")
    return missing


def _unwritable(parent: str, verdicts: dict[str, str | None]) -> bool:
    """Whether the deepest existing directory `parent` of a missing path cannot hold new
    directories: the task's user may not write to it, or it is on a read-only file system.
    `verdicts` caches the reason per directory (many volumes share a parent)."""
    if parent not in verdicts:
        verdicts[parent] = _unwritable_reason(parent)
    return verdicts[parent] is not None


_BLOCKED_SHOWN = 5  # volumes named in the error about one unwritable directory


def _blocked_error(parent: str, reason: str | None, volumes: list[str]) -> str:
    """One problem for all the volumes that need a directory in the unwritable `parent`."""
    shown = "; ".join(volumes[:_BLOCKED_SHOWN])
    more = len(volumes) - _BLOCKED_SHOWN
    if more > 0:
        shown += f"; and {more} more volume{'s' if more > 1 else ''}"
    return f"no directory can be made in {parent!r} for {shown}: it {reason}"


def _unwritable_reason(directory: str) -> str | None:
    effective = os.access in os.supports_effective_ids
    if os.access(directory, os.W_OK | os.X_OK, effective_ids=effective):
        return None
    try:
        if os.statvfs(directory).f_flag & os.ST_RDONLY:
            return "is on a read-only file system"
    except OSError:
        pass
    uid = os.geteuid()
    try:
        user = f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        user = f"uid {uid}"
    return (f"is not writable by {user}, the user the task runs as: run the task with become, "
            f"or choose another root")


def create_directories(plan: DirectoryPlan, *, mode: int, uid: int = -1, gid: int = -1
                       ) -> list[str]:
    """Create the planned directories with `mode` and owner; existing ones are never touched.

    Each directory is made writable for its creator first and gets `mode` and the owner once
    its subdirectories exist, so that a mode without owner write ('0555') or another owner
    does not stop its subdirectories (also when a later mkdir fails).
    Returns the directories this call created (another process may have made some first)."""
    created: list[str] = []
    try:
        for path in plan.create:
            try:
                os.mkdir(path, mode | stat.S_IRWXU)
            except FileExistsError:
                if os.path.isdir(path):
                    continue
                raise
            created.append(path)
    finally:
        for path in reversed(created):  # children before parents
            os.chmod(path, mode)  # mkdir's mode is filtered by the umask
            if uid != -1 or gid != -1:
                os.chown(path, uid, gid)
    return created


def mark_created(layout: Layout, created: t.Collection[str]) -> None:
    """Set `created` on every volume whose host path is among `created`."""
    created_set = set(created)
    for placed in layout.volumes:
        placed.created = placed.host_path in created_set
