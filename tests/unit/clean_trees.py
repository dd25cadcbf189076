# SPDX-License-Identifier: GPL-3.0-or-later
"""Volume trees on disk for the convox_volume_clean tests: case 14's files, and helpers that
write a tree and list what is left of it.

Imported as ansible_collections.convox.volumes.tests.unit.clean_trees by the unit tests and by
tests/integration, and kept in tests/unit because ansible-test units copies only that."""
from __future__ import annotations

from pathlib import Path

CASE_14 = {
    "r1-a1/db/var/lib/postgresql/data/PG_VERSION": "16\n",
    "r1-a1/db/var/lib/postgresql/data/base/1/1": "heap page\n",
    "r1-a1/web/data/keep": "keep\n",
    "r1-a2/db/var/lib/postgresql/data/PG_VERSION": "16\n",
}
GUARD = ".convox-locks/.guard"


def make_tree(base: Path, files: dict[str, str]) -> None:
    """Write files ({path relative to base: content}) and their directories."""
    for relative, content in files.items():
        (base / relative).parent.mkdir(parents=True, exist_ok=True)
        (base / relative).write_text(content)


def files_of(root: Path) -> list[str]:
    """The data files under root (the lock directory's guard file is the module's own)."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                  if p.is_file() and p.relative_to(root).as_posix() != GUARD)
