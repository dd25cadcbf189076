# SPDX-License-Identifier: GPL-3.0-or-later
"""moto in server mode on 127.0.0.1, and network namespaces with only loopback up.

Shared by the integration tests (pytest.ini puts tests/support on sys.path) and the
benchmarks (which put it there themselves). Not a pytest plugin: a server that does not
start raises MotoDidNotStart, whose message holds the server's log.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import typing as t
import urllib.request
import uuid
from pathlib import Path

MOTO_SERVER = Path(sys.executable).with_name("moto_server")

# Credentials and region that only moto accepts, and no configuration file that could name
# real ones: nothing that runs with these can reach real AWS.
FAKE_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}

NAMESPACE_NEEDS = "needs root and iproute2 to make a network namespace"


class MotoDidNotStart(RuntimeError):
    """moto_server exited, or its /moto-api/ did not answer in time."""


def free_port() -> int:
    """A TCP port nothing listens on at 127.0.0.1 (in this process's network namespace)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str, inside: t.Sequence[str]) -> bool:
    if not inside:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return True
        except OSError:
            return False
    probe = "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1).close()"
    return subprocess.run([*inside, sys.executable, "-c", probe, url], capture_output=True,
                          check=False).returncode == 0


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate, then kill: moto_server ignores SIGTERM while a client still holds a
    keep-alive connection."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@contextlib.contextmanager
def moto_server(log: Path, inside: t.Sequence[str] = (), env: t.Mapping[str, str] | None = None,
                timeout: float = 60) -> t.Iterator[str]:
    """Run moto_server on a free port of 127.0.0.1, writing its output to log; yield its URL
    once /moto-api/ answers, and stop it on exit.

    inside: a command prefix to run it with, such as `ip netns exec NAME` (the readiness probe
    then runs there too); env: variables added to this process's environment for it."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(log, "wb") as log_file:
        process = subprocess.Popen([*inside, str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
                                   stdout=log_file, stderr=subprocess.STDOUT,
                                   env={**os.environ, **(env or {})})
    try:
        deadline = time.monotonic() + timeout
        while not _answers(f"{url}/moto-api/", inside):
            if process.poll() is not None or time.monotonic() > deadline:
                raise MotoDidNotStart(f"moto_server did not start on port {port}: "
                                      f"{log.read_text()}")
            time.sleep(0.2)
        yield url
    finally:
        stop(process)


def can_make_namespace() -> bool:
    return os.geteuid() == 0 and shutil.which("ip") is not None


@contextlib.contextmanager
def loopback_namespace(prefix: str) -> t.Iterator[list[str]]:
    """A new network namespace, named prefix and a unique suffix, with only loopback up; yields
    the command prefix that runs a command inside it. Deleted on exit."""
    name = f"{prefix}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        inside = ["ip", "netns", "exec", name]
        subprocess.run([*inside, "ip", "link", "set", "lo", "up"], check=True)
        yield inside
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)
