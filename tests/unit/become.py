# SPDX-License-Identifier: GPL-3.0-or-later
"""Running part of a test as another user, in a forked child (root only).

Imported as ansible_collections.convox.volumes.tests.unit.become, and kept in tests/unit
because ansible-test units copies only that."""
from __future__ import annotations

import json
import os
import pwd
import traceback
import typing as t


def run_as(user: str, action: t.Callable[[], t.Any]) -> t.Any:
    """Call action in a forked child that has become user (groups dropped, HOME left as it
    was) and return its result, which must be JSON. An exception in the child fails the
    calling test with the child's traceback."""
    entry = pwd.getpwnam(user)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(entry.pw_gid)
            os.setuid(entry.pw_uid)
            os.write(write_end, json.dumps(action(), default=str).encode())
            code = 0
        # any failure in the forked child, SystemExit included, must reach the parent
        except BaseException:  # pylint: disable=broad-except
            os.write(write_end, traceback.format_exc().encode())
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        output = pipe.read()
    status = os.waitpid(pid, 0)[1]
    assert os.waitstatus_to_exitcode(status) == 0, output
    return json.loads(output)
