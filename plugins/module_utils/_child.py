# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: contributors to the convox.volumes collection
"""Run a function in a forked child process with a deadline.

Any access to a possibly dead NFS mount (even stat of the mount point) blocks in the kernel
until the server returns. Such work runs here, in a child, so that the module itself can give
up after a timeout and report it instead of hanging the play.
"""
from __future__ import annotations

import os
import pickle
import select
import signal
import time
import traceback
import typing as t


class ChildTimeout(Exception):
    """The child did not finish within the deadline; it was killed."""


class ChildFailed(Exception):
    """The function raised in the child; the message carries the child's exception."""

    def __init__(self, message: str, exc_type: str) -> None:
        super().__init__(message)
        self.exc_type = exc_type


def call_with_timeout(function: t.Callable[..., t.Any], args: tuple = (),
                      timeout: float = 10.0) -> t.Any:
    """Return function(*args) computed in a child process.

    Raises ChildTimeout when the child has not answered after `timeout` seconds (the child
    is sent SIGKILL and is not waited for: a process blocked on a hard NFS mount may take
    long to die), and ChildFailed when the function raised.
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_fd)
        try:
            payload = pickle.dumps(("ok", function(*args)))
        except BaseException as exc:  # report everything, including SystemExit
            payload = pickle.dumps(("error", (type(exc).__name__, str(exc),
                                              traceback.format_exc())))
        try:
            with os.fdopen(write_fd, "wb") as pipe:
                pipe.write(payload)
        finally:
            os._exit(0)

    os.close(write_fd)
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                _kill(pid)
                raise ChildTimeout(f"no answer after {timeout:g} s")
            ready = select.select([read_fd], [], [], remaining)[0]
            if not ready:
                continue
            chunk = os.read(read_fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read_fd)

    _reap(pid)
    if not chunks:
        raise ChildFailed("the child process ended without an answer", "ChildDied")
    status, value = pickle.loads(b"".join(chunks))
    if status == "ok":
        return value
    exc_type, message, _trace = value
    raise ChildFailed(message, exc_type)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    # Reap it if it is already gone; never block on a child stuck in the kernel.
    for _attempt in range(20):
        if _reap(pid, block=False):
            return
        time.sleep(0.05)


def _reap(pid: int, block: bool = True) -> bool:
    try:
        done, _status = os.waitpid(pid, 0 if block else os.WNOHANG)
    except ChildProcessError:
        return True
    return done != 0
