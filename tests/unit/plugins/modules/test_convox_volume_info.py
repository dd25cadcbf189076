# SPDX-License-Identifier: GPL-3.0-or-later
"""convox_volume_info run in-process on a real tree."""
from __future__ import annotations

import os
import typing as t
from pathlib import Path

from ansible_collections.convox.volumes.plugins.modules import convox_volume_info

RunModule = t.Callable[..., dict[str, t.Any]]


def test_info_lists_and_judges(run_module: RunModule, tmp_path: Path) -> None:
    root = tmp_path / "volumes"
    (root / "r1-a1/db/var/lib/postgresql/data").mkdir(parents=True)
    (root / "r1-a1/db/var/lib/postgresql/data/PG_VERSION").write_text("16\n")
    (root / "r1-a1/web/data").mkdir(parents=True)
    os.symlink("nowhere", root / "r1-a1/web/data/broken")
    result = run_module(convox_volume_info, {"rack": "r1", "root": str(root)}, check_mode=True)
    assert result["changed"] is False
    assert [(v["host_path"], v["healthy"], v["files"]) for v in result["volumes"]] == [
        (f"{root}/r1-a1/db/var/lib/postgresql/data", True, 1),
        (f"{root}/r1-a1/web/data", False, 1)]
    assert result["msg"] == f"2 volumes, 1 unhealthy, 0 quarantined, 0 unreachable under {root}"


def test_info_refuses_a_bad_scope(run_module: RunModule, tmp_path: Path) -> None:
    result = run_module(convox_volume_info, {"rack": "r1", "service": "db",
                                             "root": str(tmp_path)})
    assert result["failed"] is True and "without app" in result["msg"]
