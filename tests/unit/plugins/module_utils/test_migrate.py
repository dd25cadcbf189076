# SPDX-License-Identifier: GPL-3.0-or-later
"""Copying local volumes into the mounted file system: owners, modes, no overwrite."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from ansible_collections.convox.volumes.plugins.module_utils import _migrate


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

    again = _migrate.copy_tree(str(local), str(shared))
    assert again["files"] == 0 and again["directories"] == 0
    assert sorted(again["conflicts"]) == sorted([
        "r1-a1/db/PG_VERSION", "r1-a1/db/secret", "r1-a1/link", "r1-a1/web/index.html"])


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
