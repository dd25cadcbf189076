# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: contributors to the convox.volumes collection
"""Fixtures for tests on the NFS test bed (tests/testbed/bed.sh).

The bed is brought up once per session, or reused when `bed.sh status` says it is up already
(`make testbed-up` then `pytest tests/testbed` keeps it between runs; `make testbed` brings it
up, runs these tests and tears it down).

Fixtures:
  bed                the `Bed` (session): its hosts, paths and helpers, listed below
  inventory          path of the bed's Ansible inventory (the rack's instances as group `rack`)
  run_on_guest       run_on_guest(name, command, timeout=60, check=True) -> CompletedProcess:
                     a shell command on a guest as root, over SSH
  ansible_playbook   ansible_playbook(playbook, extra_vars=None, limit=None, check=False,
                     diff=False, timeout=300, env=None, args=()) -> PlaybookRun (rc, stdout,
                     stderr, tasks, stats; see the class) against the bed's inventory, with
                     AWS pointed at the bed's moto
  nfs_server         the main NFS server: .stop(), .start(), .stopped() (a context manager
                     that always starts it again)
  clean_bed          a test that uses it starts from: /volumes unmounted and empty and absent
                     from fstab on both guests, the export empty, the NFS server running

Guest names are `bed.guests` (guest-a in us-east-1a, guest-b in us-east-1b); `bed.server_ip`
maps each AZ to the NFS server's address in that AZ's subnet (`bed.alternate_server_ip` is
one more address of the same server in us-east-1a); `bed.export` is the exported directory on
this host (what `/` of the file system holds); `bed.file_system_id` is the file system moto
describes for the rack `bed.rack`; `bed.squash_port` is the port of a second NFS server that
exports another directory as `/` with root squashing (EFS without ClientRootAccess; mount it
with the option `port=<squash_port>`).
"""
from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent
CHECKOUT = HERE.parent.parent
BED = HERE / "bed.sh"
WORK = Path(os.environ.get("CONVOX_TESTBED_WORK", HERE / "work"))
PLAYBOOK_BIN = Path(sys.executable).with_name("ansible-playbook")
MOUNT_POINT = "/volumes"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(HERE):
            item.add_marker(pytest.mark.testbed)


@dataclass
class Guest:
    name: str
    address: str
    availability_zone: str


@dataclass
class PlaybookRun:
    """One ansible-playbook run: its exit code, output and every task result.

    `tasks` holds one dict per host and task: host, task (name), action, status (ok, changed,
    failed, ignored, skipped, unreachable), changed, duration (seconds), warnings (text) and
    result (the module's return values). `stats` is the play recap per host (ok, changed,
    failures, ...).
    """
    rc: int
    stdout: str
    stderr: str
    tasks: list[dict[str, t.Any]] = field(default_factory=list)
    stats: dict[str, dict[str, int]] = field(default_factory=dict)

    def results(self, task: str | None = None, host: str | None = None,
                action: str | None = None) -> list[dict[str, t.Any]]:
        """Task entries filtered by task name (exact), host and action (suffix match, so
        'convox_efs_mount' matches the FQCN)."""
        return [entry for entry in self.tasks
                if (task is None or entry["task"] == task)
                and (host is None or entry["host"] == host)
                and (action is None or entry["action"].split(".")[-1] == action.split(".")[-1])]

    def one(self, action: str, host: str) -> dict[str, t.Any]:
        """The single (not skipped) result of `action` on `host`."""
        found = [entry for entry in self.results(action=action, host=host)
                 if entry["status"] != "skipped"]
        assert len(found) == 1, f"expected one {action} result on {host}, got {found}\n{self}"
        return found[0]

    def changed(self, host: str | None = None) -> int:
        return sum(stats.get("changed", 0) for name, stats in self.stats.items()
                   if host is None or name == host)

    def failed(self) -> list[dict[str, t.Any]]:
        return [entry for entry in self.tasks if entry["status"] in ("failed", "unreachable")]

    def __str__(self) -> str:
        return f"rc={self.rc}\n--- stdout\n{self.stdout[-6000:]}\n--- stderr\n{self.stderr[-3000:]}"


class NfsServer:
    """The bed's main NFS server (nfs-ganesha, port 2049)."""

    def stop(self) -> None:
        _bed_command("nfs-stop")

    def start(self) -> None:
        _bed_command("nfs-start")

    @contextlib.contextmanager
    def stopped(self) -> t.Iterator[None]:
        self.stop()
        try:
            yield
        finally:
            self.start()


def _bed_command(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    process = subprocess.run(["bash", str(BED), *args], capture_output=True, text=True,
                             timeout=timeout, check=False)
    if process.returncode != 0 and args[0] != "status":
        pytest.fail(f"bed.sh {' '.join(args)} failed ({process.returncode}):\n"
                    f"{process.stdout}\n{process.stderr}")
    return process


class Bed:
    """The running test bed, read from the files `bed.sh up` writes."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.inventory = work / "inventory.yml"
        data = yaml.safe_load(self.inventory.read_text())
        variables = data["all"]["vars"]
        rack = data["all"]["children"]["rack"]
        self.rack: str = variables["convox_rack"]
        self.namespace: str = variables["convox_testbed_namespace"]
        self.moto_endpoint: str = variables["convox_testbed_moto_endpoint"]
        self.region: str = variables["convox_testbed_region"]
        self.file_system_id: str = variables["convox_testbed_file_system_id"]
        self.server_ip: dict[str, str] = dict(variables["convox_testbed_nfs_servers"])
        self.export = Path(variables["convox_testbed_export"])
        self.alternate_server_ip: str = variables["convox_testbed_alternate_server"]
        self.squash_port: int = int(variables["convox_testbed_squash_port"])
        self.private_key = Path(rack["vars"]["ansible_ssh_private_key_file"])
        self.guests: dict[str, Guest] = {
            name: Guest(name, host["ansible_host"], host["ec2_availability_zone"])
            for name, host in rack["hosts"].items()}
        self.nfs_server = NfsServer()

    @property
    def aws_env(self) -> dict[str, str]:
        """Environment that points boto3 and the collection's AWS modules at moto only."""
        return {
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region,
            "AWS_URL": self.moto_endpoint, "AWS_ENDPOINT_URL": self.moto_endpoint,
            "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        }

    def ssh_command(self, name: str) -> list[str]:
        guest = self.guests[name]
        return ["ssh", "-o", f"ProxyCommand=ip netns exec {self.namespace} nc %h %p",
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
                "-o", "ControlMaster=auto", "-o", "ControlPersist=120",
                # A master whose guest went away gives up within 15 s instead of hanging.
                "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3",
                "-o", f"ControlPath={self.work}/run/ssh-%h",
                "-i", str(self.private_key), f"root@{guest.address}"]

    def run_on_guest(self, name: str, command: str, timeout: float = 60,
                     check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a shell command on a guest as root; fail the test on a non-zero exit when
        `check` (the message carries the output)."""
        process = subprocess.run([*self.ssh_command(name), command], capture_output=True,
                                 text=True, timeout=timeout, check=False,
                                 stdin=subprocess.DEVNULL)
        if check and process.returncode != 0:
            pytest.fail(f"{name}: {command!r} exited {process.returncode}\n"
                        f"stdout: {process.stdout}\nstderr: {process.stderr}")
        return process

    def reset_export(self) -> None:
        """Empty the exported directory (the file system's content), keeping the directory."""
        for entry in self.export.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()

    def reset_guest(self, name: str, mount_point: str = MOUNT_POINT) -> None:
        """Unmount `mount_point` (however often it is stacked), drop its fstab line, and
        leave it an empty local directory (copies set aside by migrate_local go too)."""
        quoted = shlex.quote(mount_point)
        # The mount table, not `mountpoint`: that stats the path, which fails on a stale
        # mount (its export removed) and blocks on a dead one.
        mounted = f"awk -v mp={quoted} '$5 == mp {{ found = 1 }} END {{ exit !found }}' " \
                  f"/proc/self/mountinfo"
        script = f"""
            set -e
            for _ in 1 2 3 4 5; do
              {mounted} || break
              timeout 20 umount -f {quoted} 2>/dev/null || umount -l {quoted}
            done
            if {mounted}; then echo "still mounted" >&2; exit 1; fi
            awk -v mp={quoted} '$2 != mp' /etc/fstab >/etc/fstab.new
            cat /etc/fstab.new >/etc/fstab && rm -f /etc/fstab.new
            rm -rf {quoted} {quoted}.local-*
            mkdir -p {quoted}
        """
        self.run_on_guest(name, script, timeout=120)

    def ansible_playbook(self, playbook: str | Path, extra_vars: dict[str, t.Any] | None = None,
                         limit: str | None = None, check: bool = False, diff: bool = False,
                         timeout: float = 300, env: dict[str, str] | None = None,
                         args: t.Sequence[str] = ()) -> PlaybookRun:
        """Run ansible-playbook from the checkout against the bed's inventory."""
        playbook = Path(playbook)
        if not playbook.is_absolute():
            playbook = CHECKOUT / playbook
        with tempfile.TemporaryDirectory(prefix="convox-run-") as scratch:
            results_file = Path(scratch) / "results.json"
            command = [str(PLAYBOOK_BIN), "-i", str(self.inventory), str(playbook)]
            if extra_vars:
                vars_file = Path(scratch) / "extra-vars.json"
                vars_file.write_text(json.dumps(extra_vars))
                command += ["-e", f"@{vars_file}"]
            if limit:
                command += ["--limit", limit]
            if check:
                command.append("--check")
            if diff:
                command.append("--diff")
            command += list(args)
            run_env = {
                **os.environ, **self.aws_env,
                "ANSIBLE_CONFIG": str(CHECKOUT / "ansible.cfg"),
                "ANSIBLE_COLLECTIONS_PATH": str(CHECKOUT / ".collections"),
                "ANSIBLE_CALLBACK_PLUGINS": str(HERE / "callback_plugins"),
                "ANSIBLE_CALLBACKS_ENABLED": "record_results",
                "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_PIPELINING": "1",
                "ANSIBLE_SSH_CONTROL_PATH_DIR": str(self.work / "run" / "cp"),
                "CONVOX_RESULTS_FILE": str(results_file),
                **(env or {}),
            }
            process = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                     cwd=CHECKOUT, env=run_env, check=False,
                                     stdin=subprocess.DEVNULL)
            recorded = (json.loads(results_file.read_text()) if results_file.exists()
                        else {"tasks": [], "stats": {}})
        return PlaybookRun(process.returncode, process.stdout, process.stderr,
                           recorded["tasks"], recorded["stats"])


@pytest.fixture(scope="session")
def bed() -> Bed:
    if _bed_command("status").returncode != 0:
        _bed_command("up", timeout=900)
    return Bed(WORK)


@pytest.fixture(scope="session")
def inventory(bed: Bed) -> Path:
    return bed.inventory


@pytest.fixture(scope="session")
def run_on_guest(bed: Bed) -> t.Callable[..., subprocess.CompletedProcess[str]]:
    return bed.run_on_guest


@pytest.fixture(scope="session")
def ansible_playbook(bed: Bed) -> t.Callable[..., PlaybookRun]:
    return bed.ansible_playbook


@pytest.fixture(scope="session")
def nfs_server(bed: Bed) -> NfsServer:
    return bed.nfs_server


@pytest.fixture
def clean_bed(bed: Bed) -> Bed:
    bed.nfs_server.start()
    for name in bed.guests:
        bed.reset_guest(name)
    bed.reset_export()
    return bed
