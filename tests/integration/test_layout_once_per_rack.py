# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/layout.yml on several hosts: once per rack on a shared root, per host otherwise.

Both hosts are this machine (local connection), so the directories of both land in one
temporary root; what differs is how many hosts run the layout task."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")


def run_layout(tmp_path: Path, shared: bool | None, racks: dict[str, str],
               playbook: str = "playbooks/layout.yml", **more: t.Any) -> str:
    """Run `playbook` on one local host per key of `racks` (host: its rack).

    `shared` None leaves convox_volumes_shared_root unset; `more` are further extra vars."""
    inventory = tmp_path / "inventory.json"
    local = {"ansible_connection": "local",
             "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
    hosts = {host: dict(local, convox_rack=rack) for host, rack in racks.items()}
    inventory.write_text(json.dumps({"all": {"hosts": hosts}}))
    extra = {"convox_volumes_target": "rack",
             "convox_volumes_root": str(tmp_path / "volumes"),
             "convox_hosts": "all",
             "convox_apps": [{"name": "a1", "services": {"web": ["/data"]}}], **more}
    if shared is not None:
        extra["convox_volumes_shared_root"] = shared
    env = dict(os.environ, ANSIBLE_CONFIG=str(CHECKOUT / "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=str(CHECKOUT / ".collections"), ANSIBLE_NOCOLOR="1")
    run = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", str(inventory), playbook,
                          "-e", json.dumps(extra)],
                         cwd=CHECKOUT, env=env, capture_output=True, text=True, timeout=600,
                         check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def hosts_of_task(output: str, task: str) -> list[str]:
    section = output.split(f"{task}]", 1)[1].split("TASK [", 1)[0]
    return sorted(set(re.findall(r"^(?:ok|changed): \[([\w-]+)\]", section, re.MULTILINE)))


ONE_RACK = {"instance-a": "r1", "instance-b": "r1"}
TWO_RACKS = {"r1-first": "r1", "r2-first": "r2", "r1-second": "r1", "r2-second": "r2"}


@pytest.mark.parametrize("shared, racks, expected_hosts, expected_apps", [
    (True, ONE_RACK, ["instance-a"], ["r1-a1"]),
    (False, ONE_RACK, ["instance-a", "instance-b"], ["r1-a1"]),
    # Several racks in one inventory: once per rack, not once per play.
    (True, TWO_RACKS, ["r1-first", "r2-first"], ["r1-a1", "r2-a1"]),
    (False, TWO_RACKS, ["r1-first", "r1-second", "r2-first", "r2-second"], ["r1-a1", "r2-a1"]),
])
def test_layout_runs_once_per_rack_on_a_shared_root(tmp_path: Path, shared: bool,
                                                    racks: dict[str, str],
                                                    expected_hosts: list[str],
                                                    expected_apps: list[str]) -> None:
    output = run_layout(tmp_path, shared, racks)
    assert hosts_of_task(output, "Lay out the volume directories") == expected_hosts
    assert hosts_of_task(output, "Show where each volume lives") == expected_hosts
    assert sorted(os.listdir(tmp_path / "volumes")) == expected_apps
    assert all((tmp_path / "volumes" / app / "web/data").is_dir() for app in expected_apps)


@pytest.mark.parametrize("mount_point, expected_hosts", [
    # The layout root is the shared mount point: once per rack.
    ("volumes", ["instance-a"]),
    # The root lies below the mount point: still shared.
    ("", ["instance-a"]),
    # The mount point is elsewhere: the root is instance-local, so every instance lays out.
    ("efs", ["instance-a", "instance-b"]),
])
def test_provision_shares_the_layout_only_when_its_root_is_on_the_mount(
        tmp_path: Path, mount_point: str, expected_hosts: list[str]) -> None:
    # The mount itself is left out (efs_mount_enabled=false); what is tested is the decision
    # that provision.yml takes from the role's fact efs_mount_shared and the two paths.
    output = run_layout(tmp_path, None, ONE_RACK, playbook="playbooks/provision.yml",
                        efs_mount_enabled=False, efs_mount_shared=True,
                        efs_mount_path=str(tmp_path / mount_point))
    assert hosts_of_task(output, "Lay out the volume directories") == expected_hosts
    assert (tmp_path / "volumes/r1-a1/web/data").is_dir()
