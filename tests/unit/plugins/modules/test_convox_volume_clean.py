# SPDX-License-Identifier: GPL-3.0-or-later
"""convox_volume_clean run in-process on real temporary trees."""
from __future__ import annotations

import hashlib
import json
import os
import typing as t
from pathlib import Path

import pytest

from ansible_collections.convox.volumes.plugins.modules import convox_volume_clean
from ansible_collections.convox.volumes.tests.unit.clean_trees import CASE_14, files_of, make_tree

RunModule = t.Callable[..., dict[str, t.Any]]
PG = "/var/lib/postgresql/data"


def digest(root: Path) -> str:
    hashed = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        hashed.update(path.relative_to(root).as_posix().encode())
        if path.is_file() and not path.is_symlink():
            hashed.update(path.read_bytes())
    return hashed.hexdigest()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    make_tree(tmp_path / "volumes", CASE_14)
    return tmp_path / "volumes"


def args(root: Path, **extra: t.Any) -> dict[str, t.Any]:
    base: dict[str, t.Any] = {"rack": "r1", "app": "a1", "service": "db", "path": PG,
                              "root": str(root), "busy_timeout": 1}
    base.update(extra)
    return base


def test_case_14_changed_then_not_changed(run_module: RunModule, root: Path) -> None:
    first = run_module(convox_volume_clean, args(root))
    assert first["changed"] is True and "failed" not in first
    assert first["host_path"] == str(root / "r1-a1/db/var/lib/postgresql/data")
    assert first["removed"] == {"files": 2, "directories": 2, "bytes": 13}
    assert first["recreated"] is True and first["quarantined_to"] is None
    assert files_of(root) == ["r1-a1/web/data/keep", "r1-a2/db/var/lib/postgresql/data/PG_VERSION"]
    second = run_module(convox_volume_clean, args(root))
    assert second["changed"] is False
    assert second["removed"] == {"files": 0, "directories": 0, "bytes": 0}


def test_case_14_check_mode_with_diff(run_module: RunModule, root: Path) -> None:
    before = digest(root)
    result = run_module(convox_volume_clean, args(root), check_mode=True, diff=True)
    assert digest(root) == before
    assert result["changed"] is True
    assert result["removed"] == {"files": 2, "directories": 2, "bytes": 13}
    assert result["diff"] == {
        "before": f"{root}/r1-a1/db/var/lib/postgresql/data: 2 files, 2 directories, 13 bytes\n",
        "after": f"{root}/r1-a1/db/var/lib/postgresql/data: empty directory\n"}


@pytest.mark.parametrize("extra, resolved", [
    ({"path": ""}, "r1-a1/db"),
    ({"path": "/"}, "r1-a1/db"),
    ({"path": "."}, "r1-a1/db"),
    ({"service": "", "path": PG}, "r1-a1"),
    ({"path": None, "host_path": "{root}/r1-a1/db"}, "r1-a1/db"),
    ({"path": None, "host_path": "{root}/r1-a1/db/../../r1-a2/db/var"}, None),
])
def test_case_16_over_broad_targets_refused_before_anything_is_deleted(
        run_module: RunModule, root: Path, extra: dict[str, t.Any], resolved: str | None) -> None:
    before = digest(root)
    arguments = args(root, **{key: value.format(root=root) if isinstance(value, str) else value
                              for key, value in extra.items()})
    result = run_module(convox_volume_clean, arguments)
    assert result["failed"] is True
    assert result["msg"].startswith("refused, nothing was touched:")
    if resolved:
        assert f"resolve to {root}/{resolved}," in result["msg"].replace("resolves", "resolve")
    assert digest(root) == before


def test_quarantine_returns_the_trash_path(run_module: RunModule, root: Path) -> None:
    result = run_module(convox_volume_clean, args(root, quarantine=True), diff=True)
    trash = Path(result["quarantined_to"])
    assert result["changed"] is True and trash.parent == root / ".convox-trash"
    assert (trash / "PG_VERSION").read_text() == "16\n"
    assert result["removed"] == {"files": 0, "directories": 0, "bytes": 0}
    assert "quarantined" in result["diff"]["after"]


def test_lock_holder_is_named(run_module: RunModule, root: Path) -> None:
    (root / ".convox-locks").mkdir()
    holder = {"host": "ip-10-0-1-5", "pid": 4242, "since": "2026-12-03T17:00:00Z",
              "since_epoch": 4102444800}
    (root / ".convox-locks/r1-a1-db.lock").write_text(json.dumps(holder))
    result = run_module(convox_volume_clean, args(root))
    assert result["failed"] is True
    assert "host ip-10-0-1-5, process 4242, since 2026-12-03T17:00:00Z" in result["msg"]
    assert (root / "r1-a1/db/var/lib/postgresql/data/PG_VERSION").exists()


def test_local_target_layout(run_module: RunModule, tmp_path: Path) -> None:
    root = tmp_path / "h/.convox/volumes"
    make_tree(root, {"a1/web/data/x": "1", "a1/db/data/y": "2"})
    result = run_module(convox_volume_clean, {"target": "local", "app": "a1", "service": "web",
                                              "path": "/data", "root": str(root)})
    assert result["host_path"] == f"{root}/a1/web/data"
    assert files_of(root) == ["a1/db/data/y"]
    assert (root / ".convox-locks").is_dir()


@pytest.mark.parametrize("extra, message", [
    ({"rack": None}, "rack name None is not a Convox name"),
    ({"busy_timeout": -1}, "busy_timeout must not be negative; got -1"),
    ({"root": str(Path("/nonexistent-convox-root"))}, "does not exist"),
])
def test_bad_input_fails_clearly(run_module: RunModule, root: Path, extra: dict[str, t.Any],
                                 message: str) -> None:
    arguments = args(root)
    arguments.update(extra)
    result = run_module(convox_volume_clean, arguments)
    assert result["failed"] is True and message in result["msg"]


def test_symlink_component_fails_the_module(run_module: RunModule, root: Path,
                                            tmp_path: Path) -> None:
    make_tree(tmp_path / "elsewhere", {"data/precious": "x"})
    os.symlink(tmp_path / "elsewhere", root / "r1-a1/db/data")
    result = run_module(convox_volume_clean, args(root, path="/data/data"))
    assert result["failed"] is True and "is a symbolic link" in result["msg"]
    assert (tmp_path / "elsewhere/data/precious").exists()


def test_an_unexpected_error_mid_delete_fails_with_what_remains(
        run_module: RunModule, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Top-level files go first; the error stops the walk into base/, and the result counts
    what is really left instead of a traceback."""
    from ansible_collections.convox.volumes.plugins.module_utils import _clean

    def stop(*_args: t.Any) -> bool:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(_clean, "_remove_directory", stop)
    result = run_module(convox_volume_clean, args(root))
    assert result["failed"] is True
    assert "stopped on an unexpected RecursionError: maximum recursion depth" in result["msg"]
    assert result["remaining"] == {"files": 1, "directories": 2, "bytes": len("heap page\n")}
    assert files_of(root) == ["r1-a1/db/var/lib/postgresql/data/base/1/1", "r1-a1/web/data/keep",
                              "r1-a2/db/var/lib/postgresql/data/PG_VERSION"]
    assert [p.name for p in (root / ".convox-locks").iterdir()] == [".guard"]


@pytest.mark.parametrize("extra, message", [
    ({"lock_timeout": 0}, "refused, nothing was touched: lock_timeout=0 must be more than 0 "
                          "seconds"),
    ({"lock_timeout": -1}, "lock_timeout must not be negative; got -1: give a number of "
                           "seconds, e.g. lock_timeout=3600"),
    ({"root": ""}, "refused, nothing was touched: root '' is empty"),
    ({"root": "/"}, "refused, nothing was touched: root '/' is '/', the whole host"),
    ({"root": "/proc"}, "refused, nothing was touched: root '/proc' is inside /proc"),
])
def test_bad_roots_and_lock_timeouts_fail_before_anything_is_touched(
        run_module: RunModule, root: Path, extra: dict[str, t.Any], message: str) -> None:
    before = digest(root)
    arguments = args(root)
    arguments.update(extra)
    result = run_module(convox_volume_clean, arguments)
    assert result["failed"] is True and message in result["msg"]
    assert digest(root) == before and not (root / ".convox-locks").exists()


def _record_taken(dir_fd: int, name: str) -> None:
    """Someone else creates the record's name first: the exclusive create fails."""
    os.close(os.open(name, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=dir_fd))


@pytest.mark.parametrize("obstacle, incomplete", [
    ("record", ["the record {dest}.json was not written (File exists), so "
                "convox_volume_restore needs rack, app, service and path given explicitly"]),
    ("recreate", ["{volume} was not recreated (File exists): create it by hand with owner"]),
    ("both", ["the record {dest}.json was not written", "{volume} was not recreated"]),
])
def test_a_failure_after_the_quarantine_rename_still_returns_quarantined_to(
        run_module: RunModule, root: Path, monkeypatch: pytest.MonkeyPatch, obstacle: str,
        incomplete: list[str]) -> None:
    from ansible_collections.convox.volumes.plugins.module_utils import _clean
    volume_dir = root / "r1-a1/db/var/lib/postgresql/data"
    real_write = _clean.write_record

    def write_with_obstacles(dir_fd: int, name: str, record: dict[str, t.Any]) -> None:
        if obstacle in ("recreate", "both"):
            volume_dir.write_text("debris")  # a file where the directory is to be recreated
        if obstacle in ("record", "both"):
            _record_taken(dir_fd, name)
        real_write(dir_fd, name, record)

    monkeypatch.setattr(_clean, "write_record", write_with_obstacles)
    result = run_module(convox_volume_clean, args(root, quarantine=True))
    destination = result["quarantined_to"]
    assert result["failed"] is True and result["changed"] is True
    assert Path(destination).parent == root / ".convox-trash"
    assert (Path(destination) / "PG_VERSION").read_text() == "16\n"
    assert result["msg"].startswith(f"moved {volume_dir} to {destination}, but ")
    assert len(result["incomplete"]) == len(incomplete)
    for got, wanted in zip(result["incomplete"], incomplete):
        assert got.startswith(wanted.format(dest=destination, volume=volume_dir))
        assert got in result["msg"]
    assert result["recreated"] is (obstacle == "record")
    assert volume_dir.is_dir() is (obstacle == "record")
    assert [p.name for p in (root / ".convox-locks").iterdir()] == [".guard"]
