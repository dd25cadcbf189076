# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a module's main() in this process with real arguments and return its result."""
from __future__ import annotations

import io
import json
import typing as t
from contextlib import redirect_stdout

import pytest
from ansible.module_utils import _internal as module_side
from ansible.module_utils.common import warnings as module_warnings
from ansible.module_utils.testing import patch_module_args


def _run(module: t.Any, args: dict[str, t.Any], check_mode: bool = False,
         diff: bool = False) -> dict[str, t.Any]:
    full_args = dict(args)
    full_args["_ansible_check_mode"] = check_mode
    full_args["_ansible_diff"] = diff
    output = io.StringIO()
    # Run as a module does on a host: once a test in this process has imported controller
    # code (an inventory or filter plugin), ansible-core would send module warnings to the
    # controller's display instead of the result, where these tests read them.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(module_side, "is_controller", False)
        # A module runs in a fresh process on a host, so it starts with no warnings; in this
        # process the store is global and would carry the previous test's warnings along.
        patch.setattr(module_warnings, "_global_warnings", {})
        patch.setattr(module_warnings, "_global_deprecations", {})
        with patch_module_args(full_args), redirect_stdout(output):
            with pytest.raises(SystemExit):
                module.main()
    text = output.getvalue()
    return json.loads(text[text.index("{"):])


@pytest.fixture
def run_module() -> t.Callable[..., dict[str, t.Any]]:
    """run_module(module, args, check_mode=False, diff=False) -> the module's result dict
    (with 'failed' and 'msg' when it failed)."""
    return _run
