# SPDX-License-Identifier: GPL-3.0-or-later
"""convox_volume_clean ad hoc (short name from the checkout, FQCN from anywhere) and
playbooks/clean.yml, against localhost with a temporary root; effects checked on disk."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest

from ansible_collections.convox.volumes.tests.unit.clean_trees import CASE_14, files_of, make_tree

CHECKOUT = Path(__file__).resolve().parent.parent.parent
BIN = Path(sys.executable).parent


def environment(**extra: str) -> dict[str, str]:
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(CHECKOUT / ".collections"),
           "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
           "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"}
    env.update(extra)
    return env


def adhoc(module: str, arguments: str, cwd: Path, config: Path | None,
          check: bool = False) -> tuple[int, dict[str, t.Any]]:
    command = [str(BIN / "ansible"), "localhost", "-i", "localhost,", "-c", "local",
               "-e", f"ansible_python_interpreter={sys.executable}", "-m", module,
               "-a", arguments]
    if check:
        command.append("--check")
    env = environment()
    if config is not None:
        env["ANSIBLE_CONFIG"] = str(config)
    else:
        env.pop("ANSIBLE_CONFIG", None)
    process = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                             timeout=300, check=False)
    output = json.loads(process.stdout)
    result = output["plays"][0]["tasks"][0]["hosts"]["localhost"]
    return process.returncode, result


@pytest.mark.parametrize("module, cwd_is_checkout", [
    ("convox_volume_clean", True),
    ("convox.volumes.convox_volume_clean", False),
])
def test_adhoc_clean(tmp_path: Path, module: str, cwd_is_checkout: bool) -> None:
    root = tmp_path / "volumes"
    make_tree(root, CASE_14)
    arguments = f"rack=r1 app=a1 service=db path=/var/lib/postgresql/data root={root}"
    cwd = CHECKOUT if cwd_is_checkout else tmp_path
    config = CHECKOUT / "ansible.cfg" if cwd_is_checkout else None

    rc, checked = adhoc(module, arguments, cwd, config, check=True)
    assert rc == 0 and checked["changed"] is True
    assert len(files_of(root)) == 4

    rc, first = adhoc(module, arguments, cwd, config)
    assert rc == 0 and first["changed"] is True
    assert first["removed"] == {"files": 2, "directories": 2, "bytes": 13}
    assert files_of(root) == ["r1-a1/web/data/keep",
                              "r1-a2/db/var/lib/postgresql/data/PG_VERSION"]
    assert (root / "r1-a1/db/var/lib/postgresql/data").is_dir()

    rc, second = adhoc(module, arguments, cwd, config)
    assert rc == 0 and second["changed"] is False


def test_adhoc_refusal_exits_non_zero_and_deletes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "volumes"
    make_tree(root, CASE_14)
    rc, result = adhoc("convox_volume_clean", f"rack=r1 app=a1 service=db path=/ root={root}",
                       CHECKOUT, CHECKOUT / "ansible.cfg")
    assert rc != 0 and result["failed"] is True
    assert f"resolves to {root}/r1-a1/db," in result["msg"]
    assert len(files_of(root)) == 4


def playbook(root: Path, *extra: str,
             hosts: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run clean.yml on local-connection hosts: {host name: its convox_rack ('' for none)}."""
    inventory = root.parent / "inventory.yml"
    lines = ["all:", "  hosts:"]
    for host, rack in (hosts or {"localhost": ""}).items():
        lines += [f"    {host}:", "      ansible_connection: local",
                  f"      ansible_python_interpreter: {sys.executable}"]
        if rack:
            lines.append(f"      convox_rack: {rack}")
    inventory.write_text("\n".join(lines) + "\n")
    command = [str(BIN / "ansible-playbook"), "-i", str(inventory),
               str(CHECKOUT / "playbooks/clean.yml"), "-e", "rack=r1", "-e", "app=a1",
               "-e", "service=db", "-e", "volume=/var/lib/postgresql/data",
               "-e", f"root={root}", *extra]
    return subprocess.run(command, cwd=CHECKOUT,
                          env=environment(ANSIBLE_CONFIG=str(CHECKOUT / "ansible.cfg")),
                          capture_output=True, text=True, timeout=600, check=False)


def task_result(run: subprocess.CompletedProcess[str], name: str,
                host: str = "localhost") -> dict[str, t.Any]:
    output = json.loads(run.stdout)
    for task in output["plays"][0]["tasks"]:
        if task["task"]["name"] == name:
            return task["hosts"][host]
    raise AssertionError(f"no task {name!r}")


def test_playbook_shows_cleans_and_shows_again(tmp_path: Path) -> None:
    root = tmp_path / "volumes"
    make_tree(root, CASE_14)
    checked = playbook(root, "--check")
    assert checked.returncode == 0, checked.stdout[-3000:]
    assert len(files_of(root)) == 4

    run = playbook(root)
    assert run.returncode == 0, run.stdout[-3000:]
    before = task_result(run, "Show the volume before")["volumes"]
    after = task_result(run, "Show the volume after")["volumes"]
    assert [(v["files"], v["bytes"]) for v in before] == [(2, 13)]
    assert [(v["files"], v["bytes"]) for v in after] == [(0, 0)]
    assert task_result(run, "Clean the volume")["changed"] is True
    assert files_of(root) == ["r1-a1/web/data/keep",
                              "r1-a2/db/var/lib/postgresql/data/PG_VERSION"]

    again = playbook(root, "-e", "quarantine=true")
    assert again.returncode == 0
    assert task_result(again, "Clean the volume")["changed"] is False


def test_playbook_leaves_hosts_of_other_racks_alone(tmp_path: Path) -> None:
    """Only hosts of the named rack clean; a host whose convox_rack is another rack skips."""
    root = tmp_path / "volumes"
    make_tree(root, CASE_14)
    run = playbook(root, hosts={"instance-r1": "r1", "instance-r2": "r2"})
    assert run.returncode == 0, run.stdout[-3000:]
    assert task_result(run, "Clean the volume", "instance-r1")["changed"] is True
    assert task_result(run, "Clean the volume", "instance-r2").get("skipped") is True
    assert files_of(root) == ["r1-a1/web/data/keep",
                              "r1-a2/db/var/lib/postgresql/data/PG_VERSION"]
