# SPDX-License-Identifier: GPL-3.0-or-later
"""Copying local volumes into the mounted file system: owners, modes, no overwrite."""
from __future__ import annotations

import os
import pwd
import tempfile
from pathlib import Path

import pytest

from ansible_collections.convox.volumes.plugins.module_utils import _migrate
from ansible_collections.convox.volumes.tests.unit.become import run_as


@pytest.fixture
def trees(tmp_path: Path) -> tuple[Path, Path]:
    local, shared = tmp_path / "local", tmp_path / "shared"
    (local / "r1-a1" / "db").mkdir(parents=True)
    (local / "r1-a1" / "db" / "PG_VERSION").write_text("15\n")
    (local / "r1-a1" / "db" / "secret").write_text("s")
    os.chmod(local / "r1-a1" / "db" / "secret", 0o600)
    os.chmod(local / "r1-a1" / "db", 0o700)
    (local / "r1-a1" / "web").mkdir()
    (local / "r1-a1" / "web" / "index.html").write_text("local")
    os.symlink("db/PG_VERSION", local / "r1-a1" / "link")
    os.mkfifo(local / "r1-a1" / "pipe")
    if os.getuid() == 0:
        os.chown(local / "r1-a1" / "db" / "PG_VERSION", 999, 998)
    (shared / "r1-a1" / "web").mkdir(parents=True)
    (shared / "r1-a1" / "web" / "index.html").write_text("shared")
    return local, shared


def test_copy_keeps_owners_modes_and_never_overwrites(trees: tuple[Path, Path]) -> None:
    local, shared = trees
    report = _migrate.copy_tree(str(local), str(shared))

    assert report["files"] == 2 and report["symlinks"] == 1 and report["directories"] == 1
    assert report["conflicts"] == ["r1-a1/web/index.html"]
    assert report["skipped"] == ["r1-a1/pipe"] and report["errors"] == []
    assert (shared / "r1-a1" / "web" / "index.html").read_text() == "shared"
    assert (shared / "r1-a1" / "db" / "PG_VERSION").read_text() == "15\n"
    assert oct((shared / "r1-a1" / "db").stat().st_mode & 0o777) == "0o700"
    assert oct((shared / "r1-a1" / "db" / "secret").stat().st_mode & 0o777) == "0o600"
    assert os.readlink(shared / "r1-a1" / "link") == "db/PG_VERSION"
    source_stat = (local / "r1-a1" / "db" / "PG_VERSION").stat()
    copy_stat = (shared / "r1-a1" / "db" / "PG_VERSION").stat()
    assert (copy_stat.st_uid, copy_stat.st_gid) == (source_stat.st_uid, source_stat.st_gid)
    assert copy_stat.st_mtime_ns == source_stat.st_mtime_ns
    assert (local / "r1-a1" / "web" / "index.html").read_text() == "local"

    # A second pass finds its own copies (not conflicts) and still the one real conflict.
    again = _migrate.copy_tree(str(local), str(shared))
    assert again["files"] == 0 and again["directories"] == 0
    assert again["already_copied"] == 3  # PG_VERSION, secret and the link
    assert again["conflicts"] == ["r1-a1/web/index.html"]


def test_a_copy_cut_short_is_a_conflict_and_a_complete_one_is_not(
        trees: tuple[Path, Path]) -> None:
    """A migration stopped half way leaves complete copies (size, time, mode and owner of the
    local file) and maybe one partial file: only the partial one is a conflict next time."""
    local, shared = trees
    (shared / "r1-a1" / "db").mkdir()
    _migrate.copy_tree(str(local / "r1-a1" / "db"), str(shared / "r1-a1" / "db"))
    partial = shared / "r1-a1" / "db" / "secret"
    partial.unlink()
    partial.write_text("")  # created, nothing written yet, time not set
    os.chmod(partial, 0o600)
    changed_mode = shared / "r1-a1" / "db" / "PG_VERSION"

    report = _migrate.copy_tree(str(local), str(shared))

    assert report["already_copied"] == 1 and report["files"] == 0
    assert sorted(report["conflicts"]) == ["r1-a1/db/secret", "r1-a1/web/index.html"]
    assert partial.read_text() == "" and changed_mode.read_text() == "15\n"
    os.chmod(changed_mode, 0o666)
    assert "r1-a1/db/PG_VERSION" in _migrate.copy_tree(str(local), str(shared))["conflicts"]


def test_a_file_where_the_target_has_a_directory_is_a_conflict(tmp_path: Path) -> None:
    local, shared = tmp_path / "local", tmp_path / "shared"
    (local / "data").mkdir(parents=True)
    (local / "data" / "inner").write_text("x")
    shared.mkdir()
    (shared / "data").write_text("a file")
    report = _migrate.copy_tree(str(local), str(shared))
    assert report["conflicts"] == ["data"] and report["files"] == 0
    assert (shared / "data").read_text() == "a file"


def test_move_aside_and_back(tmp_path: Path) -> None:
    volumes = tmp_path / "volumes"
    volumes.mkdir(mode=0o751)
    (volumes / "keep").write_text("k")
    aside = _migrate.aside_path(str(volumes), now=0)
    assert aside == f"{volumes}.local-19700101T000000"

    _migrate.move_aside(str(volumes), aside)
    assert os.listdir(volumes) == [] and oct(volumes.stat().st_mode & 0o777) == "0o751"
    assert Path(aside, "keep").read_text() == "k"
    with pytest.raises(FileExistsError):
        _migrate.move_aside(str(volumes), aside)

    _migrate.move_back(str(volumes), aside)
    assert (volumes / "keep").read_text() == "k" and not Path(aside).exists()


def test_list_entries_counts_hidden_names(tmp_path: Path) -> None:
    for name in (".a", "b", "c"):
        (tmp_path / name).mkdir()
    assert _migrate.list_entries(str(tmp_path), limit=2) == (3, [".a", "b"])


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to copy as another user")
def test_an_entry_that_cannot_be_given_its_owner_leaves_nothing_behind() -> None:
    """Like root on EFS without ClientRootAccess: entries can be created but not given their
    owners. Each failed entry is removed again, so a rerun copies it instead of calling the
    half-made copy a conflict."""
    with tempfile.TemporaryDirectory(prefix="convox-migrate-") as scratch:
        os.chmod(scratch, 0o755)  # pytest's own tmp_path is closed to other users
        _check_failed_entries_leave_nothing(Path(scratch))


def _check_failed_entries_leave_nothing(base: Path) -> None:
    local, shared = base / "local", base / "shared"
    (local / "web").mkdir(parents=True)
    (local / "web" / "keep").write_text("local\n")
    (local / "own").write_text("mine\n")
    os.symlink("own", local / "link")
    for path in (local / "web", local / "web" / "keep", local / "link"):
        os.lchown(path, 1234, 2345)
    nobody = pwd.getpwnam("nobody")
    os.chown(local / "own", nobody.pw_uid, nobody.pw_gid)
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)

    report = run_as("nobody", lambda: _migrate.copy_tree(str(local), str(shared)))

    assert sorted(error.split(":")[0] for error in report["errors"]) == ["link", "web"]
    assert all("Operation not permitted" in error for error in report["errors"])
    assert report["files"] == 1 and report["conflicts"] == []
    assert sorted(os.listdir(shared)) == ["own"]
    assert (shared / "own").read_text() == "mine\n"

    again = _migrate.copy_tree(str(local), str(shared))  # as root: the cause is gone
    assert again["errors"] == [] and again["conflicts"] == []
    assert again["already_copied"] == 1 and again["files"] == 1 and again["symlinks"] == 1
    assert (shared / "web" / "keep").read_text() == "local\n"
    assert (shared / "web" / "keep").stat().st_uid == 1234


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to copy as another user")
def test_an_unreadable_directory_is_an_error_not_a_silent_gap() -> None:
    with tempfile.TemporaryDirectory(prefix="convox-migrate-") as scratch:
        os.chmod(scratch, 0o755)
        local, shared = Path(scratch, "local"), Path(scratch, "shared")
        (local / "db").mkdir(parents=True)
        (local / "db" / "PG_VERSION").write_text("15\n")
        nobody = pwd.getpwnam("nobody")
        os.chown(local / "db", nobody.pw_uid, nobody.pw_gid)
        (local / "db").chmod(0o300)  # its owner may not list it
        shared.mkdir(mode=0o777)
        shared.chmod(0o777)
        report = run_as("nobody", lambda: _migrate.copy_tree(str(local), str(shared)))
    assert report["errors"] == ["db: Permission denied"], report
