# SPDX-License-Identifier: GPL-3.0-or-later
"""The path and naming rules of _paths, one row per rule."""
from __future__ import annotations

import os
import pwd
import re

import pytest

from ansible_collections.convox.volumes.plugins.module_utils._paths import (
    VolumeRuleError,
    app_directory,
    collapse,
    current_user_home,
    default_root,
    expand_home,
    forbidden_host_root,
    is_volume_name,
    is_windows_path,
    looks_like_socket,
    normalise_absolute,
    normalise_container_path,
    resolve_relative,
    validate_name,
    validate_target,
    volume_host_path,
)


@pytest.mark.parametrize("path, expected", [
    ("/data", "/data"),
    ("/data/", "/data"),
    ("/a//b/./c", "/a/b/c"),
    ("//data//", "/data"),
    ("/./data/.", "/data"),
    ("/", "/"),
])
def test_normalise_absolute(path: str, expected: str) -> None:
    assert normalise_absolute(path, "container path") == expected


@pytest.mark.parametrize("path, reason", [
    ("", "empty"),
    ("   ", "empty"),
    (None, "empty"),
    ("data", "relative"),
    ("./data", "relative"),
    ("/../../etc", "'..'"),
    ("/data/../etc", "'..'"),
    ("/data/~/x", "'~' component"),
    ("~/data", "starts with '~'"),
    (" data", "relative: give an absolute path such as '/data'"),
    ("/a\nb", "control character '\\n' at position 2"),
    ("/a\x00b", "control character '\\x00' at position 2"),
    ("/a\tb", "control character '\\t' at position 2"),
])
def test_normalise_absolute_refuses(path: object, reason: str) -> None:
    with pytest.raises(VolumeRuleError, match=re.escape(reason)):
        normalise_absolute(path, "container path")


@pytest.mark.parametrize("path", ["/", "//", "/./"])
def test_container_root_is_not_a_volume(path: str) -> None:
    with pytest.raises(VolumeRuleError, match="container's root"):
        normalise_container_path(path)


@pytest.mark.parametrize("path", ["C:\\data", "c:/data", "D:", "\\\\server\\share"])
def test_windows_container_path_is_refused(path: str) -> None:
    with pytest.raises(VolumeRuleError) as info:
        normalise_container_path(path)
    assert str(info.value) == (f"container path {path!r} is a Windows path, which does not "
                               f"exist in a Linux container: give a Linux path such as '/data'")


@pytest.mark.parametrize("kind, value, valid", [
    ("app", "myapp", True),
    ("app", "my-app-2", True),
    ("app", "2fa", True),
    ("service", "web", True),
    ("app", "MyApp", False),
    ("app", "my_app", False),
    ("app", "-app", False),
    ("service", "", False),
    ("rack", None, False),
    ("rack", "my.rack", False),
])
def test_validate_name(kind: str, value: object, valid: bool) -> None:
    if valid:
        assert validate_name(kind, value) == value
    else:
        with pytest.raises(VolumeRuleError, match=f"{kind} name"):
            validate_name(kind, value)


@pytest.mark.parametrize("kwargs, expected", [
    (dict(target="rack", rack="myrack", app="myapp", service="web"),
     "/volumes/myrack-myapp/web/my/shared/data"),
    (dict(target="rack", rack="myrack", app="myapp", service="web", root="/mnt/efs/"),
     "/mnt/efs/myrack-myapp/web/my/shared/data"),
    (dict(target="local", app="myapp", service="web", home="/tmp/h"),
     "/tmp/h/.convox/volumes/myapp/web/my/shared/data"),
    (dict(target="local", app="myapp", service="web", home="/tmp/h/"),
     "/tmp/h/.convox/volumes/myapp/web/my/shared/data"),
    (dict(target="local", rack="ignored", app="myapp", service="web", root="/srv/v"),
     "/srv/v/myapp/web/my/shared/data"),
])
def test_volume_host_path(kwargs: dict, expected: str) -> None:
    assert volume_host_path("/my/shared/data", **kwargs) == expected


@pytest.mark.parametrize("kwargs, message", [
    (dict(target="rack", app="myapp", service="web"), "rack name None is not a Convox name"),
    (dict(target="rack", rack="r", app="", service="web"), "app name '' is not a Convox name"),
    (dict(target="local", app="myapp", service="web"), "home directory"),
    (dict(target="cloud", app="myapp", service="web", root="/v"), "target 'cloud'"),
    (dict(target="rack", rack="r", app="My_App", service="web"), "app name"),
])
def test_volume_host_path_refuses(kwargs: dict, message: str) -> None:
    with pytest.raises(VolumeRuleError, match=message):
        volume_host_path("/data", **kwargs)


def test_default_roots() -> None:
    assert default_root("rack") == "/volumes"
    assert default_root("local", "/home/u") == "/home/u/.convox/volumes"
    assert app_directory(target="rack", root="/volumes", app="a1", rack="r1") == "/volumes/r1-a1"


@pytest.mark.parametrize("path, home, expected", [
    ("~", "/tmp/h", "/tmp/h"),
    ("~/data", "/tmp/h", "/tmp/h/data"),
    ("~//data/", "/tmp/h", "/tmp/h/data"),
    ("/srv/data", None, "/srv/data"),
])
def test_expand_home(path: str, home: str | None, expected: str) -> None:
    assert expand_home(path, home, "host path") == expected


@pytest.mark.parametrize("path, home, message", [
    ("~root/data", "/tmp/h", "another user's home"),
    ("~/data", None, "home directory is unknown"),
    ("~/a/../../etc", "/tmp/h", "'..'"),
])
def test_expand_home_refuses(path: str, home: str | None, message: str) -> None:
    with pytest.raises(VolumeRuleError, match=message):
        expand_home(path, home, "host path")


@pytest.mark.parametrize("path, expected", [
    ("./pgdata", "/srv/app/pgdata"),
    (".", "/srv/app"),
    ("../shared", "/srv/shared"),
    ("../../x", "/x"),
    ("./a//b/./c/", "/srv/app/a/b/c"),
    ("../../../../x", "/x"),  # more '..' than the project is deep stops at '/', as a shell
])
def test_resolve_relative(path: str, expected: str) -> None:
    assert resolve_relative(path, "/srv/app", "host path") == expected


@pytest.mark.parametrize("path, project_dir, message", [
    ("./a/../b", "/srv/app", "after its start"),
    ("./a/~/b", "/srv/app", "'~' component"),
    ("./data", None, "project_dir"),
    ("./data", "relative/dir", "relative"),
])
def test_resolve_relative_refuses(path: str, project_dir: str | None, message: str) -> None:
    with pytest.raises(VolumeRuleError, match=message):
        resolve_relative(path, project_dir, "host path")


@pytest.mark.parametrize("value, expected", [
    ("dbdata", True), ("db_data", True), ("db.data-1", True), ("a", False),
    ("web/", False), ("-x", False), ("", False), (None, False),
])
def test_is_volume_name(value: object, expected: bool) -> None:
    assert is_volume_name(value) is expected


@pytest.mark.parametrize("value, expected", [
    ("C:\\data", True), ("c:/data", True), ("D:", True), ("\\\\server\\share", True),
    ("/c:/data", False), ("data", False), ("cc:/data", False),
])
def test_is_windows_path(value: str, expected: bool) -> None:
    assert is_windows_path(value) is expected


@pytest.mark.parametrize("path, expected", [
    ("/proc/1", "/proc"), ("/sys", "/sys"), ("/dev/shm/x", "/dev"), ("/run/docker.sock", "/run"),
    ("/var/run/x", "/var/run"), ("/procfs", None), ("/srv/run", None), ("/var/lib", None),
])
def test_forbidden_host_root(path: str, expected: str | None) -> None:
    assert forbidden_host_root(path) == expected


@pytest.mark.parametrize("path, expected", [
    ("/var/run/docker.sock", True), ("/tmp/agent.socket", True), ("/srv/socks", False),
])
def test_looks_like_socket(path: str, expected: bool) -> None:
    assert looks_like_socket(path) is expected


@pytest.mark.parametrize("path, expected", [
    ("/data/", "/data"), ("//a/./b//", "/a/b"), ("./x/", "x"), ("../x", "../x"),
    ("dbdata", "dbdata"), ("/", "/"),
])
def test_collapse(path: str, expected: str) -> None:
    assert collapse(path) == expected


@pytest.mark.parametrize("target, message", [
    ("rack", None), ("local", None), ("cloud", "target 'cloud' is unknown: use one of rack, local"),
    (None, "target None is unknown"),
])
def test_validate_target(target: object, message: str | None) -> None:
    if message is None:
        assert validate_target(target) == target
    else:
        with pytest.raises(VolumeRuleError, match=message):
            validate_target(target)


def test_current_user_home_ignores_home_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    # After become, $HOME can still be the connecting user's; the password database is not.
    monkeypatch.setenv("HOME", "/nonexistent/decoy")
    assert current_user_home() == pwd.getpwuid(os.geteuid()).pw_dir != "/nonexistent/decoy"
