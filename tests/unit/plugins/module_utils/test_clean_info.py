# SPDX-License-Identifier: GPL-3.0-or-later
"""The volume listing and its health verdicts on real trees, and a walk that really blocks."""
from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import typing as t
from pathlib import Path

import pytest

from ansible_collections.convox.volumes.plugins.module_utils._clean import (
    clean_volume,
    resolve_target,
)
from ansible_collections.convox.volumes.plugins.module_utils._paths import VolumeRuleError
from ansible_collections.convox.volumes.plugins.module_utils._volume_info import (
    validate_scope,
    volume_info,
    walk_volume,
)
from ansible_collections.convox.volumes.tests.unit.clean_trees import make_tree


def info(root: Path, **scope: t.Any) -> dict[str, t.Any]:
    options: dict[str, t.Any] = {"target": "rack", "rack": "r1", "app": None, "service": None,
                                 "container_path": None, "timeout": 20}
    options.update(scope)
    return volume_info(root=str(root), **options)


def by_path(result: dict[str, t.Any], root: Path) -> dict[str, dict[str, t.Any]]:
    return {str(Path(v["host_path"]).relative_to(root)): v for v in result["volumes"]}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    base = tmp_path / "volumes"
    make_tree(base, {
        "r1-a1/db/var/lib/postgresql/data/PG_VERSION": "16\n",
        "r1-a1/db/var/lib/postgresql/data/base/1/1": "page",
        "r1-a1/web/data/keep": "keep",
        "r1-a1/web/cache/c": "cc",
        "r1-a2/db/var/lib/postgresql/data/PG_VERSION": "16\n",
        "r2-a1/db/data/other-rack": "x",
    })
    return base


@pytest.mark.parametrize("scope, expected", [
    ({}, ["r1-a1/db/var/lib/postgresql/data", "r1-a1/web/cache", "r1-a1/web/data",
          "r1-a2/db/var/lib/postgresql/data"]),
    ({"app": "a1"}, ["r1-a1/db/var/lib/postgresql/data", "r1-a1/web/cache",
                     "r1-a1/web/data"]),
    ({"app": "a1", "service": "web"}, ["r1-a1/web/cache", "r1-a1/web/data"]),
    ({"rack": "r2"}, ["r2-a1/db/data"]),
    ({"container_path": "/var/lib/postgresql/data"},
     ["r1-a1/db/var/lib/postgresql/data", "r1-a2/db/var/lib/postgresql/data"]),
])
def test_scope_selects_volumes(root: Path, scope: dict[str, t.Any],
                               expected: list[str]) -> None:
    assert sorted(by_path(info(root, **scope), root)) == expected


def test_counts_newest_change_and_healthy(root: Path) -> None:
    newest = time.time() + 3600
    os.utime(root / "r1-a1/db/var/lib/postgresql/data/base/1/1", (newest, newest))
    volume = by_path(info(root, app="a1", service="db"), root)[
        "r1-a1/db/var/lib/postgresql/data"]
    assert (volume["files"], volume["bytes"]) == (2, 7)
    assert volume["newest_change"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(newest))
    assert volume["healthy"] is True and volume["problems"] == []
    assert (volume["rack"], volume["app"], volume["service"]) == ("r1", "a1", "db")


def test_dangling_links_and_held_open_files_are_unhealthy(root: Path) -> None:
    data = root / "r1-a1/web/data"
    os.symlink("../gone", data / "dangling")
    os.symlink("/etc", data / "fine-link")
    (data / ".nfs000000000000abcd").write_text("deleted but open")
    volume = by_path(info(root, app="a1", service="web"), root)["r1-a1/web/data"]
    assert volume["healthy"] is False
    assert sorted(volume["problems"], key=lambda problem: problem["path"]) == [
        {"path": str(data / ".nfs000000000000abcd"),
         "reason": "deleted file still held open by a process (NFS .nfsXXXX)"},
        {"path": str(data / "dangling"), "reason": "dangling symbolic link to '../gone'"},
    ]


@pytest.mark.parametrize("file_at, level, reason", [
    ("r1-a3", "problems", "a regular file where an app directory should be"),
    ("r1-a1/worker", "problems", "a regular file where a service directory should be"),
    ("r1-a1/web/logs", "volume", "a regular file where a volume directory should be"),
])
def test_a_file_where_a_directory_should_be(root: Path, file_at: str, level: str,
                                            reason: str) -> None:
    (root / file_at).write_text("debris")
    result = info(root)
    if level == "problems":
        assert {"path": str(root / file_at), "reason": reason} in result["problems"]
    else:
        volume = by_path(result, root)[file_at]
        assert volume["healthy"] is False
        assert volume["problems"] == [{"path": str(root / file_at), "reason": reason}]


def test_a_file_on_the_way_to_a_given_container_path(root: Path) -> None:
    (root / "r1-a1/web/var").write_text("debris")
    result = info(root, app="a1", service="web", container_path="/var/lib/x")
    volume = by_path(result, root)["r1-a1/web/var/lib/x"]
    assert volume["problems"][0]["reason"] == (
        "a file where a directory should be (on the way to it)")


def test_a_link_on_the_way_to_a_given_container_path_is_not_followed(root: Path,
                                                                     tmp_path: Path) -> None:
    """r1-a1/web/var -> a directory outside the root: the volume below it is reported with
    the link as its problem, and nothing outside the root is walked or counted."""
    outside = tmp_path / "elsewhere"
    make_tree(outside, {"lib/x/big": "o" * 4096})
    (root / "r1-a1/web/var").symlink_to(outside)
    result = info(root, app="a1", service="web", container_path="/var/lib/x")
    volume = by_path(result, root)["r1-a1/web/var/lib/x"]
    assert volume["healthy"] is False and volume["files"] == 0 and volume["bytes"] == 0
    assert volume["problems"] == [{
        "path": str(root / "r1-a1/web/var"),
        "reason": f"a symbolic link (to {str(outside)!r}) on the way to the volume: not "
                  f"walked, and clean refuses it"}]


def test_unreadable_entries_for_an_unprivileged_user() -> None:
    """Root reads everything on a local file system, so the walk runs as nobody here (as it
    would as root on a root-squashed NFS export)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to nobody")
    base = Path(tempfile.mkdtemp(prefix="convox-info-"))
    try:
        base.chmod(0o755)
        data = base / "data"
        make_tree(data, {"readable": "r", "secret/inside": "x"})
        (data / "secret").chmod(0o000)
        import ansible_collections.convox.volumes as package
        collections = str(Path(package.__path__[0]).parent.parent.parent)
        script = ("import sys, os, json; sys.path.insert(0, %r)\n"
                  "from ansible_collections.convox.volumes.plugins.module_utils import "
                  "_volume_info\n"
                  "os.setgid(65534); os.setuid(65534)\n"
                  "print(json.dumps(_volume_info.walk_volume(%r)))\n" % (collections, str(data)))
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              check=False)
        assert done.returncode == 0, done.stderr
        walked = json.loads(done.stdout)
        assert walked["problems"] == [{"path": str(data / "secret"),
                                       "reason": "unreadable (permission denied)"}]
        assert walked["files"] == 1
    finally:
        shutil.rmtree(base)


def test_mount_inside_a_volume_is_a_problem(root: Path) -> None:
    point = root / "r1-a1/web/data/mnt"
    point.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(point)],
                      check=False).returncode != 0:
        pytest.skip("cannot mount tmpfs")
    try:
        walked = walk_volume(str(root / "r1-a1/web/data"))
        assert walked["problems"] == [{"path": str(point), "reason":
                                       "another file system is mounted here "
                                       "(clean refuses it)"}]
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False)


def test_quarantined_entries_with_age_in_scope(root: Path) -> None:
    db = resolve_target(target="rack", rack="r1", app="a1", service="db",
                        path="/var/lib/postgresql/data", root=str(root))
    moved = clean_volume(db, quarantine_it=True, recreate=True, busy_timeout=1,
                         lock_timeout=60, check_mode=False)["quarantined_to"]
    assert [q["path"] for q in info(root, app="a1")["quarantined"]] == [moved]
    entry = info(root, app="a1")["quarantined"][0]
    assert entry["host_path"] == db.host_path and 0 <= entry["age_seconds"] < 60
    assert info(root, app="a2")["quarantined"] == []
    assert info(root, rack="r2")["quarantined"] == []


def test_missing_root_reports_no_volumes(tmp_path: Path) -> None:
    result = info(tmp_path / "nothing")
    assert result["volumes"] == [] and "does not exist" in result["msg"]


@pytest.mark.parametrize("scope, message", [
    ({"rack": None}, "rack name None"),
    ({"rack": "R1"}, "rack name 'R1'"),
    ({"service": "db"}, "without app"),
    ({"app": "a1", "path": "/"}, "container path '/'"),
])
def test_bad_scope_is_refused(scope: dict[str, t.Any], message: str) -> None:
    arguments = {"target": "rack", "rack": "r1", "app": None, "service": None, "path": None}
    arguments.update(scope)
    with pytest.raises(VolumeRuleError, match=message):
        validate_scope(**arguments)


# --- a walk that really blocks ----------------------------------------------------------------


class BlockedMount:
    """A FUSE mount whose server never answers: every access to it blocks in the kernel, as
    on a hard NFS mount whose server is gone. Closing the device fd ends the connection."""

    def __init__(self, where: Path) -> None:
        self.where = where
        self.fd = -1

    def __enter__(self) -> BlockedMount:
        if not os.path.exists("/dev/fuse"):
            pytest.skip("no /dev/fuse")
        self.where.mkdir(parents=True, exist_ok=True)
        self.fd = os.open("/dev/fuse", os.O_RDWR)
        libc = ctypes.CDLL(None, use_errno=True)
        options = f"fd={self.fd},rootmode=40000,user_id=0,group_id=0".encode()
        if libc.mount(b"blocked", str(self.where).encode(), b"fuse", 0, options) != 0:
            os.close(self.fd)
            pytest.skip(f"cannot mount FUSE here: {os.strerror(ctypes.get_errno())}")
        return self

    def __exit__(self, *_exc: object) -> None:
        os.close(self.fd)
        subprocess.run(["umount", "-l", str(self.where)], check=False)


def test_a_blocking_volume_is_reported_unreachable_and_the_rest_still_listed(
        root: Path) -> None:
    with BlockedMount(root / "r1-a1/web/data/nfs"):
        started = time.monotonic()
        result = info(root, timeout=3)
        elapsed = time.monotonic() - started
    assert elapsed < 15
    volumes = by_path(result, root)
    # The walks run in order within one time budget: what came before the blocked volume is
    # judged, the blocked one and everything after it are listed as not reached.
    assert result["unreachable"] == [str(root / "r1-a1/web/data"),
                                     str(root / "r1-a2/db/var/lib/postgresql/data")]
    assert volumes["r1-a1/web/data"]["healthy"] is False
    assert "not reachable within the time limit" in volumes["r1-a1/web/data"]["problems"][0][
        "reason"]
    assert volumes["r1-a1/db/var/lib/postgresql/data"]["healthy"] is True
    assert volumes["r1-a1/web/cache"]["files"] == 1


def test_a_blocking_root_is_reported_unreachable(tmp_path: Path) -> None:
    with BlockedMount(tmp_path / "volumes"):
        result = info(tmp_path / "volumes", timeout=1.5)
    assert result["unreachable"] == [str(tmp_path / "volumes")]
    assert result["volumes"] == []
