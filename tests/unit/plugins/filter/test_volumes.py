# SPDX-License-Identifier: GPL-3.0-or-later
"""The volume_path, compose_volumes and apps_volumes filters: the module's rules, no disk."""
from __future__ import annotations

import typing as t

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.convox.volumes.plugins.filter.volumes import (
    FilterModule,
    apps_volumes,
    compose_volumes,
    volume_path,
)


@pytest.mark.parametrize("entry, kwargs, expected", [
    ("/my/shared/data", dict(rack="myrack", app="myapp", service="web"),
     "/volumes/myrack-myapp/web/my/shared/data"),
    ("/data/", dict(rack="r1", app="a1", service="web", root="/mnt/efs"),
     "/mnt/efs/r1-a1/web/data"),
    ("/data", dict(app="a1", service="web", target="local", home="/tmp/h"),
     "/tmp/h/.convox/volumes/a1/web/data"),
    ("/tmp/cache:/var/cache", dict(rack="r1", app="a1", service="web"), "/tmp/cache"),
    ("/srv/cfg:/etc/cfg:ro", dict(rack="r1", app="a1", service="web"), "/srv/cfg"),
    ("pgdata:/data", dict(rack="r1", app="a1", service="db"), None),
    ("pgdata:/data", dict(rack="r1", app="a1", service="db", named_volumes="namespace"),
     "/volumes/r1-a1/db/data"),
    ("./pgdata:/data", dict(app="a1", service="db", target="local", project_dir="/srv/a1",
                            root="/v"), "/srv/a1/pgdata"),
    ("${DIR:-/srv/d}:/d", dict(rack="r1", app="a1", service="web"), "/srv/d"),
    ("${DIR}:/d", dict(rack="r1", app="a1", service="web", env={"DIR": "/x"}), "/x"),
    ({"type": "tmpfs", "target": "/tmp"}, dict(rack="r1", app="a1", service="web"), None),
])
def test_volume_path(entry: t.Any, kwargs: dict, expected: str | None) -> None:
    assert volume_path(entry, **kwargs) == expected


@pytest.mark.parametrize("entry, kwargs, message", [
    ("/../etc", dict(rack="r1", app="a1", service="web"), "'..' component"),
    ("/data", dict(app="a1", service="web"), "'rack' is missing: the rack target lays out"),
    ("./x:/x", dict(rack="r1", app="a1", service="web"), "no meaning on a rack"),
    ("/data", dict(rack="r1", app="a1", service="Web"), "service name 'Web'"),
])
def test_volume_path_refuses(entry: str, kwargs: dict, message: str) -> None:
    with pytest.raises(AnsibleFilterError, match="volume_path: ") as info:
        volume_path(entry, **kwargs)
    assert message in str(info.value)


def test_compose_volumes() -> None:
    compose = {"services": {"web": {"volumes": ["/var/www/html", "/srv/cfg:/etc/cfg:ro"]},
                            "db": {"volumes": ["dbdata:/var/lib/mysql"]}},
               "volumes": {"dbdata": None}}
    assert compose_volumes(compose, rack="r1", app="blog") == [
        {"app": "blog", "service": "web", "source": None, "container_path": "/var/www/html",
         "host_path": "/volumes/r1-blog/web/var/www/html", "kind": "namespaced",
         "read_only": False, "selinux": None, "created": False},
        {"app": "blog", "service": "web", "source": "/srv/cfg", "container_path": "/etc/cfg",
         "host_path": "/srv/cfg", "kind": "host", "read_only": True, "selinux": None,
         "created": False},
        {"app": "blog", "service": "db", "source": "dbdata", "container_path": "/var/lib/mysql",
         "host_path": None, "kind": "named", "read_only": False, "selinux": None,
         "created": False},
    ]


def test_compose_volumes_refuses_undeclared_named_volume() -> None:
    with pytest.raises(AnsibleFilterError, match="named volume 'dbdata' is not declared"):
        compose_volumes({"services": {"db": {"volumes": ["dbdata:/x"]}}}, rack="r1", app="a1")


def test_filters_are_registered() -> None:
    assert set(FilterModule().filters()) == {"volume_path", "compose_volumes", "apps_volumes"}


def test_apps_volumes_names_every_problem_of_every_app_at_once() -> None:
    apps = [{"name": "good", "services": {"web": ["/data"]}},
            {"name": "one", "services": {"web": ["/x/../y"]}},
            {"name": "two", "compose": {"services": {"db": {"volumes": ["dbdata:/db"]}}}}]
    with pytest.raises(AnsibleFilterError) as raised:
        apps_volumes(apps, rack="r1")
    message = str(raised.value)
    assert message.startswith("apps_volumes: ")
    assert "app 'one', service 'web', volume entry '/x/../y'" in message
    assert "named volume 'dbdata' is not declared" in message and "app 'two'" in message


def test_apps_volumes_places_each_app_under_its_namespace() -> None:
    apps = [{"name": "a1", "services": {"web": ["/data"]}},
            {"name": "a2", "compose": {"services": {"db": {"volumes": ["/var/lib/db"]}}}}]
    assert [volume["host_path"] for volume in apps_volumes(apps, rack="r1", root="/v")] == [
        "/v/r1-a1/web/data", "/v/r1-a2/db/var/lib/db"]


@pytest.mark.parametrize(("apps", "message"), [
    ({"name": "a1"}, r"must be a list of apps .*not dict"),
    (["a1", {"name": "a2", "services": {}}, 3],
     r"each app must be a mapping .*: item 0 is str; item 2 is int"),
])
def test_apps_volumes_refuses_what_is_not_a_list_of_apps(apps: t.Any, message: str) -> None:
    with pytest.raises(AnsibleFilterError, match=message):
        apps_volumes(apps, rack="r1")


def test_apps_volumes_takes_numeric_names_and_any_sequence_as_the_module_does() -> None:
    # YAML reads `name: 2048` as a number; the module's `type: str` options make it "2048".
    apps = ({"name": name, "services": {"web": ["/data"]}} for name in (2048, "a1"))
    assert [volume["host_path"] for volume in apps_volumes(apps, rack=7, root="/v")] == [
        "/v/7-2048/web/data", "/v/7-a1/web/data"]


def test_apps_volumes_still_refuses_a_boolean_name() -> None:
    with pytest.raises(AnsibleFilterError, match="app name True is not a Convox name"):
        apps_volumes([{"name": True, "services": {}}], rack="r1")
