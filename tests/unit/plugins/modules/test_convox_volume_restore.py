# SPDX-License-Identifier: GPL-3.0-or-later
"""convox_volume_restore run in-process: quarantine, then restore, on real trees."""
from __future__ import annotations

import typing as t
from pathlib import Path

import pytest

from ansible_collections.convox.volumes.plugins.modules import (
    convox_volume_clean,
    convox_volume_restore,
)

RunModule = t.Callable[..., dict[str, t.Any]]


@pytest.fixture
def quarantined(run_module: RunModule, tmp_path: Path) -> tuple[Path, str]:
    root = tmp_path / "volumes"
    data = root / "r1-a1/db/data"
    (data / "sub").mkdir(parents=True)
    (data / "sub/file").write_text("payload")
    result = run_module(convox_volume_clean, {"rack": "r1", "app": "a1", "service": "db",
                                              "path": "/data", "root": str(root),
                                              "quarantine": True})
    assert result["changed"] is True
    return root, result["quarantined_to"]


def test_restore_changed_then_not_changed(run_module: RunModule,
                                          quarantined: tuple[Path, str]) -> None:
    root, trash = quarantined
    check = run_module(convox_volume_restore, {"quarantined_to": trash}, check_mode=True)
    assert check["changed"] is True and Path(trash).is_dir()

    first = run_module(convox_volume_restore, {"quarantined_to": trash}, diff=True)
    assert first["changed"] is True and first["host_path"] == str(root / "r1-a1/db/data")
    assert (root / "r1-a1/db/data/sub/file").read_text() == "payload"
    assert not Path(trash).exists()

    second = run_module(convox_volume_restore, {"quarantined_to": trash})
    assert second["changed"] is False and "already restored" in second["msg"]


def test_restore_refuses_a_volume_with_content(run_module: RunModule,
                                               quarantined: tuple[Path, str]) -> None:
    root, trash = quarantined
    (root / "r1-a1/db/data/new").write_text("new data")
    for check_mode in (True, False):
        result = run_module(convox_volume_restore, {"quarantined_to": trash},
                            check_mode=check_mode)
        assert result["failed"] is True and "holds 1 entries" in result["msg"]
    assert (Path(trash) / "sub/file").read_text() == "payload"


def test_restore_without_record_needs_the_location(run_module: RunModule,
                                                   quarantined: tuple[Path, str]) -> None:
    root, trash = quarantined
    Path(f"{trash}.json").unlink()
    refused = run_module(convox_volume_restore, {"quarantined_to": trash})
    assert refused["failed"] is True and "give app, service, path" in refused["msg"]
    result = run_module(convox_volume_restore, {"quarantined_to": trash, "rack": "r1",
                                                "app": "a1", "service": "db",
                                                "path": "/elsewhere"})
    assert result["changed"] is True
    assert (root / "r1-a1/db/elsewhere/sub/file").read_text() == "payload"


@pytest.mark.parametrize("value", ["/volumes/r1-a1/db/data", "relative/.convox-trash/x",
                                   "/volumes/.convox-trash/x/../../etc"])
def test_quarantined_to_outside_a_trash_is_refused(run_module: RunModule, value: str) -> None:
    result = run_module(convox_volume_restore, {"quarantined_to": value})
    assert result["failed"] is True and result["msg"].startswith("refused")
