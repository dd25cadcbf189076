# SPDX-License-Identifier: GPL-3.0-or-later
"""Compose volume entries: parsing, interpolation, placement. Cases 1-6 of the field reports
are marked with their number."""
from __future__ import annotations

import typing as t

import pytest

from ansible_collections.convox.volumes.plugins.module_utils._compose import (
    ComposeError,
    interpolate,
    parse_compose,
    parse_entry,
    parse_modes,
    parse_services,
)
from ansible_collections.convox.volumes.plugins.module_utils._layout import describe_apps
from ansible_collections.convox.volumes.plugins.module_utils._paths import VolumeRuleError

R1_A1 = dict(target="rack", rack="r1")


def place(entries: list[t.Any], *, service: str = "web", env: dict | None = None,
          project_dir: str | None = None, **settings: t.Any) -> list[dict[str, t.Any]]:
    """The module's `volumes` for app a1 with one service."""
    settings = {**R1_A1, **settings}
    app = {"name": "a1", "services": {service: entries}, "env": env, "project_dir": project_dir}
    return [v.as_result() for v in describe_apps([app], **settings).volumes]


def place_error(entries: list[t.Any], **kwargs: t.Any) -> str:
    with pytest.raises(ComposeError) as info:
        place(entries, **kwargs)
    return str(info.value)


def picked(volume: dict[str, t.Any]) -> tuple:
    return (volume["kind"], volume["source"], volume["container_path"], volume["host_path"],
            volume["read_only"], volume["selinux"])


# --- Case 1: mode suffixes are not paths; the long form equals the short form. -------------

@pytest.mark.parametrize("entry, expected", [
    ("/srv/cfg:/etc/cfg:ro", ("host", "/srv/cfg", "/etc/cfg", "/srv/cfg", True, None)),
    ("/srv/up:/up:rw,z", ("host", "/srv/up", "/up", "/srv/up", False, "z")),
    ({"type": "bind", "source": "/srv/cfg", "target": "/etc/cfg", "read_only": True},
     ("host", "/srv/cfg", "/etc/cfg", "/srv/cfg", True, None)),
    ({"type": "bind", "source": "/srv/up", "target": "/up", "bind": {"selinux": "z"}},
     ("host", "/srv/up", "/up", "/srv/up", False, "z")),
    ("/srv/x:/x:Z,ro", ("host", "/srv/x", "/x", "/srv/x", True, "Z")),
    ("/srv/x:/x:ro,nocopy", ("host", "/srv/x", "/x", "/srv/x", True, None)),
    ("/data:ro", None),  # 'ro' where the container path should be: refused
])
def test_case1_modes(entry: t.Any, expected: tuple | None) -> None:
    if expected is None:
        assert ("volume entry '/data:ro': 'ro' is a mode, not a container path: a mode "
                "follows both paths, as in '/srv/x:/data:ro'") in place_error([entry])
        return
    [volume] = place([entry])
    assert picked(volume) == expected


@pytest.mark.parametrize("short, long", [
    ("/srv/cfg:/etc/cfg:ro",
     {"type": "bind", "source": "/srv/cfg", "target": "/etc/cfg", "read_only": True}),
    ("/data", {"type": "volume", "target": "/data"}),
    ("dbdata:/var/lib/mysql", {"type": "volume", "source": "dbdata", "target": "/var/lib/mysql"}),
])
def test_case1_long_equals_short(short: str, long: dict) -> None:
    short_result, long_result = place([short]), place([long])
    assert [picked(v) for v in short_result] == [picked(v) for v in long_result]


@pytest.mark.parametrize("modes, expected", [
    ("ro", (True, None)), ("rw", (False, None)), ("z", (False, "z")), ("Z", (False, "Z")),
    ("ro,z", (True, "z")), ("rw,Z", (False, "Z")), ("ro,ro", (True, None)),
])
def test_parse_modes(modes: str, expected: tuple) -> None:
    assert parse_modes(modes) == expected


@pytest.mark.parametrize("modes, message", [
    ("ro,rw", "both read-only and read-write"),
    ("z,Z", "both SELinux labels"),
    ("readonly", "mode 'readonly' is unknown"),
    ("", "mode '' is unknown"),
])
def test_parse_modes_refuses(modes: str, message: str) -> None:
    with pytest.raises(VolumeRuleError, match=message):
        parse_modes(modes)


# --- Case 2: an explicit host path is used as written. --------------------------------------

def test_case2_host_path_as_written() -> None:
    volumes = place(["/data", "/tmp/cache:/var/cache"])
    assert [v["host_path"] for v in volumes] == ["/volumes/r1-a1/web/data", "/tmp/cache"]
    assert [v["kind"] for v in volumes] == ["namespaced", "host"]


# --- Case 3: relative paths and bare names. ---------------------------------------------------

@pytest.mark.parametrize("entry, settings, expected", [
    ("./pgdata:/var/lib/postgresql/data", dict(target="local", root="/v"),
     ("host", "./pgdata", "/var/lib/postgresql/data", "/srv/a1/pgdata", False, None)),
    ("../shared:/shared:ro", dict(target="local", root="/v"),
     ("host", "../shared", "/shared", "/srv/shared", True, None)),
    (".:/app", dict(target="local", root="/v"),
     ("host", ".", "/app", "/srv/a1", False, None)),
    ("pgdata:/data", {}, ("named", "pgdata", "/data", None, False, None)),
    ("pgdata:/data", dict(named_volumes="namespace"),
     ("named", "pgdata", "/data", "/volumes/r1-a1/web/data", False, None)),
])
def test_case3_relative_and_named(entry: str, settings: dict, expected: tuple) -> None:
    [volume] = place([entry], project_dir="/srv/a1", **settings)
    assert picked(volume) == expected


@pytest.mark.parametrize("entry, settings, message", [
    ("./pgdata:/var/lib/postgresql/data", {},
     "service 'web', volume entry './pgdata:/var/lib/postgresql/data': a path relative to "
     "the compose file has no meaning on a rack instance"),
    ("web/:/srv", {},
     "service 'web', volume entry 'web/:/srv': source 'web/' is neither a host path"),
    ("./a/../b:/x", dict(target="local", root="/v"), "'..' component after its start"),
    ("C:\\data:/data", {}, "Windows path"),
    ("c:/data:/data", {}, "Windows path"),
    ({"type": "bind", "source": "D:\\x", "target": "/x"}, {}, "Windows path"),
    ("~bob/data:/data", {}, "another user's home"),
    ("a:/x", {}, "Windows path"),  # one letter: a drive, never a Docker volume name
])
def test_case3_refused(entry: t.Any, settings: dict, message: str) -> None:
    assert message in place_error([entry], project_dir="/srv/a1", **settings)


def test_case3_project_dir_may_start_with_tilde() -> None:
    [volume] = place(["./data:/data"], target="local", root="/v", home="/tmp/h",
                     project_dir="~/src/a1")
    assert volume["host_path"] == "/tmp/h/src/a1/data"


def test_case3_relative_needs_project_dir() -> None:
    message = place_error(["./data:/data"], target="local", root="/v")
    assert "set 'project_dir'" in message


# --- Case 4: '~' is the home of the user the layout is for. ---------------------------------

@pytest.mark.parametrize("entry, expected_host_path", [
    ("/data", "/tmp/h/.convox/volumes/a1/web/data"),
    ("/data/", "/tmp/h/.convox/volumes/a1/web/data"),
    ("~/cache:/cache", "/tmp/h/cache"),
    ("~:/home/me", "/tmp/h"),
])
def test_case4_home(entry: str, expected_host_path: str) -> None:
    [volume] = place([entry], target="local", rack=None, home="/tmp/h")
    assert volume["host_path"] == expected_host_path
    assert "~" not in volume["host_path"].split("/")


def test_case4_root_with_tilde() -> None:
    [volume] = place(["/data"], target="local", root="~/vols", home="/tmp/h")
    assert volume["host_path"] == "/tmp/h/vols/a1/web/data"


@pytest.mark.parametrize("entry", ["/data/~", "/srv/~/x:/x", "~/a/~/b:/y"])
def test_case4_no_literal_tilde_component(entry: str) -> None:
    assert "'~' component" in place_error([entry], home="/tmp/h")


# --- Case 5: normalisation. -----------------------------------------------------------------

@pytest.mark.parametrize("entries, expected_host_paths", [
    (["/data/", "/data"], ["/volumes/r1-a1/web/data"]),
    (["/data", "//data//", "/./data"], ["/volumes/r1-a1/web/data"]),
    (["/a//b/./c"], ["/volumes/r1-a1/web/a/b/c"]),
    (["/srv/x/:/x", "/srv//x:/x/"], ["/srv/x"]),
    (["/data", {"type": "volume", "target": "/data/"}], ["/volumes/r1-a1/web/data"]),
])
def test_case5_normalisation(entries: list, expected_host_paths: list[str]) -> None:
    assert [v["host_path"] for v in place(entries)] == expected_host_paths


@pytest.mark.parametrize("entries, message", [
    (["/../../etc"], "'..' component"),
    (["/data", "/a/../b"], "'..' component"),
    (["/srv/../etc:/etc"], "'..' component"),
    (["/data", "/srv:/data"], "container path '/data' is already mounted by entry '/data'"),
    (["/srv:/data", "/srv:/data:ro"], "already mounted"),
    ([""], "entry is empty"),
    (["data"], "relative"),
    (["/"], "container's root"),
    (["/srv/x:"], "container path is empty"),
    ([":/x"], "source before ':' is empty"),
    (["/a:/b:ro:z"], "too many ':'"),
    ([42], "not a int"),
])
def test_case5_refused(entries: list, message: str) -> None:
    assert message in place_error(entries)


# --- Case 6: interpolation. -----------------------------------------------------------------

@pytest.mark.parametrize("text, env, expected", [
    ("${DATA}", {"DATA": "/srv/d"}, "/srv/d"),
    ("$DATA/x", {"DATA": "/srv/d"}, "/srv/d/x"),
    ("${DATA:-/srv/default}", {}, "/srv/default"),
    ("${DATA:-/srv/default}", {"DATA": ""}, "/srv/default"),
    ("${DATA-/srv/default}", {"DATA": ""}, ""),
    ("${DATA:-${OTHER:-/nested}}", {}, "/nested"),
    ("${DATA:+/set}", {"DATA": "x"}, "/set"),
    ("${DATA:+/set}", {}, ""),
    ("/cost$$", {}, "/cost$"),
    ("$${NOT_A_VAR}", {}, "${NOT_A_VAR}"),
    ("/n${NUM}", {"NUM": 3}, "/n3"),
])
def test_case6_interpolate(text: str, env: dict, expected: str) -> None:
    assert interpolate(text, env) == expected


@pytest.mark.parametrize("text, env, message", [
    ("${DATA}", {}, "variable 'DATA' is not set and has no default"),
    ("$DATA", {"DATA": None}, "variable 'DATA' is not set"),
    ("${DATA:?give the data dir}", {}, "variable 'DATA' is not set: give the data dir"),
    ("${DATA", {}, "never closed"),
    ("/a$", {}, "starts no variable"),
    ("${1X}", {}, "does not start with a variable name"),
    ("${X%y}", {"X": "1"}, "unknown operator"),
])
def test_case6_interpolate_refuses(text: str, env: dict, message: str) -> None:
    with pytest.raises(VolumeRuleError, match=message):
        interpolate(text, env)


@pytest.mark.parametrize("entry, env, expected_host_path", [
    ("${CACHE}:/var/cache", {"CACHE": "/srv/cache"}, "/srv/cache"),
    ("${CACHE:-/srv/default}:/var/cache", {}, "/srv/default"),
    ("${DATA_DIR:-/data}", {}, "/volumes/r1-a1/web/data"),
    ({"type": "bind", "source": "${CFG}", "target": "${TARGET:-/etc/cfg}"},
     {"CFG": "/srv/cfg"}, "/srv/cfg"),
])
def test_case6_entries(entry: t.Any, env: dict, expected_host_path: str) -> None:
    [volume] = place([entry], env=env)
    assert volume["host_path"] == expected_host_path


def test_case6_unset_variable_names_it() -> None:
    message = place_error(["${CACHE}:/var/cache"])
    assert ("service 'web', volume entry '${CACHE}:/var/cache': variable 'CACHE' is not set"
            in message)


# --- Long syntax, tmpfs and compose documents. ----------------------------------------------

@pytest.mark.parametrize("entry, message", [
    ({"type": "npipe", "source": "x", "target": "/x"}, "type 'npipe' is not supported"),
    ({"source": "/x", "target": "/x"}, "type None is not supported"),
    ({"type": "bind", "target": "/x"}, "needs 'source'"),
    ({"type": "bind", "source": "dbdata", "target": "/x"}, "not a host path"),
    ({"type": "volume", "source": "/srv", "target": "/x"}, "not a volume name"),
    ({"type": "volume", "source": "dbdata"}, "'target' is missing"),
    ({"type": "tmpfs", "source": "x", "target": "/x"}, "tmpfs entry has no 'source'"),
    ({"type": "bind", "source": "/s", "target": "/x", "read_only": "yes"}, "true or false"),
    ({"type": "bind", "source": "/s", "target": "/x", "bind": {"selinux": "q"}}, "not a label"),
    ({"type": "bind", "source": "/s", "target": "/x", "colour": "red"}, "unknown key(s) colour"),
])
def test_long_syntax_refused(entry: dict, message: str) -> None:
    with pytest.raises(VolumeRuleError) as info:
        parse_entry("web", entry, {})
    assert message in str(info.value)


def test_tmpfs_is_reported_never_placed() -> None:
    volumes = place([{"type": "tmpfs", "target": "/tmp"}])
    assert picked(volumes[0]) == ("tmpfs", None, "/tmp", None, False, None)


WORDPRESS = {
    "services": {
        "wordpress": {"image": "wordpress", "volumes": ["/var/www/html"],
                      "tmpfs": ["/run/php:size=64m"]},
        "db": {"image": "mariadb", "volumes": ["db_data:/var/lib/mysql"]},
        "cache": {"image": "redis"},
    },
    "volumes": {"db_data": None},
}


def test_parse_compose_document() -> None:
    volumes = parse_compose(WORDPRESS)
    assert [(v.service, v.kind, v.source, v.container_path) for v in volumes] == [
        ("wordpress", "namespaced", None, "/var/www/html"),
        ("wordpress", "tmpfs", None, "/run/php"),
        ("db", "named", "db_data", "/var/lib/mysql"),
    ]


@pytest.mark.parametrize("document, message", [
    ({"services": {"db": {"volumes": ["dbdata:/x"]}}},
     "named volume 'dbdata' is not declared under the top-level 'volumes:' key"),
    ({"version": "3"}, "no 'services' mapping"),
    ([], "must be a mapping"),
    ({"services": {"My_Web": {"volumes": ["/data"]}}}, "service 'My_Web': service name"),
    ({"services": {"web": {"volumes": "/data"}}}, "volumes must be a list"),
    ({"services": {"web": {"tmpfs": 3}}}, "'tmpfs' must be a path or a list"),
    ({"services": {"web": "nginx"}}, "service 'web': must be a mapping"),
    ({"services": {"web": {}}, "volumes": ["x"]}, "top-level 'volumes' must map"),
])
def test_parse_compose_refused(document: t.Any, message: str) -> None:
    with pytest.raises(ComposeError) as info:
        parse_compose(document)
    assert message in str(info.value)


def test_every_error_is_reported_at_once() -> None:
    with pytest.raises(ComposeError) as info:
        parse_services({"web": ["/ok", "/../x", "web/:/srv"], "db": ["${MISSING}:/x"]})
    assert len(info.value.errors) == 3
    assert [line.split(",")[0] for line in info.value.errors] == [
        "service 'web'", "service 'web'", "service 'db'"]


@pytest.mark.parametrize("apps, settings, message", [
    ([{"name": "a1", "services": {}}, {"name": "a1", "services": {}}], R1_A1, "listed twice"),
    ([{"name": "A1", "services": {}}], R1_A1, "app name 'A1'"),
    ([{"name": "a1"}], R1_A1, "give exactly one of 'compose'"),
    ([{"name": "a1", "services": {}, "compose": {}}], R1_A1, "give exactly one"),
    ([{"name": "a1", "services": {"web": ["/d"]}}], dict(target="rack"),
     "'rack' is missing: the rack target lays out"),
    ([{"name": "a1", "services": {"web": ["/d"]}}], dict(target="rack", rack="R1"),
     "rack name 'R1' is not a Convox name"),
    ([{"name": "a1", "services": {"web": ["/d"]}}], dict(target="cloud"),
     "target 'cloud' is unknown: use one of rack, local"),
    ([{"name": "a1", "services": {}}], dict(target="rack", rack="r1", root="/run/v"),
     "below /run"),
    ([{"name": "a1", "services": {}}], dict(target="rack", rack="r1", named_volumes="keep"),
     "named_volumes 'keep'"),
])
def test_describe_apps_refused(apps: list, settings: dict, message: str) -> None:
    with pytest.raises(ComposeError) as info:
        describe_apps(apps, **settings)
    assert message in str(info.value)


def test_named_volume_warning_says_how_to_opt_in() -> None:
    layout = describe_apps([{"name": "a1", "compose": WORDPRESS}], **R1_A1)
    assert layout.warnings == [
        "named volumes are left to Docker and not laid out: a1/db: db_data. To lay them out "
        "like single-path volumes, set named_volumes=namespace (in the role "
        "convox.volumes.volume_layout: volume_layout_named_volumes=namespace; in the "
        "playbooks: -e convox_volumes_named=namespace)"]
    namespaced = describe_apps([{"name": "a1", "compose": WORDPRESS}],
                               named_volumes="namespace", **R1_A1)
    assert namespaced.warnings == []


def test_parse_and_placement_problems_are_reported_together() -> None:
    with pytest.raises(ComposeError) as info:
        describe_apps([{"name": "a1", "services": {"web": ["/../x", "./rel:/y"]}}], **R1_A1)
    assert len(info.value.errors) == 2
    assert "'..' component" in info.value.errors[0]
    assert "no meaning on a rack instance" in info.value.errors[1]


def test_namespacing_a_shared_named_volume_warns() -> None:
    compose = {"services": {"web": {"volumes": ["shared:/data"]},
                            "worker": {"volumes": ["shared:/data"]}},
               "volumes": {"shared": None}}
    layout = describe_apps([{"name": "a1", "compose": compose}], named_volumes="namespace",
                           **R1_A1)
    assert [v.host_path for v in layout.volumes] == ["/volumes/r1-a1/web/data",
                                                     "/volumes/r1-a1/worker/data"]
    assert layout.warnings == [
        "named volume 'shared' of app 'a1' is shared by the services web, worker; laid out "
        "like single-path volumes, each service gets its own directory, so they no longer "
        "share data"]


# --- Inputs found by review: each row one entry, its expected placement or error. -----------

@pytest.mark.parametrize("entry, env, settings, expected", [
    ("${VAR:-}/x:/y", {}, {}, ("host", "/x", "/y", "/x", False, None)),
    ("/a$$b", {}, {}, ("namespaced", None, "/a$b", "/volumes/r1-a1/web/a$b", False, None)),
    ("${A:-${B}}:/y", {"B": "/from-b"}, {}, ("host", "/from-b", "/y", "/from-b", False, None)),
    ("${A:-${B:-/z}}:/y", {}, {}, ("host", "/z", "/y", "/z", False, None)),
    ("/data:/data:ro,Z", {}, {}, ("host", "/data", "/data", "/data", True, "Z")),
    ({"type": "volume", "target": "/anon"}, {}, {},
     ("namespaced", None, "/anon", "/volumes/r1-a1/web/anon", False, None)),
    ({"type": "bind", "source": "/srv/x", "target": "/x",
      "bind": {"create_host_path": True, "propagation": "rprivate"}}, {}, {},
     ("host", "/srv/x", "/x", "/srv/x", False, None)),
    ("Pgdata:/data", {}, {}, ("named", "Pgdata", "/data", None, False, None)),
    ("${DIR}:/y", {"DIR": "../up"}, dict(target="local", root="/v"),
     ("host", "../up", "/y", "/srv/up", False, None)),
    ("${DIR}", {"DIR": "/x//y/"}, {},
     ("namespaced", None, "/x/y", "/volumes/r1-a1/web/x/y", False, None)),
])
def test_review_inputs(entry: t.Any, env: dict, settings: dict, expected: tuple) -> None:
    [volume] = place([entry], env=env, project_dir="/srv/a1", **settings)
    assert picked(volume) == expected


@pytest.mark.parametrize("entry, env, settings, message", [
    ("~user/x:/y", {}, {},
     "volume entry '~user/x:/y': host path '~user/x' names another user's home"),
    ({"type": "bind", "source": "/x"}, {}, {}, "'target' is missing"),
    ({"type": "bind", "source": "/x", "target": "/y", "bind": {"create_host_path": "no"}}, {},
     {}, "'bind.create_host_path' must be true or false, not 'no'"),
    ("/a:/b:rox", {}, {}, "volume entry '/a:/b:rox': mode 'rox' is unknown"),
    ("/a/../b", {}, {}, "volume entry '/a/../b': container path '/a/../b' has a '..' component"),
    ("/", {}, {}, "volume entry '/': container path '/' is the container's root"),
    # repr() shows the one backslash of C:\x doubled
    ("C:\\x:/y", {}, {}, "volume entry 'C:\\\\x:/y': source 'C:\\\\x' is a Windows path"),
    ("\\\\srv\\share:/y", {}, {}, "is a Windows path"),
    ("${DIR}:/y", {"DIR": "/srv/../etc"}, {},
     "volume entry '${DIR}:/y': host path '/srv/../etc' has a '..' component"),
    ("/srv:${DIR}", {"DIR": "/a/../b"}, {}, "container path '/a/../b' has a '..' component"),
    ("${DIR}:/y", {"DIR": "./x/../../etc"}, dict(target="local", root="/v"),
     "host path './x/../../etc' has a '..' component after its start"),
    ("${DIR}:/y", {"DIR": "../up"}, {}, "no meaning on a rack instance"),
    ("/a\nb", {}, {}, "container path '/a\\nb' has the control character '\\n' at position 2"),
    ("/srv/a\x00b:/y", {}, {}, "host path '/srv/a\\x00b' has the control character '\\x00'"),
])
def test_review_inputs_refused(entry: t.Any, env: dict, settings: dict, message: str) -> None:
    error = place_error([entry], env=env, project_dir="/srv/a1", **settings)
    assert "service 'web'" in error
    assert message in error


@pytest.mark.parametrize("tmpfs, message", [
    ("relative:size=1m",
     "service 'web', volume entry 'tmpfs: relative:size=1m': container path 'relative' is "
     "relative"),
    (["/ok", "/a/../b:size=64m"],
     "service 'web', volume entry 'tmpfs: /a/../b:size=64m': container path '/a/../b' has a "
     "'..' component"),
    ("${RUN_DIR}", "service 'web', volume entry 'tmpfs: ${RUN_DIR}': variable 'RUN_DIR' is not "
                   "set"),
    ("/data", "service 'web', volume entry 'tmpfs: /data': container path '/data' is already "
              "mounted by entry '/data'"),
])
def test_tmpfs_key_errors_quote_the_entry_as_written(tmpfs: t.Any, message: str) -> None:
    with pytest.raises(ComposeError) as info:
        parse_compose({"services": {"web": {"volumes": ["/data"], "tmpfs": tmpfs}}})
    assert [message in line for line in info.value.errors] == [True]


@pytest.mark.parametrize("entry, shown", [
    ("/srv:C:\\x", "'C:\\\\x'"),
    ("/srv:c:/x", "'c:/x'"),
    ("/srv:D:\\x:ro", "'D:\\\\x'"),
    ({"type": "bind", "source": "/srv", "target": "C:\\x"}, "'C:\\\\x'"),
    ({"type": "volume", "target": "e:/data"}, "'e:/data'"),
])
def test_windows_container_path_is_refused_as_such(entry: t.Any, shown: str) -> None:
    assert (f"container path {shown} is a Windows path, which does not exist in a Linux "
            f"container: give a Linux path such as '/data'") in place_error([entry])


@pytest.mark.parametrize("document, expected", [
    ({"services": {"web": {"volumes": None}}}, []),
    ({"services": {"web": None, "db": {"volumes": ["/d"]}}},
     [("db", "namespaced", None, "/d")]),
    ({"services": {"web": {"image": "nginx"}}, "volumes": None}, []),
])
def test_compose_without_volumes(document: dict, expected: list) -> None:
    assert [(v.service, v.kind, v.source, v.container_path)
            for v in parse_compose(document)] == expected


@pytest.mark.parametrize("document, shown", [
    ({"services": None}, "null"), ({"services": {}}, "{}"), ({"version": "3"}, "null"),
    ({"services": ["web"]}, '["web"]'),
])
def test_compose_without_services_is_refused(document: dict, shown: str) -> None:
    with pytest.raises(ComposeError) as info:
        parse_compose(document)
    assert str(info.value) == (f"the compose document has no 'services' mapping (services: "
                               f"{shown}): give at least one service, or check that the file "
                               f"is a docker-compose.yml")
