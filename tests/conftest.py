# SPDX-License-Identifier: GPL-3.0-or-later
"""Make the checkout importable as ansible_collections.convox.volumes for plain pytest runs.

ansible-test copies the collection to a real ansible_collections/convox/volumes path itself;
plain `pytest` (make unit, make integration) goes through the .collections link that
`make link` creates, and creates it here if it is missing.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
COLLECTIONS = CHECKOUT / ".collections"


def _ensure_collection_importable() -> None:
    try:
        # only probing whether the collection imports; the name is not used
        import ansible_collections.convox.volumes  # noqa: F401
        return
    except ImportError:
        pass
    link = COLLECTIONS / "ansible_collections" / "convox" / "volumes"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(CHECKOUT, link)
    sys.path.insert(0, str(COLLECTIONS))


_ensure_collection_importable()
