# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/layout.yml on two hosts: once per rack on a shared root, per host otherwise.

Both hosts are this machine (local connection), so the directories of both land in one
temporary root; what differs is how many hosts run the layout task."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")


def run_layout(tmp_path: Path, shared: bool) -> str:
    inventory = tmp_path / "inventory.json"
    local = {"ansible_connection": "local",
             "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
    inventory.write_text(json.dumps({"all": {"hosts": {"instance-a": local,
                                                       "instance-b": local}}}))
    extra = {"convox_rack": "r1", "convox_volumes_target": "rack",
             "convox_volumes_root": str(tmp_path / "volumes"),
             "convox_volumes_shared_root": shared, "convox_hosts": "all",
             "convox_apps": [{"name": "a1", "services": {"web": ["/data"]}}]}
    env = dict(os.environ, ANSIBLE_CONFIG=str(CHECKOUT / "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=str(CHECKOUT / ".collections"), ANSIBLE_NOCOLOR="1")
    run = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", str(inventory), "playbooks/layout.yml",
                          "-e", json.dumps(extra)],
                         cwd=CHECKOUT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def hosts_of_task(output: str, task: str) -> list[str]:
    section = output.split(f"{task}]", 1)[1].split("TASK [", 1)[0]
    return sorted(set(re.findall(r"^(?:ok|changed): \[([\w-]+)\]", section, re.MULTILINE)))


@pytest.mark.parametrize("shared, expected_hosts", [
    (True, ["instance-a"]),
    (False, ["instance-a", "instance-b"]),
])
def test_layout_runs_once_on_a_shared_root(tmp_path: Path, shared: bool,
                                           expected_hosts: list[str]) -> None:
    output = run_layout(tmp_path, shared)
    assert hosts_of_task(output, "Lay out the volume directories") == expected_hosts
    assert (tmp_path / "volumes/r1-a1/web/data").is_dir()
