# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/provision.yml on localhost against the shipped example apps: no AWS at all."""
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

# What the examples lay out, below the root (local target: <root>/<app>/<service>/<path>).
LOCAL_VOLUMES = [
    "gitea/server/data",
    "traefik/proxy/letsencrypt",
    "analytics/web/metabase-data/plugins",
    "wordpress/db/var/lib/mysql",
    "wordpress/wordpress/var/www/html",
]


def provision(*extra_vars: str, check: bool = False,
              inventory: str = "examples/inventory.yml") -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ANSIBLE_CONFIG=str(CHECKOUT / "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=str(CHECKOUT / ".collections"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               # Any attempt to reach AWS would fail: there are no credentials at all.
               AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null",
               AWS_EC2_METADATA_DISABLED="true")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        env.pop(key, None)
    command = [str(ANSIBLE_PLAYBOOK), "-i", inventory, "playbooks/provision.yml"]
    for extra in extra_vars:
        command += ["-e", extra]
    if check:
        command.append("--check")
    return subprocess.run(command, cwd=CHECKOUT, env=env, capture_output=True, text=True,
                          timeout=600, check=False)


def recap(run: subprocess.CompletedProcess[str]) -> dict[str, int]:
    match = re.search(r"^localhost\s*:\s*(.*)$", run.stdout, re.MULTILINE)
    assert match, f"no play recap:\n{run.stdout}\n{run.stderr}"
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", match.group(1))}


def directories(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_dir())


def leaves(root: Path) -> list[str]:
    return sorted(name for name in directories(root)
                  if not any(other.startswith(name + "/") for other in directories(root)))


def test_local_layout_then_nothing_changes(tmp_path: Path) -> None:
    root = tmp_path / "local"
    host_path_existed = Path("/srv/gitea/custom").exists()
    first = provision(f"convox_volumes_root={root}")
    assert first.returncode == 0, first.stdout + first.stderr
    assert recap(first)["changed"] == 1
    assert leaves(root) == sorted(LOCAL_VOLUMES)
    for volume in LOCAL_VOLUMES:  # the play says where each volume lives
        assert f'"msg": "{root}/{volume}' in first.stdout
    assert '"msg": "/var/run/docker.sock [read-only]' in first.stdout
    if not host_path_existed:
        assert '"msg": "/srv/gitea/custom [read-only] [missing: not created]"' in first.stdout
    # The warning says how to opt in with the playbook's own variable (the text may wrap).
    warned = " ".join((first.stdout + first.stderr).split())
    assert "named volumes are left to Docker and not laid out: analytics/postgres: pgdata; " \
        "analytics/redis: redisdata; gitea/db: gitea-db." in warned
    assert "in the playbooks: -e convox_volumes_named=namespace)" in warned
    # Host paths are reported, not created.
    assert Path("/srv/gitea/custom").exists() == host_path_existed

    second = provision(f"convox_volumes_root={root}")
    assert second.returncode == 0, second.stdout + second.stderr
    assert recap(second)["changed"] == 0
    assert leaves(root) == sorted(LOCAL_VOLUMES)


def test_rack_layout_with_named_volumes(tmp_path: Path) -> None:
    root = tmp_path / "volumes"
    extra = (f"convox_volumes_root={root}", "convox_volumes_target=rack",
             "convox_rack=staging", "convox_volumes_named=namespace")
    first = provision(*extra)
    assert first.returncode == 0, first.stdout + first.stderr
    assert sorted(os.listdir(root)) == ["staging-analytics", "staging-gitea",
                                        "staging-traefik", "staging-wordpress"]
    assert (root / "staging-analytics/postgres/var/lib/postgresql/data").is_dir()
    assert (root / "staging-gitea/db/var/lib/postgresql/data").is_dir()
    assert (root / "staging-wordpress/wordpress/var/www/html").is_dir()
    assert recap(provision(*extra))["changed"] == 0


def test_check_mode_creates_nothing(tmp_path: Path) -> None:
    root = tmp_path / "local"
    run = provision(f"convox_volumes_root={root}", check=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert recap(run)["changed"] == 1
    assert not root.exists()


def test_one_bad_app_creates_nothing(tmp_path: Path) -> None:
    root = tmp_path / "local"
    apps: list[dict[str, t.Any]] = [
        {"name": "good", "services": {"web": ["/data"]}},
        {"name": "bad", "services": {"web": ["/data", "/../../etc"]}},
    ]
    run = provision(f"convox_volumes_root={root}", json.dumps({"convox_apps": apps}))
    assert run.returncode != 0
    assert ("app 'bad', service 'web', volume entry '/../../etc': container path "
            "'/../../etc' has a '..' component") in run.stdout + run.stderr
    assert not root.exists()


@pytest.mark.parametrize("target", ["rack", "local"])
def test_missing_variable_is_named(tmp_path: Path, target: str) -> None:
    apps = [{"name": "gitea",
             "compose_file": str(CHECKOUT / "examples/apps/gitea/docker-compose.yml")}]
    run = provision(f"convox_volumes_root={tmp_path / 'v'}", f"convox_volumes_target={target}",
                    json.dumps({"convox_apps": apps}))
    assert run.returncode != 0
    assert "variable 'GITEA_CUSTOM_DIR' is not set and has no default" in run.stdout + run.stderr
    # The check play stops the run before the mount play (which, with the rack target, would
    # make the root its mount point) and before the layout: nothing at all is created.
    assert "PLAY [Mount the rack's shared file system]" not in run.stdout
    assert not (tmp_path / "v").exists()


@pytest.mark.parametrize("target", ["rack", "local"])
def test_every_bad_app_is_named_before_anything_is_created(tmp_path: Path, target: str) -> None:
    apps: list[dict[str, t.Any]] = [
        {"name": "good", "services": {"web": ["/data"]}},
        {"name": "one", "services": {"web": ["/data", "data"]}},
        {"name": "two", "compose": {"services": {"db": {"volumes": ["dbdata:/var/lib/db"]}}}},
    ]
    run = provision(f"convox_volumes_root={tmp_path / 'v'}", f"convox_volumes_target={target}",
                    "convox_rack=staging", json.dumps({"convox_apps": apps}))
    output = run.stdout + run.stderr
    assert run.returncode != 0
    assert "PLAY [Mount the rack's shared file system]" not in run.stdout
    # Both problems in one message, each naming its app.
    assert "app 'one', service 'web', volume entry 'data'" in output
    assert "app 'two', service 'db', volume entry 'dbdata:/var/lib/db'" in output
    assert not (tmp_path / "v").exists()


def test_input_bad_for_one_host_stops_every_host(tmp_path: Path) -> None:
    # Two hosts with their own apps: only host-b's are bad. Without any_errors_fatal, host-a
    # would go on to the mount and the layout alone.
    good = [{"name": "good", "services": {"web": ["/data"]}}]
    bad = [{"name": "bad", "services": {"web": ["/x/../y"]}}]
    hosts = {name: {"ansible_connection": "local",
                    "ansible_python_interpreter": sys.executable,
                    "convox_volumes_root": str(tmp_path / name), "convox_apps": apps}
             for name, apps in (("host-a", good), ("host-b", bad))}
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"all": {"hosts": hosts, "vars": {
        "convox_rack": "staging", "convox_volumes_target": "local"}}}))
    run = provision(inventory=str(inventory))
    assert run.returncode != 0
    assert "app 'bad', service 'web', volume entry '/x/../y'" in run.stdout + run.stderr
    assert "PLAY [Mount the rack's shared file system]" not in run.stdout
    assert not (tmp_path / "host-a").exists() and not (tmp_path / "host-b").exists()
