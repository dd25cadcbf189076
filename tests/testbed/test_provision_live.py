# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: contributors to the convox.volumes collection
"""playbooks/provision.yml on the bed: discovery in moto, a real NFSv4.1 mount on both
instances (each from its own AZ's mount target), then the volume layout on the shared root."""
from __future__ import annotations

import json

PROVISION = "playbooks/provision.yml"
APPS = [{"name": "blog", "compose": {"services": {
    "web": {"volumes": ["/var/www/uploads"]},
    "db": {"volumes": ["/var/lib/mysql"]},
}}}]


def provision(bed, **extra):
    extra_vars = {"convox_efs_discover": True, "convox_apps": APPS, **extra}
    return bed.ansible_playbook(PROVISION, extra_vars=extra_vars, diff=True)


def task_on(run, name: str, host: str) -> dict:
    """The one result of the (role) task called `name` on `host`."""
    (entry,) = [entry for entry in run.results(host=host)
                if entry["task"].split(" : ")[-1] == name]
    return entry


def test_provision_discovers_mounts_and_lays_out_once(clean_bed):
    bed = clean_bed
    first = provision(bed)
    assert first.rc == 0, first

    # Discovery ran once, on the controller, and found the rack's file system in moto.
    (lookup,) = first.results(action="convox_efs_info")
    assert lookup["host"] in bed.guests
    (found,) = lookup["result"]["results"]
    assert found["file_system"]["id"] == bed.file_system_id
    assert found["mount_targets_by_az"] == bed.server_ip

    # nfs-common is installed on the guests, which have no route to any package mirror: it
    # is found by the package database alone, and the package manager is not called.
    for name in bed.guests:
        query = task_on(first, "Check which client packages are installed (no network)", name)
        assert query["status"] == "ok", query
        assert query["result"]["stdout_lines"] == ["nfs-common install ok installed"], query
        install = task_on(first, "Install the missing client packages", name)
        assert install["status"] == "skipped", install

    for name, guest in bed.guests.items():
        mount = first.one("convox_efs_mount", name)
        assert mount["changed"] is True
        server = bed.server_ip[guest.availability_zone]
        findmnt = json.loads(bed.run_on_guest(
            name, "findmnt --json --mountpoint /volumes").stdout)["filesystems"]
        assert [(entry["source"], entry["fstype"]) for entry in findmnt] == [
            (f"{server}:/", "nfs4")]
        options = findmnt[0]["options"].split(",")
        for option in ("vers=4.1", "rsize=1048576", "wsize=1048576", "hard", "timeo=600",
                       "retrans=2", "noresvport"):
            assert option in options, f"{option} missing on {name}: {options}"

    # The layout ran on the shared root: its directories are on the server and on both guests.
    for directory in ("bed-blog/web/var/www/uploads", "bed-blog/db/var/lib/mysql"):
        assert (bed.export / directory).is_dir(), directory
        for name in bed.guests:
            bed.run_on_guest(name, f"test -d /volumes/{directory}")

    # Written through instance A, read through instance B.
    bed.run_on_guest("guest-a", "echo 'uploaded on a' >/volumes/bed-blog/web/var/www/uploads/f")
    read = bed.run_on_guest("guest-b", "cat /volumes/bed-blog/web/var/www/uploads/f")
    assert read.stdout == "uploaded on a\n"

    second = provision(bed)
    assert second.rc == 0, second
    assert second.changed() == 0, [entry for entry in second.tasks if entry["changed"]]


def test_provision_without_a_file_system_keeps_volumes_local(clean_bed):
    bed = clean_bed
    run = provision(bed, convox_efs_discover=False)
    assert run.rc == 0, run
    assert run.results(action="convox_efs_info") == [] or all(
        entry["status"] == "skipped" for entry in run.results(action="convox_efs_info"))
    for name in bed.guests:
        entry = run.one("convox_efs_mount", name)
        result = entry["result"]
        assert result["local"] is True
        assert any("instance-local" in warning for warning in entry["warnings"]), entry
        bed.run_on_guest(name, "! mountpoint -q /volumes && ! grep -q ' /volumes ' /etc/fstab")
        # Without a shared root the layout runs on every instance, locally.
        bed.run_on_guest(name, "test -d /volumes/bed-blog/web/var/www/uploads")
    assert list(bed.export.iterdir()) == []

    again = provision(bed, convox_efs_discover=False)
    assert again.rc == 0, again
    assert again.changed() == 0, [entry for entry in again.tasks if entry["changed"]]
