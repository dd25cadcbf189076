# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: contributors to the convox.volumes collection
from __future__ import annotations


class ModuleDocFragment:
    """What each module attribute means; every module states its own support and details."""

    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Whether the task can run with C(--check) and predict its changes.
  diff_mode:
    description: Whether the task can show what it changes with C(--diff).
  idempotent:
    description: Whether a second run with the same input changes nothing.
"""
