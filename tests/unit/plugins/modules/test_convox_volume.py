# SPDX-License-Identifier: GPL-3.0-or-later
"""convox_volume run in-process on real temporary directories."""
from __future__ import annotations

import os
import pwd
import stat
import tempfile
import typing as t
import uuid
from pathlib import Path

import pytest
import yaml

from ansible_collections.convox.volumes.plugins.modules import convox_volume
from ansible_collections.convox.volumes.tests.unit.become import run_as

RunModule = t.Callable[..., dict[str, t.Any]]


def tree(root: Path) -> list[str]:
    """Every path below `root`, relative, sorted."""
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


def warning_messages(result: dict[str, t.Any]) -> list[str]:
    """The texts of a result's warnings: plain strings, or (ansible-core 2.19) events."""
    return [warning["event"]["msg"] if isinstance(warning, dict) else warning
            for warning in result.get("warnings", [])]


def args(root: Path, **extra: t.Any) -> dict[str, t.Any]:
    base = {"rack": "r1", "app": "a1", "root": str(root),
            "services": {"web": ["/data"], "db": ["/var/lib/postgresql/data"]}}
    base.update(extra)
    return base


def test_changed_then_not_changed(run_module: RunModule, tmp_path: Path) -> None:
    root = tmp_path / "volumes"
    first = run_module(convox_volume, args(root))
    assert first["changed"] is True
    assert tree(root) == ["r1-a1", "r1-a1/db", "r1-a1/db/var", "r1-a1/db/var/lib",
                          "r1-a1/db/var/lib/postgresql", "r1-a1/db/var/lib/postgresql/data",
                          "r1-a1/web", "r1-a1/web/data"]
    assert first["directories"][0] == str(root)
    assert [v["created"] for v in first["volumes"]] == [True, True]
    assert stat.S_IMODE((root / "r1-a1/web/data").stat().st_mode) == 0o755

    second = run_module(convox_volume, args(root))
    assert second["changed"] is False
    assert second["directories"] == []
    assert [v["created"] for v in second["volumes"]] == [False, False]
    assert [v["host_path"] for v in second["volumes"]] == [
        f"{root}/r1-a1/web/data", f"{root}/r1-a1/db/var/lib/postgresql/data"]


def test_check_mode_creates_nothing(run_module: RunModule, tmp_path: Path) -> None:
    root = tmp_path / "volumes"
    result = run_module(convox_volume, args(root), check_mode=True)
    assert result["changed"] is True
    assert f"{root}/r1-a1/web/data" in result["directories"]
    assert [v["created"] for v in result["volumes"]] == [True, True]
    assert not root.exists()


def test_diff_lists_directories(run_module: RunModule, tmp_path: Path) -> None:
    root = tmp_path / "volumes"
    (root / "r1-a1/web").mkdir(parents=True)
    result = run_module(convox_volume, args(root, services={"web": ["/data", "/logs"]}),
                        diff=True)
    assert result["diff"]["before"] == ""
    assert result["diff"]["after"] == f"{root}/r1-a1/web/data\n{root}/r1-a1/web/logs\n"
    again = run_module(convox_volume, args(root, services={"web": ["/data", "/logs"]}),
                       diff=True)
    assert "diff" not in again


@pytest.mark.parametrize("bad_entry, message", [
    ("/../../etc", "'..' component"),
    ("web/:/srv", "neither a host path"),
    ("${UNSET}:/x", "variable 'UNSET' is not set"),
    ("./rel:/x", "no meaning on a rack instance"),
    ("/data:ro", "'ro' is a mode, not a container path"),
])
def test_one_bad_entry_creates_nothing(run_module: RunModule, tmp_path: Path, bad_entry: str,
                                       message: str) -> None:
    root = tmp_path / "volumes"
    services = {"web": ["/data", bad_entry], "db": ["/var/lib/mysql"]}
    result = run_module(convox_volume, args(root, services=services))
    assert result["failed"] is True
    assert message in result["msg"]
    assert f"service 'web', volume entry '{bad_entry}'" in result["msg"]
    assert result["msg"].startswith("nothing was created")
    assert not root.exists()


def test_case1_no_directory_named_after_a_mode(run_module: RunModule, tmp_path: Path) -> None:
    root, srv = tmp_path / "volumes", tmp_path / "srv"
    services = {"web": [f"{srv}/cfg:/etc/cfg:ro", f"{srv}/up:/up:rw,z",
                        {"type": "bind", "source": f"{srv}/long", "target": "/long",
                         "read_only": True}]}
    result = run_module(convox_volume, args(root, services=services, create_host_paths=True))
    assert result["changed"] is True
    assert tree(srv) == ["cfg", "long", "up"]
    assert not root.exists()  # host paths only: nothing under the volumes root
    names = {name for walked in os.walk(tmp_path) for name in walked[1]}
    assert not names & {"ro", "rw", "z", "rw,z"}
    assert [(v["read_only"], v["selinux"]) for v in result["volumes"]] == [
        (True, None), (False, "z"), (True, None)]


def test_case2_host_path_is_not_created_under_root(run_module: RunModule,
                                                   tmp_path: Path) -> None:
    root, cache = tmp_path / "volumes", tmp_path / "cache"
    result = run_module(convox_volume, args(root, services={"web": ["/data",
                                                                    f"{cache}:/var/cache"]}))
    assert tree(root) == ["r1-a1", "r1-a1/web", "r1-a1/web/data"]
    assert not cache.exists()
    assert result["volumes"][1]["host_path"] == str(cache)
    assert result["not_created"] == [{"host_path": str(cache), "reason": (
        "a host path, created only with create_host_paths=true")}]


def test_host_paths_never_created_in_kernel_file_systems(run_module: RunModule,
                                                         tmp_path: Path) -> None:
    name = f"convox-test-{uuid.uuid4().hex[:8]}"
    forbidden = [f"/run/{name}", f"/var/run/{name}", f"/dev/{name}", f"/sys/{name}",
                 f"/proc/{name}", f"{tmp_path}/agent/{name}.sock"]
    services = {"web": [f"{path}:/mnt/{index}" for index, path in enumerate(forbidden)]}
    result = run_module(convox_volume, args(tmp_path / "v", services=services,
                                            create_host_paths=True))
    assert result["changed"] is False
    assert not any(os.path.lexists(path) for path in forbidden)
    assert not (tmp_path / "agent").exists()
    assert [item["reason"] for item in result["not_created"]] == [
        "below /run, where nothing is ever created",
        "below /var/run, where nothing is ever created",
        "below /dev, where nothing is ever created",
        "below /sys, where nothing is ever created",
        "below /proc, where nothing is ever created",
        "named like a socket, which its service creates"]


def test_symlink_into_kernel_file_system_is_refused(run_module: RunModule,
                                                    tmp_path: Path) -> None:
    (tmp_path / "shm").symlink_to("/dev/shm")
    name = f"convox-test-{uuid.uuid4().hex[:8]}"
    result = run_module(convox_volume, args(tmp_path / "v", create_host_paths=True, services={
        "web": ["/data", f"{tmp_path}/shm/{name}:/x"]}))
    assert result["failed"] is True
    assert f"resolves to '/dev/shm/{name}', below /dev" in result["msg"]
    assert not os.path.lexists(f"/dev/shm/{name}")
    assert not (tmp_path / "v").exists()


def test_existing_directories_are_left_as_they_are(run_module: RunModule,
                                                   tmp_path: Path) -> None:
    root = tmp_path / "volumes"
    (root / "r1-a1/web/data").mkdir(parents=True)
    (root / "r1-a1/web/data/keep").write_text("precious")
    os.chmod(root / "r1-a1", 0o700)
    result = run_module(convox_volume, args(root, dir_mode="0750"))
    assert result["directories"] == [f"{root}/r1-a1/db", f"{root}/r1-a1/db/var",
                                     f"{root}/r1-a1/db/var/lib",
                                     f"{root}/r1-a1/db/var/lib/postgresql",
                                     f"{root}/r1-a1/db/var/lib/postgresql/data"]
    assert stat.S_IMODE((root / "r1-a1").stat().st_mode) == 0o700
    assert stat.S_IMODE((root / "r1-a1/db").stat().st_mode) == 0o750
    assert (root / "r1-a1/web/data/keep").read_text() == "precious"


def test_file_in_the_way_fails_before_creating(run_module: RunModule, tmp_path: Path) -> None:
    root = tmp_path / "volumes"
    (root / "r1-a1").mkdir(parents=True)
    (root / "r1-a1/web").write_text("not a directory")
    result = run_module(convox_volume, args(root))
    assert result["failed"] is True
    assert f"'{root}/r1-a1/web' exists and is not a directory" in result["msg"]
    assert tree(root) == ["r1-a1", "r1-a1/web"]


@pytest.mark.parametrize("dir_mode, expected", [
    ("0750", 0o750), ("750", 0o750), ("2775", 0o2775), (0o700, 0o700),
])
def test_dir_mode(run_module: RunModule, tmp_path: Path, dir_mode: t.Any,
                  expected: int) -> None:
    run_module(convox_volume, args(tmp_path, services={"web": ["/d"]}, dir_mode=dir_mode))
    assert stat.S_IMODE((tmp_path / "r1-a1/web/d").stat().st_mode) == expected


@pytest.mark.parametrize("extra, message", [
    (dict(dir_mode="u=rwx"), "dir_mode 'u=rwx' is not an octal mode"),
    (dict(owner="no-such-user-xyz"), "owner 'no-such-user-xyz' is not a user"),
    (dict(group="no-such-group-xyz"), "group 'no-such-group-xyz' is not a group"),
    (dict(rack=None), "'rack' is missing: the rack target lays out"),
    (dict(app="My_App"), "app name 'My_App'"),
])
def test_bad_options_create_nothing(run_module: RunModule, tmp_path: Path, extra: dict,
                                    message: str) -> None:
    result = run_module(convox_volume, args(tmp_path / "v", **extra))
    assert result["failed"] is True
    assert message in result["msg"]
    assert not (tmp_path / "v").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_owner_and_group_apply_to_created_directories(run_module: RunModule,
                                                      tmp_path: Path) -> None:
    nobody = pwd.getpwnam("nobody")
    root = tmp_path / "volumes"
    root.mkdir()
    run_module(convox_volume, args(root, owner="nobody", group=str(nobody.pw_gid)))
    created = root / "r1-a1/web/data"
    assert (created.stat().st_uid, created.stat().st_gid) == (nobody.pw_uid, nobody.pw_gid)
    assert root.stat().st_uid == 0  # existed before: untouched


def test_named_volumes(run_module: RunModule, tmp_path: Path) -> None:
    compose = {"services": {"db": {"volumes": ["dbdata:/var/lib/mysql"]}},
               "volumes": {"dbdata": {}}}
    skipped = run_module(convox_volume, {"rack": "r1", "app": "a1", "root": str(tmp_path),
                                         "compose": compose})
    assert skipped["changed"] is False
    assert warning_messages(skipped) == [
        "named volumes are left to Docker and not laid out: a1/db: dbdata. To lay them out like "
        "single-path volumes, set named_volumes=namespace (in the role "
        "convox.volumes.volume_layout: volume_layout_named_volumes=namespace; in the playbooks: "
        "-e convox_volumes_named=namespace)"]
    assert not (tmp_path / "r1-a1").exists()
    assert skipped["volumes"][0]["host_path"] is None
    laid_out = run_module(convox_volume, {"rack": "r1", "app": "a1", "root": str(tmp_path),
                                          "compose": compose, "named_volumes": "namespace"})
    assert laid_out["volumes"][0]["host_path"] == f"{tmp_path}/r1-a1/db/var/lib/mysql"
    assert (tmp_path / "r1-a1/db/var/lib/mysql").is_dir()


def test_local_target_with_relative_paths(run_module: RunModule, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    result = run_module(convox_volume, {
        "target": "local", "app": "a1", "root": str(tmp_path / "local"),
        "project_dir": str(project), "create_host_paths": True,
        "services": {"db": ["./pgdata:/var/lib/postgresql/data", "/cache"]}})
    assert (project / "pgdata").is_dir()
    assert (tmp_path / "local/a1/db/cache").is_dir()
    assert [v["host_path"] for v in result["volumes"]] == [
        str(project / "pgdata"), f"{tmp_path}/local/a1/db/cache"]


def test_local_target_defaults_to_the_users_home(run_module: RunModule,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    home = pwd.getpwuid(os.geteuid()).pw_dir
    monkeypatch.setenv("HOME", "/nonexistent/decoy")  # become can leave $HOME as it was
    result = run_module(convox_volume, {"target": "local", "app": f"a-{uuid.uuid4().hex[:8]}",
                                        "services": {"web": ["/data"]}}, check_mode=True)
    assert result["root"] == f"{home}/.convox/volumes"
    assert result["volumes"][0]["host_path"].startswith(f"{home}/.convox/volumes/a-")
    assert not os.path.exists(result["volumes"][0]["host_path"])


def test_many_apps_in_one_task(run_module: RunModule, tmp_path: Path) -> None:
    apps = [{"name": f"app{n}", "services": {"web": ["/data"], "worker": ["/data"]}}
            for n in range(20)]
    result = run_module(convox_volume, {"rack": "r1", "root": str(tmp_path), "apps": apps})
    assert len(result["volumes"]) == 40
    assert all((tmp_path / f"r1-app{n}/{s}/data").is_dir()
               for n in range(20) for s in ("web", "worker"))
    assert run_module(convox_volume, {"rack": "r1", "root": str(tmp_path),
                                      "apps": apps})["changed"] is False


def test_compose_volumes_filter_gives_the_modules_list(run_module: RunModule,
                                                       tmp_path: Path) -> None:
    # Filters are controller code, absent where ansible-test runs module unit tests.
    pytest.importorskip("ansible.errors")
    from ansible_collections.convox.volumes.plugins.filter.volumes import compose_volumes

    compose = {"services": {
        "web": {"volumes": ["/var/www/html", "/srv/cfg:/etc/cfg:ro,z",
                            {"type": "tmpfs", "target": "/tmp"}]},
        "db": {"volumes": [{"type": "volume", "source": "dbdata", "target": "/var/lib/x"}]}},
        "volumes": {"dbdata": None}}
    result = run_module(convox_volume, {"rack": "r1", "app": "a1", "root": str(tmp_path),
                                        "compose": compose}, check_mode=True)
    expected = [dict(volume, created=False) for volume in result["volumes"]]
    assert compose_volumes(compose, rack="r1", app="a1", root=str(tmp_path)) == expected


def test_existing_file_host_paths_are_used(run_module: RunModule, tmp_path: Path) -> None:
    # Bind-mounting a file (/etc/localtime) or a socket is common: nothing to create there.
    config = tmp_path / "nginx.conf"
    config.write_text("worker_processes 1;")
    services = {"web": [f"{config}:/etc/nginx/nginx.conf:ro", "/etc/hostname:/etc/hostname"]}
    result = run_module(convox_volume, args(tmp_path / "v", services=services,
                                            create_host_paths=True))
    assert result.get("failed") is None, result.get("msg")
    assert result["changed"] is False
    assert result["not_created"] == []
    assert config.read_text() == "worker_processes 1;"
    assert [v["host_path"] for v in result["volumes"]] == [str(config), "/etc/hostname"]


def test_bind_entry_can_refuse_creation(run_module: RunModule, tmp_path: Path) -> None:
    services = {"web": [{"type": "bind", "source": f"{tmp_path}/no", "target": "/no",
                         "bind": {"create_host_path": False}},
                        {"type": "bind", "source": f"{tmp_path}/yes", "target": "/yes"}]}
    result = run_module(convox_volume, args(tmp_path / "v", services=services,
                                            create_host_paths=True))
    assert tree(tmp_path) == ["yes"]
    assert result["not_created"] == [{"host_path": f"{tmp_path}/no",
                                      "reason": "the entry says bind.create_host_path: false"}]


def test_created_directories_belong_to_the_module_user(run_module: RunModule,
                                                       tmp_path: Path) -> None:
    run_module(convox_volume, args(tmp_path / "v"))
    created = (tmp_path / "v/r1-a1/web/data").stat()
    assert (created.st_uid, created.st_gid) == (os.geteuid(), os.getegid())


def _run_as(user: str, run_module: RunModule, module_args: dict[str, t.Any],
            check_mode: bool) -> dict[str, t.Any]:
    """Run the module in a child process that has become `user` (HOME left as it was)."""
    # Import what a module run imports lazily while still root: the files of a test
    # environment (ansible-test's) may be unreadable for `user`.
    run_module(convox_volume, module_args, check_mode=True)
    return run_as(user, lambda: run_module(convox_volume, module_args, check_mode=check_mode))


@pytest.mark.skipif(os.geteuid() != 0, reason="becoming another user needs root")
def test_after_become_home_and_owner_are_the_new_users(run_module: RunModule,
                                                       tmp_path: Path) -> None:
    nobody = pwd.getpwnam("nobody")
    # A host path only (never created): nobody's home need not exist nor be writable.
    planned = _run_as("nobody", run_module, {"target": "local", "app": "a1",
                                             "services": {"web": ["~/c:/c"]}},
                      check_mode=True)
    assert planned["root"] == f"{nobody.pw_dir}/.convox/volumes"
    assert [v["host_path"] for v in planned["volumes"]] == [f"{nobody.pw_dir}/c"]

    # pytest's temporary directories are private to root: share one directory of /tmp.
    with tempfile.TemporaryDirectory(prefix="convox-become-") as shared:
        os.chmod(shared, 0o777)
        _run_as("nobody", run_module, {"target": "local", "app": "a1", "root": f"{shared}/v",
                                       "services": {"web": ["/data"]}}, check_mode=False)
        created = Path(shared, "v/a1/web/data").stat()
        assert (created.st_uid, created.st_gid) == (nobody.pw_uid, nobody.pw_gid)

    refused = _run_as("nobody", run_module, {"target": "local", "app": "a1",
                                             "root": f"{tmp_path}/v",
                                             "services": {"web": ["/data"]}}, check_mode=False)
    assert refused["failed"] is True
    assert refused["msg"].startswith(f"nothing was created: app 'a1', service 'web', volume "
                                     f"entry '/data': '{tmp_path}/v/a1/web/data' cannot be "
                                     f"looked at: Permission denied; run the task as a user")


@pytest.mark.skipif(os.geteuid() != 0, reason="becoming another user needs root")
def test_a_parent_the_user_cannot_write_to_creates_nothing(run_module: RunModule) -> None:
    # The second app's directory exists and belongs to root: found before the first app's
    # directories are made, not after.
    nobody = pwd.getpwnam("nobody")
    with tempfile.TemporaryDirectory(prefix="convox-become-") as shared:
        os.chmod(shared, 0o777)
        (Path(shared) / "v/r1-a2").mkdir(parents=True)
        os.chmod(Path(shared) / "v", 0o777)
        apps = [{"name": "a1", "services": {"web": ["/data"]}},
                {"name": "a2", "services": {"web": ["/data"]}}]
        result = _run_as("nobody", run_module, {"rack": "r1", "root": f"{shared}/v",
                                                "apps": apps}, check_mode=False)
        assert result["failed"] is True
        assert result["msg"] == (
            f"nothing was created: no directory can be made in '{shared}/v/r1-a2' for app "
            f"'a2', service 'web', volume entry '/data': it is not writable by nobody (uid "
            f"{nobody.pw_uid}), the user the task runs as: run the task with become, or choose "
            f"another root")
        assert sorted(os.listdir(f"{shared}/v")) == ["r1-a2"]
        assert os.listdir(f"{shared}/v/r1-a2") == []


@pytest.mark.skipif(os.geteuid() != 0, reason="becoming another user needs root")
def test_an_unwritable_root_is_one_error_naming_the_first_volumes(run_module: RunModule) -> None:
    with tempfile.TemporaryDirectory(prefix="convox-become-") as shared:
        os.chmod(shared, 0o755)  # root's: nobody cannot create the volumes root in it
        apps = [{"name": f"a{number}", "services": {"web": ["/data"], "db": ["/db"]}}
                for number in range(4)]
        result = _run_as("nobody", run_module, {"rack": "r1", "root": f"{shared}/v",
                                                "apps": apps}, check_mode=False)
        assert result["failed"] is True
        message = result["msg"]
        assert message.count("no directory can be made in") == 1
        assert f"no directory can be made in '{shared}' for app 'a0', service 'web'" in message
        assert "app 'a2', service 'web', volume entry '/data'; and 3 more volumes: it is not " \
            "writable by nobody" in message
        assert os.listdir(shared) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="becoming another user needs root")
def test_each_unwritable_directory_is_its_own_error(run_module: RunModule) -> None:
    # Two apps' directories belong to root; a third app's can be made: none of it is.
    with tempfile.TemporaryDirectory(prefix="convox-become-") as shared:
        os.chmod(shared, 0o777)
        for app in ("r1-a0", "r1-a1"):
            (Path(shared) / "v" / app).mkdir(parents=True)
        os.chmod(Path(shared) / "v", 0o777)
        apps = [{"name": "a0", "services": {f"s{number}": ["/data"] for number in range(6)}},
                {"name": "a1", "services": {"web": ["/data"]}},
                {"name": "a2", "services": {"web": ["/data"]}}]
        result = _run_as("nobody", run_module, {"rack": "r1", "root": f"{shared}/v",
                                                "apps": apps}, check_mode=False)
        assert result["failed"] is True
        lines = result["msg"].removeprefix("nothing was created: ").split("\n")
        assert len(lines) == 2, result["msg"]
        assert lines[0].startswith(f"no directory can be made in '{shared}/v/r1-a0' for app "
                                   f"'a0', service 's0', volume entry '/data'; ")
        assert "app 'a0', service 's4', volume entry '/data'; and 1 more volume: it is not " \
            "writable by nobody" in lines[0]
        assert lines[1].startswith(f"no directory can be made in '{shared}/v/r1-a1' for app "
                                   f"'a1', service 'web', volume entry '/data': it is not ")
        assert sorted(os.listdir(f"{shared}/v")) == ["r1-a0", "r1-a1"]
        assert os.listdir(f"{shared}/v/r1-a0") == os.listdir(f"{shared}/v/r1-a1") == []


@pytest.mark.skipif(os.geteuid() != 0, reason="becoming another user needs root")
def test_a_mode_without_owner_write_still_creates_every_level(run_module: RunModule) -> None:
    with tempfile.TemporaryDirectory(prefix="convox-become-") as shared:
        os.chmod(shared, 0o777)
        result = _run_as("nobody", run_module, args(Path(shared, "v"), dir_mode="0555"),
                         check_mode=False)
        assert result.get("failed") is None, result.get("msg")
        assert result["changed"] is True
        created = [Path(path) for path in result["directories"]]
        assert [path.relative_to(shared).as_posix() for path in created] == [
            "v", "v/r1-a1", "v/r1-a1/db", "v/r1-a1/db/var", "v/r1-a1/db/var/lib",
            "v/r1-a1/db/var/lib/postgresql", "v/r1-a1/db/var/lib/postgresql/data",
            "v/r1-a1/web", "v/r1-a1/web/data"]
        assert {stat.S_IMODE(path.stat().st_mode) for path in created} == {0o555}


EXAMPLE_APPS = Path(__file__).resolve().parents[4] / "examples/apps"


@pytest.mark.parametrize("app", sorted(path.name for path in EXAMPLE_APPS.iterdir()))
@pytest.mark.parametrize("target", ["rack", "local"])
def test_filters_give_the_modules_volumes_for_every_example(
        run_module: RunModule, tmp_path: Path, app: str, target: str) -> None:
    pytest.importorskip("ansible.errors")
    from ansible_collections.convox.volumes.plugins.filter.volumes import (
        compose_volumes,
        volume_path,
    )

    project_dir = EXAMPLE_APPS / app
    compose = yaml.safe_load((project_dir / "docker-compose.yml").read_text())
    settings: dict[str, t.Any] = {"rack": "r1", "app": app, "target": target,
                                  "root": str(tmp_path), "env": {"GITEA_CUSTOM_DIR": "/srv/c"},
                                  "project_dir": str(project_dir)}
    for named_volumes in ("skip", "namespace"):
        result = run_module(convox_volume, dict(settings, compose=compose,
                                                named_volumes=named_volumes), check_mode=True)
        module_volumes = [dict(volume, created=False) for volume in result["volumes"]]
        assert module_volumes
        assert compose_volumes(compose, named_volumes=named_volumes,
                               **settings) == module_volumes
        for service, spec in compose["services"].items():
            for entry in spec.get("volumes") or []:
                [expected] = [volume["host_path"] for volume in module_volumes
                              if volume["service"] == service and volume["container_path"]
                              == (entry.get("target") if isinstance(entry, dict)
                                  else entry.split(":")[min(1, entry.count(":"))])
                              .replace("${GITEA_DATA_DIR:-/data}", "/data")]
                assert volume_path(entry, service=service, named_volumes=named_volumes,
                                   **settings) == expected


@pytest.mark.parametrize("target", ["rack", "local"])
def test_apps_volumes_gives_the_modules_volumes_for_all_examples_at_once(
        run_module: RunModule, tmp_path: Path, target: str) -> None:
    pytest.importorskip("ansible.errors")
    from ansible_collections.convox.volumes.plugins.filter.volumes import apps_volumes

    apps = [{"name": path.name, "env": {"GITEA_CUSTOM_DIR": "/srv/c"}, "project_dir": str(path),
             "compose": yaml.safe_load((path / "docker-compose.yml").read_text())}
            for path in sorted(EXAMPLE_APPS.iterdir())]
    settings = {"rack": "r1", "target": target, "root": str(tmp_path)}
    result = run_module(convox_volume, dict(settings, apps=apps), check_mode=True)
    module_volumes = [dict(volume, created=False) for volume in result["volumes"]]
    assert len({volume["app"] for volume in module_volumes}) == len(apps) > 1
    assert apps_volumes(apps, **settings) == module_volumes


def test_return_documents_exactly_the_keys_returned(run_module: RunModule,
                                                    tmp_path: Path) -> None:
    documented = yaml.safe_load(convox_volume.RETURN)
    compose = {"services": {"web": {"volumes": ["/data", "/srv/x:/x:ro,z", "db:/db"],
                                    "tmpfs": "/tmp"}}, "volumes": {"db": None}}
    result = run_module(convox_volume, {"rack": "r1", "app": "a1", "root": str(tmp_path),
                                        "compose": compose})
    assert set(documented) == set(result) - {"changed", "msg", "warnings", "invocation"}
    assert [sorted(volume) for volume in result["volumes"]] == [sorted(
        documented["volumes"]["contains"])] * 4
    assert [v["kind"] for v in result["volumes"]] == ["namespaced", "host", "named", "tmpfs"]


@pytest.mark.parametrize("timeout, message", [
    # Far shorter than a fork: the child that looks at the paths cannot answer in time.
    (1e-9, "the volume paths under {root} did not answer within timeout=1e-09 s: the file "
           "server of the volumes root may be down; check the mount, or raise 'timeout'"),
    (0, "timeout 0 is not a number of seconds above 0: give one such as 30"),
])
def test_a_root_that_does_not_answer_creates_nothing(run_module: RunModule, tmp_path: Path,
                                                     timeout: float, message: str) -> None:
    root = tmp_path / "volumes"
    result = run_module(convox_volume, args(root, timeout=timeout))
    assert result["failed"] is True
    assert result["msg"] == "nothing was created: " + message.format(root=root)
    assert not root.exists()
