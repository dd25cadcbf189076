# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: contributors to the convox.volumes collection
"""Read the volume entries of a compose document: what each entry is, never where it goes.

One entry becomes one `ComposeVolume`: its kind, its source as written (after interpolation),
its normalised container path and its modes. Placing it on a host is `_layout`'s job.

Every function here is pure. Errors are collected for the whole document and raised together
as one `ComposeError`, each line naming the service, the entry and the reason.
"""
from __future__ import annotations

import json
import re
import typing as t
from dataclasses import dataclass

from ansible_collections.convox.volumes.plugins.module_utils._paths import (
    VolumeRuleError,
    collapse,
    is_relative_path,
    is_volume_name,
    is_windows_path,
    normalise_container_path,
    validate_name,
)

NAMESPACED = "namespaced"
HOST = "host"
NAMED = "named"
TMPFS = "tmpfs"
KINDS = (NAMESPACED, HOST, NAMED, TMPFS)

# Short-syntax options that change nothing about where a volume lives; accepted and ignored.
_IGNORED_MODES = frozenset((
    "nocopy", "cached", "delegated", "consistent",
    "shared", "rshared", "slave", "rslave", "private", "rprivate",
))
_LONG_TYPES = ("bind", "volume", "tmpfs")
_LONG_KEYS = frozenset((
    "type", "source", "target", "read_only", "bind", "volume", "tmpfs", "consistency",
))
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ComposeError(ValueError):
    """One or more entries are invalid; `errors` holds one line per problem and `volumes` the
    entries that were valid, so that later checks can still report their own problems."""

    def __init__(self, errors: list[str], volumes: list[ComposeVolume] | None = None) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors
        self.volumes = volumes or []


@dataclass(frozen=True)
class ComposeVolume:
    """One volume entry of one service, understood but not yet placed on a host."""

    service: str
    entry: str  # the entry as written, quoted in messages
    kind: str
    source: str | None  # host path or volume name after interpolation; None otherwise
    container_path: str
    read_only: bool
    selinux: str | None
    create_host_path: bool = True  # false when a long bind entry says create_host_path: false

    def same_mount(self, other: ComposeVolume) -> bool:
        """True when both entries mount the same thing the same way ('/srv/x/' is '/srv/x')."""
        return (self.kind, _source_key(self.source), self.read_only, self.selinux) == (
            other.kind, _source_key(other.source), other.read_only, other.selinux)


def _source_key(source: str | None) -> str | None:
    return None if source is None else collapse(source)


# ---------------------------------------------------------------------------------------------
# Interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}, ${VAR:+other}, $VAR
# and $$ for a literal dollar sign, as docker compose reads them.

def interpolate(text: str, env: t.Mapping[str, t.Any]) -> str:
    """Fill the variables of `text` from `env`; an unset variable without default raises."""
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char != "$":
            out.append(char)
            index += 1
            continue
        following = text[index + 1:index + 2]
        if following == "$":
            out.append("$")
            index += 2
        elif following == "{":
            end = _closing_brace(text, index)
            out.append(_expand_braced(text[index + 2:end], env))
            index = end + 1
        else:
            match = _VARIABLE.match(text, index + 1)
            if not match:
                raise VolumeRuleError(
                    f"'$' at position {index} starts no variable: write '$$' for a literal "
                    f"'$', or '${{NAME}}' for a variable")
            out.append(_lookup(match.group(), env, None))
            index = match.end()
    return "".join(out)


def _closing_brace(text: str, start: int) -> int:
    depth = 0
    index = start
    while index < len(text):
        if text.startswith("${", index):
            depth += 1
            index += 2
            continue
        if text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    raise VolumeRuleError(f"'${{' at position {start} is never closed: add the missing '}}'")


def _expand_braced(body: str, env: t.Mapping[str, t.Any]) -> str:
    match = _VARIABLE.match(body)
    if not match:
        raise VolumeRuleError(f"'${{{body}}}' does not start with a variable name: use "
                              f"letters, digits and '_', e.g. '${{DATA_DIR}}'")
    name, rest = match.group(), body[match.end():]
    if not rest:
        return _lookup(name, env, None)
    for operator in (":-", ":?", ":+", "-", "?", "+"):
        if rest.startswith(operator):
            word = rest[len(operator):]
            break
    else:
        raise VolumeRuleError(f"'${{{body}}}' has an unknown operator {rest!r}: use "
                              f"'${{{name}:-default}}' for a default")
    value = _value(name, env)
    empty_counts_as_unset = operator.startswith(":")
    is_set = value is not None and not (empty_counts_as_unset and value == "")
    if operator.endswith("-"):
        return value if is_set else interpolate(word, env)
    if operator.endswith("+"):
        return interpolate(word, env) if is_set else ""
    if not is_set:
        reason = interpolate(word, env) or "it is required"
        raise VolumeRuleError(f"variable {name!r} is not set: {reason}")
    return value


def _value(name: str, env: t.Mapping[str, t.Any]) -> str | None:
    if name not in env or env[name] is None:
        return None
    value = env[name]
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _lookup(name: str, env: t.Mapping[str, t.Any], default: str | None) -> str:
    value = _value(name, env)
    if value is None:
        if default is not None:
            return default
        raise VolumeRuleError(f"variable {name!r} is not set and has no default: give it in "
                              f"'env' or write '${{{name}:-default}}'")
    return value


# ---------------------------------------------------------------------------------------------
# One entry.

def describe_entry(entry: object) -> str:
    """The entry as quoted in messages: a short-syntax string as is, a mapping as JSON."""
    if isinstance(entry, str):
        return entry
    try:
        return json.dumps(entry, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(entry)


def parse_entry(service: str, entry: object, env: t.Mapping[str, t.Any],
                shown: str | None = None) -> ComposeVolume:
    """Parse one short- or long-syntax entry of `service`; raises VolumeRuleError (the reason
    only: the caller adds service and entry). `shown` is the entry as the user wrote it, when
    `entry` was derived from something else (a service's `tmpfs:` key)."""
    if isinstance(entry, str):
        source, target, read_only, selinux, kind = _parse_short(interpolate(entry, env))
    elif isinstance(entry, dict):
        source, target, read_only, selinux, kind = _parse_long(entry, env)
    else:
        raise VolumeRuleError(f"an entry must be a string such as '/data' or a mapping with "
                              f"'type' and 'target', not a {type(entry).__name__}")
    if kind is None:
        kind = classify_source(source)
    create_host_path = _long_create_host_path(entry.get("bind")) if isinstance(entry, dict) \
        else True
    return ComposeVolume(service=service, entry=shown or describe_entry(entry), kind=kind,
                         source=source, container_path=normalise_container_path(target),
                         read_only=read_only, selinux=selinux,
                         create_host_path=create_host_path)


def classify_source(source: str | None) -> str:
    """The kind of a volume from its source: none, a host path, or a volume name."""
    if source is None:
        return NAMESPACED
    if is_windows_path(source):
        raise VolumeRuleError(f"source {source!r} is a Windows path, which does not exist on a "
                              f"Linux host: write the host path as an absolute Linux path")
    if source.startswith(("/", "~")) or is_relative_path(source):
        return HOST  # '~user/x' is refused where '~' is expanded
    if is_volume_name(source):
        return NAMED
    raise VolumeRuleError(
        f"source {source!r} is neither a host path (starting with '/', './', '../' or '~') "
        f"nor a volume name (letters, digits, '_', '.', '-'): write './{source.rstrip('/')}' "
        f"for a directory next to the compose file or '/{source.strip('/')}' for an "
        f"absolute one")


def _parse_short(text: str) -> tuple[str | None, str, bool, str | None, str | None]:
    if not text.strip():
        raise VolumeRuleError("the entry is empty: give a container path such as '/data'")
    drive = ""
    if is_windows_path(text) and re.match(r"^[A-Za-z]:", text):
        drive, text = text[:2], text[2:]
    parts = text.split(":")
    parts[0] = drive + parts[0]
    if len(parts) >= 3 and re.fullmatch(r"[A-Za-z]", parts[1]) and parts[2][:1] in ("\\", "/"):
        parts[1:3] = [f"{parts[1]}:{parts[2]}"]  # a drive on the container side: C:\x
    if len(parts) == 1:
        if drive:
            raise VolumeRuleError(f"{parts[0]!r} is a Windows path, which does not exist in a "
                                  f"Linux container: give a container path such as '/data'")
        return None, parts[0], False, None, None
    if len(parts) > 3:
        raise VolumeRuleError("too many ':' separators: write 'source:target' or "
                              "'source:target:mode' (mode such as 'ro' or 'rw,z')")
    source, target = parts[0], parts[1]
    if len(parts) == 2 and _is_modes(target):
        raise VolumeRuleError(f"{target!r} is a mode, not a container path: a mode follows "
                              f"both paths, as in '/srv/x:{source}:{target}'")
    if not source:
        raise VolumeRuleError("the source before ':' is empty: write 'source:target' or only "
                              "the container path")
    read_only, selinux = parse_modes(parts[2]) if len(parts) == 3 else (False, None)
    return source, target, read_only, selinux, None


def _is_modes(text: str) -> bool:
    try:
        parse_modes(text)
    except VolumeRuleError:
        return False
    return True


def parse_modes(text: str) -> tuple[bool, str | None]:
    """Parse 'ro', 'rw', 'z', 'Z' and combinations such as 'ro,Z'; return (read_only, selinux).
    """
    read_only: bool | None = None
    selinux: str | None = None
    for mode in text.split(","):
        if mode in ("ro", "rw"):
            if read_only is not None and read_only != (mode == "ro"):
                raise VolumeRuleError(f"mode {text!r} is both read-only and read-write: "
                                      f"keep one of 'ro' and 'rw'")
            read_only = mode == "ro"
        elif mode in ("z", "Z"):
            if selinux is not None and selinux != mode:
                raise VolumeRuleError(f"mode {text!r} asks for both SELinux labels: keep 'z' "
                                      f"(shared) or 'Z' (private)")
            selinux = mode
        elif mode not in _IGNORED_MODES:
            raise VolumeRuleError(
                f"mode {mode!r} is unknown: use 'ro' or 'rw', optionally with the SELinux "
                f"label 'z' or 'Z', comma-separated (e.g. 'ro,z')")
    return bool(read_only), selinux


def _parse_long(entry: dict[str, t.Any], env: t.Mapping[str, t.Any]
                ) -> tuple[str | None, str, bool, str | None, str | None]:
    unknown = sorted(str(key) for key in entry if key not in _LONG_KEYS)
    if unknown:
        raise VolumeRuleError(f"unknown key(s) {', '.join(unknown)}: the long syntax has "
                              f"{', '.join(sorted(_LONG_KEYS))}")
    volume_type = entry.get("type")
    if volume_type not in _LONG_TYPES:
        raise VolumeRuleError(f"type {volume_type!r} is not supported: use one of "
                              f"{', '.join(_LONG_TYPES)}")
    target = _long_string(entry, "target", env)
    if target is None:
        raise VolumeRuleError("'target' is missing: give the container path, e.g. "
                              "'target: /data'")
    source = _long_string(entry, "source", env)
    read_only = entry.get("read_only", False)
    if not isinstance(read_only, bool):
        raise VolumeRuleError(f"'read_only' must be true or false, not {read_only!r}")
    selinux = _long_selinux(entry.get("bind"))

    if volume_type == "tmpfs":
        if source is not None:
            raise VolumeRuleError("a tmpfs entry has no 'source': remove it")
        return None, target, read_only, selinux, TMPFS
    if volume_type == "bind":
        if source is None:
            raise VolumeRuleError("a bind entry needs 'source': the host path to mount")
        if classify_source(source) != HOST:
            raise VolumeRuleError(f"bind source {source!r} is not a host path: start it with "
                                  f"'/', './', '../' or '~', or use 'type: volume' for a "
                                  f"named volume")
        return source, target, read_only, selinux, HOST
    if source is not None and classify_source(source) != NAMED:
        raise VolumeRuleError(f"volume source {source!r} is not a volume name: use 'type: "
                              f"bind' for a host path")
    return source, target, read_only, selinux, None


def _long_string(entry: dict[str, t.Any], key: str, env: t.Mapping[str, t.Any]) -> str | None:
    value = entry.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise VolumeRuleError(f"{key!r} must be a string, not {value!r}")
    return interpolate(value, env)


def _long_create_host_path(bind: object) -> bool:
    value = bind.get("create_host_path", True) if isinstance(bind, dict) else True
    if not isinstance(value, bool):
        raise VolumeRuleError(f"'bind.create_host_path' must be true or false, not {value!r}")
    return value


def _long_selinux(bind: object) -> str | None:
    if bind is None:
        return None
    if not isinstance(bind, dict):
        raise VolumeRuleError(f"'bind' must be a mapping, not {bind!r}")
    selinux = bind.get("selinux")
    if selinux not in (None, "z", "Z"):
        raise VolumeRuleError(f"'bind.selinux' {selinux!r} is not a label: use 'z' or 'Z'")
    return selinux


# ---------------------------------------------------------------------------------------------
# A whole app: every entry of every service, checked together.

def parse_services(services: t.Mapping[str, t.Any], env: t.Mapping[str, t.Any] | None = None,
                   declared_volumes: t.Collection[str] | None = None,
                   tmpfs: t.Mapping[str, t.Any] | None = None) -> list[ComposeVolume]:
    """Parse `services` (service name to list of entries). Named volumes must be among
    `declared_volumes` when that is given. `tmpfs` maps service names to their `tmpfs:` key.

    Raises ComposeError with every problem found; returns one volume per container path."""
    env = env or {}
    errors: list[str] = []
    volumes: list[ComposeVolume] = []
    if not isinstance(services, dict):
        raise ComposeError([f"services must map service names to lists of entries, not "
                            f"{describe_entry(services)}"])
    for service, entries in services.items():
        try:
            validate_name("service", service)
        except VolumeRuleError as exc:
            errors.append(f"service {service!r}: {exc}")
            continue
        if entries is None:
            entries = []
        if not isinstance(entries, list):
            errors.append(f"service {service!r}: volumes must be a list of entries, not "
                          f"{describe_entry(entries)}")
            continue
        extra = _tmpfs_entries(service, (tmpfs or {}).get(service), errors)
        seen: dict[str, ComposeVolume] = {}
        for entry, shown in [(entry, None) for entry in entries] + extra:
            try:
                volume = parse_entry(service, entry, env, shown)
                if volume.kind == NAMED and declared_volumes is not None \
                        and volume.source not in declared_volumes:
                    raise VolumeRuleError(
                        f"named volume {volume.source!r} is not declared under the top-level "
                        f"'volumes:' key: declare it, or write a host path such as "
                        f"'./{volume.source}'")
            except VolumeRuleError as exc:
                errors.append(entry_error(service, shown or entry, exc))
                continue
            earlier = seen.get(volume.container_path)
            if earlier is None:
                seen[volume.container_path] = volume
                volumes.append(volume)
            elif not earlier.same_mount(volume):
                errors.append(entry_error(
                    service, volume.entry,
                    f"container path {volume.container_path!r} is already mounted by entry "
                    f"{earlier.entry!r} with another source or mode: keep one of them"))
    if errors:
        raise ComposeError(errors, volumes)
    return volumes


def entry_error(service: str, entry: object, reason: object) -> str:
    return f"service {service!r}, volume entry {describe_entry(entry)!r}: {reason}"


def _tmpfs_entries(service: str, value: object, errors: list[str]
                   ) -> list[tuple[dict[str, t.Any], str]]:
    """A service's `tmpfs:` key (a path or a list, each optionally ':options') as long-syntax
    tmpfs entries, each with the text that messages quote ('tmpfs: /run:size=64m')."""
    if value is None:
        return []
    paths = [value] if isinstance(value, str) else value
    if not isinstance(paths, list) or not all(isinstance(path, str) for path in paths):
        errors.append(f"service {service!r}: 'tmpfs' must be a path or a list of paths, not "
                      f"{describe_entry(value)}")
        return []
    return [({"type": "tmpfs", "target": path.split(":", 1)[0]}, f"tmpfs: {path}")
            for path in paths]


def parse_compose(document: t.Mapping[str, t.Any], env: t.Mapping[str, t.Any] | None = None
                  ) -> list[ComposeVolume]:
    """Parse a whole compose document (as loaded from YAML)."""
    if not isinstance(document, dict):
        raise ComposeError([f"a compose document must be a mapping with 'services', not "
                            f"{describe_entry(document)}"])
    services = document.get("services")
    if not isinstance(services, dict) or not services:
        raise ComposeError([f"the compose document has no 'services' mapping (services: "
                            f"{describe_entry(services)}): give at least one service, or "
                            f"check that the file is a docker-compose.yml"])
    declared = document.get("volumes") or {}
    if not isinstance(declared, dict):
        raise ComposeError([f"the top-level 'volumes' must map volume names to their "
                            f"settings, not {describe_entry(declared)}"])
    entries: dict[str, t.Any] = {}
    tmpfs: dict[str, t.Any] = {}
    errors: list[str] = []
    for service, spec in services.items():
        if spec is None:
            spec = {}
        if not isinstance(spec, dict):
            errors.append(f"service {service!r}: must be a mapping, not {describe_entry(spec)}")
            continue
        entries[service] = spec.get("volumes")
        if spec.get("tmpfs") is not None:
            tmpfs[service] = spec["tmpfs"]
    try:
        volumes = parse_services(entries, env, declared_volumes=set(declared), tmpfs=tmpfs)
    except ComposeError as exc:
        raise ComposeError(errors + exc.errors, exc.volumes) from None
    if errors:
        raise ComposeError(errors, volumes)
    return volumes
