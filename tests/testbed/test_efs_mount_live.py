# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: contributors to the convox.volumes collection
"""convox_efs_mount against a real NFSv4.1 server and real guest kernels.

Each test starts from `clean_bed`: /volumes unmounted, empty and absent from fstab on both
guests, the export empty. The playbook tests/testbed/playbooks/efs_mount.yml runs the module
with the bed's mount targets (what discovery returns as mount_targets_by_az).
"""
from __future__ import annotations

import json
import re
import shutil
import time
import uuid

PLAYBOOK = "tests/testbed/playbooks/efs_mount.yml"
DEFAULT_LIVE_OPTIONS = ("vers=4.1", "rsize=1048576", "wsize=1048576", "hard", "timeo=600",
                        "retrans=2", "noresvport")


def live_mount(bed, guest: str, path: str = "/volumes") -> list[dict]:
    """Every mount the guest's kernel has at `path` (findmnt, not fstab)."""
    process = bed.run_on_guest(guest, f"findmnt --json --mountpoint {path} || true")
    if not process.stdout.strip():
        return []
    return json.loads(process.stdout)["filesystems"]


def fstab_lines(bed, guest: str, path: str = "/volumes") -> list[str]:
    text = bed.run_on_guest(guest, "cat /etc/fstab").stdout
    return [line for line in text.splitlines()
            if line.split() and not line.startswith("#") and line.split()[1:2] == [path]]


def mount_module(bed, **extra_vars):
    return bed.ansible_playbook(PLAYBOOK, extra_vars=extra_vars or None, diff=True)


def test_mounts_each_guest_from_its_az_and_shares_files(clean_bed):
    bed = clean_bed
    first = mount_module(bed)
    assert first.rc == 0, first

    for name, guest in bed.guests.items():
        result = first.one("convox_efs_mount", name)
        assert result["changed"] is True
        server = bed.server_ip[guest.availability_zone]
        assert result["result"]["source"] == f"{server}:/"
        (mount,) = live_mount(bed, name)
        assert mount["source"] == f"{server}:/"
        assert mount["fstype"] == "nfs4"
        live = mount["options"].split(",")
        for option in DEFAULT_LIVE_OPTIONS:
            assert option in live, f"{option} not in the live options {live} on {name}"
        assert fstab_lines(bed, name) == [
            f"{server}:/ /volumes nfs4 nfsvers=4.1,rsize=1048576,wsize=1048576,hard,timeo=600,"
            f"retrans=2,noresvport,_netdev,nofail 0 0"]

    # A file written through one instance is read through the other, and lands on the server.
    bed.run_on_guest("guest-a", "printf 'from a\\n' >/volumes/shared.txt && chown 1234:1234 "
                                "/volumes/shared.txt")
    seen = bed.run_on_guest("guest-b", "cat /volumes/shared.txt; stat -c %u:%g "
                                       "/volumes/shared.txt")
    assert seen.stdout.splitlines() == ["from a", "1234:1234"]
    assert (bed.export / "shared.txt").read_text() == "from a\n"

    second = mount_module(bed)
    assert second.rc == 0, second
    assert [entry["changed"] for entry in second.results(action="convox_efs_mount")] == [
        False, False]
    assert second.changed() == 0


def mount_id(bed, guest: str, path: str = "/volumes") -> str:
    """The kernel's id of the mount at `path` (kept by a mount that is left alone; a new
    mount may get the same one again, as ids are reused)."""
    return bed.run_on_guest(guest, f"findmnt -n -o ID --mountpoint {path}").stdout.strip()


def test_changed_options_remount_and_fstab_only_options_do_not(clean_bed):
    bed = clean_bed
    # guest-a changes an option the kernel shows; guest-b one that only lives in fstab.
    wanted = {"guest-a": {"options": {"timeo": 300, "rsize": 65536}},
              "guest-b": {"options": {"nofail": False}}}
    assert mount_module(bed).rc == 0
    before = {name: mount_id(bed, name) for name in bed.guests}

    predicted = bed.ansible_playbook(PLAYBOOK, extra_vars={"bed_by_host": wanted},
                                     check=True, diff=True)
    assert predicted.rc == 0, predicted
    assert predicted.one("convox_efs_mount", "guest-a")["changed"] is True
    assert predicted.one("convox_efs_mount", "guest-b")["changed"] is True
    assert {name: mount_id(bed, name) for name in bed.guests} == before, "check mode remounted"
    assert "timeo=600" in live_mount(bed, "guest-a")[0]["options"].split(",")
    assert "nofail" in fstab_lines(bed, "guest-b")[0].split()[3].split(",")

    changed = mount_module(bed, bed_by_host=wanted)
    assert changed.rc == 0, changed

    result_a = changed.one("convox_efs_mount", "guest-a")
    assert result_a["changed"] is True
    actions = result_a["result"]["actions"]
    server_a = f"{bed.server_ip['us-east-1a']}:/"
    assert actions == [f"unmount {server_a} (rsize: live 1048576, wanted 65536; timeo: live "
                       f"600, wanted 300)", f"mount {server_a}", "update /etc/fstab"], actions
    # The diff says so: fstab before and after, and the live mount before and after.
    fstab_diff, mount_diff = result_a["result"]["diff"]
    assert ",timeo=600," in fstab_diff["before"] and ",timeo=300," in fstab_diff["after"]
    assert mount_diff["before"].startswith(f"{server_a} nfs4 rw,"), mount_diff
    assert "timeo=600" in mount_diff["before"].split()[2].split(",")
    assert mount_diff["after"] == (f"{server_a} nfs4 nfsvers=4.1,rsize=65536,wsize=1048576,"
                                   f"hard,timeo=300,retrans=2,noresvport\n")
    # (mount ids are reused, so only the live options show the new mount)
    live_a = live_mount(bed, "guest-a")[0]["options"].split(",")
    assert "timeo=300" in live_a and "rsize=65536" in live_a, live_a
    fstab_a = fstab_lines(bed, "guest-a")[0].split()[3].split(",")
    assert "timeo=300" in fstab_a and "rsize=65536" in fstab_a, fstab_a

    result_b = changed.one("convox_efs_mount", "guest-b")
    assert result_b["changed"] is True
    assert not any(action.split()[0] in ("mount", "unmount")
                   for action in result_b["result"]["actions"]), result_b["result"]["actions"]
    assert mount_id(bed, "guest-b") == before["guest-b"], "an fstab-only option remounted"
    assert "nofail" not in fstab_lines(bed, "guest-b")[0].split()[3].split(",")

    again = mount_module(bed, bed_by_host=wanted)
    assert again.rc == 0, again
    assert again.changed() == 0, [entry["host"] for entry in again.tasks if entry["changed"]]


def test_changed_source_unmounts_and_mounts_the_new_one(clean_bed):
    bed = clean_bed
    assert mount_module(bed, bed_hosts="guest-a").rc == 0
    (old,) = live_mount(bed, "guest-a")
    assert old["source"] == f"{bed.server_ip['us-east-1a']}:/"

    # The same server under another address, as when a mount target is replaced.
    new_source = f"{bed.alternate_server_ip}:/"
    moved = mount_module(bed, bed_hosts="guest-a", bed_source=new_source)
    assert moved.rc == 0, moved
    assert moved.one("convox_efs_mount", "guest-a")["changed"] is True
    mounts = live_mount(bed, "guest-a")
    assert [mount["source"] for mount in mounts] == [new_source]
    assert [line.split()[0] for line in fstab_lines(bed, "guest-a")] == [new_source]
    result = moved.one("convox_efs_mount", "guest-a")["result"]
    assert result["actions"][:2] == [
        f"unmount {old['source']} (source: live {old['source']}, wanted {new_source})",
        f"mount {new_source}"], result["actions"]
    mount_diff = result["diff"][1]
    assert mount_diff["before"].startswith(f"{old['source']} nfs4 ")
    assert mount_diff["after"].startswith(f"{new_source} nfs4 ")

    again = mount_module(bed, bed_hosts="guest-a", bed_source=new_source)
    assert again.one("convox_efs_mount", "guest-a")["changed"] is False


def test_stopped_server_fails_the_task_within_its_bound(clean_bed):
    """guest-a has the file system mounted when the server stops; guest-b tries a new mount.
    Both tasks must fail with a message, within the deadlines the module was given."""
    bed = clean_bed
    assert mount_module(bed, bed_hosts="guest-a").rc == 0
    timeout, mount_timeout, retries, delay = 5, 8, 2, 1
    with bed.nfs_server.stopped():
        started = time.monotonic()
        run = mount_module(bed, bed_timeout=timeout, bed_mount_timeout=mount_timeout,
                           bed_mount_retries=retries, bed_mount_retry_delay=delay)
        elapsed = time.monotonic() - started
    assert run.rc != 0
    # The bound is the module's own (attempts x deadline + pauses), plus Ansible's overhead.
    assert elapsed < retries * mount_timeout + (retries - 1) * delay + timeout + 60, elapsed

    mounted = run.one("convox_efs_mount", "guest-a")
    assert mounted["status"] == "failed"
    message = mounted["result"]["msg"]
    assert "does not answer" in message and "/volumes" in message, message

    new = run.one("convox_efs_mount", "guest-b")
    assert new["status"] == "failed"
    message = new["result"]["msg"]
    assert "/volumes" in message and bed.server_ip["us-east-1b"] in message, message
    assert live_mount(bed, "guest-b") == []
    assert fstab_lines(bed, "guest-b") == [], "a failed mount must not leave an fstab line"

    # With the server back, the same hard mount answers again without a remount.
    recovered = bed.run_on_guest("guest-a", "timeout 60 stat -f -c %T /volumes", timeout=90)
    assert recovered.stdout.strip() == "nfs"
    back = mount_module(bed, bed_hosts="guest-a")
    assert back.one("convox_efs_mount", "guest-a")["changed"] is False


def test_no_file_system_gives_a_local_directory(clean_bed):
    bed = clean_bed
    first = mount_module(bed, bed_hosts="guest-b", bed_file_system_id="")
    assert first.rc == 0, first
    result = first.one("convox_efs_mount", "guest-b")
    assert result["result"]["local"] is True
    assert any("instance-local" in warning for warning in result["warnings"]), result
    assert live_mount(bed, "guest-b") == []
    assert fstab_lines(bed, "guest-b") == []
    mode = bed.run_on_guest("guest-b", "stat -c '%F %U %a' /volumes").stdout.strip()
    assert mode == "directory root 755"

    again = mount_module(bed, bed_hosts="guest-b", bed_file_system_id="")
    assert again.one("convox_efs_mount", "guest-b")["changed"] is False


def test_non_empty_volumes_is_refused_then_migrated(clean_bed):
    bed = clean_bed
    bed.run_on_guest("guest-a", """
        set -e
        mkdir -p /volumes/r1-a1/web/data /volumes/r1-a1/db
        printf 'local\\n' >/volumes/r1-a1/web/data/keep
        chown 1234:2345 /volumes/r1-a1/web/data/keep && chmod 0640 /volumes/r1-a1/web/data/keep
        printf 'local copy\\n' >/volumes/r1-a1/db/conflict
        ln -s data/keep /volumes/r1-a1/web/link
    """)
    # A file the file system already has is never overwritten by the migration.
    (bed.export / "r1-a1" / "db").mkdir(parents=True)
    (bed.export / "r1-a1" / "db" / "conflict").write_text("already on EFS\n")

    refused = mount_module(bed, bed_hosts="guest-a")
    assert refused.rc != 0
    message = refused.one("convox_efs_mount", "guest-a")["result"]["msg"]
    # One entry at the top (r1-a1): the message counts what mounting would hide.
    assert re.search(r"/volumes\b.*\b1 entry\b", message), message
    assert "migrate_local" in message, message
    assert live_mount(bed, "guest-a") == []
    assert fstab_lines(bed, "guest-a") == []
    still = bed.run_on_guest("guest-a", "cat /volumes/r1-a1/web/data/keep").stdout
    assert still == "local\n"

    migrated = mount_module(bed, bed_hosts="guest-a", bed_migrate_local=True)
    assert migrated.rc == 0, migrated
    result = migrated.one("convox_efs_mount", "guest-a")["result"]
    assert result["changed"] is True
    assert result["migrated"]["files"] >= 1
    assert any("conflict" in str(item) for item in result["migrated"]["conflicts"])
    (mount,) = live_mount(bed, "guest-a")
    assert mount["source"] == f"{bed.server_ip['us-east-1a']}:/"

    # The data is now on the file system: seen by the other instance, owners and modes kept.
    assert mount_module(bed, bed_hosts="guest-b").rc == 0
    seen = bed.run_on_guest("guest-b", "stat -c '%u:%g %a' /volumes/r1-a1/web/data/keep; "
                                       "cat /volumes/r1-a1/web/data/keep; "
                                       "readlink /volumes/r1-a1/web/link; "
                                       "cat /volumes/r1-a1/db/conflict")
    assert seen.stdout.splitlines() == ["1234:2345 640", "local", "data/keep",
                                        "already on EFS"]
    aside = bed.run_on_guest("guest-a", "ls -d /volumes.local-*").stdout.split()
    assert aside == [result["migrated"]["local_copy"]]

    again = mount_module(bed, bed_hosts="guest-a", bed_migrate_local=True)
    assert again.one("convox_efs_mount", "guest-a")["changed"] is False


def test_a_busy_mount_is_never_unmounted_nor_its_mount_point_removed(clean_bed):
    """Case 10: while a process holds a file open under /volumes, neither a remount (changed
    option) nor state=absent can unmount it: the task fails, fstab stays byte for byte, the
    mount and everything under it stay. Once the file is closed, state=absent unmounts and
    drops the fstab line, and the mount point stays as an empty directory."""
    bed = clean_bed
    assert mount_module(bed, bed_hosts="guest-a").rc == 0
    server = f"{bed.server_ip['us-east-1a']}:/"
    bed.run_on_guest("guest-a", "mkdir -p /volumes/r1-a1/db && printf 'row\\n' "
                                ">/volumes/r1-a1/db/table")
    fstab_before = bed.run_on_guest("guest-a", "cat /etc/fstab").stdout
    bed.run_on_guest("guest-a", "setsid sleep 600 </volumes/r1-a1/db/table >/dev/null 2>&1 & "
                                "echo $! >/run/convox-holder.pid")
    try:
        for extra in ({"bed_options": {"timeo": 300}}, {"bed_state": "absent"}):
            run = mount_module(bed, bed_hosts="guest-a", **extra)
            assert run.rc != 0, (extra, run)
            failure = run.one("convox_efs_mount", "guest-a")
            assert failure["status"] == "failed"
            message = failure["result"]["msg"]
            assert message.startswith("unmounting /volumes failed ("), message
            assert "busy" in message and "fstab was left as it was" in message, message
            assert bed.run_on_guest("guest-a", "cat /etc/fstab").stdout == fstab_before
            (mount,) = live_mount(bed, "guest-a")
            assert mount["source"] == server
            assert "timeo=600" in mount["options"].split(",")
            assert bed.run_on_guest("guest-a", "cat /volumes/r1-a1/db/table").stdout == "row\n"
    finally:
        bed.run_on_guest("guest-a", "kill $(cat /run/convox-holder.pid); "
                                    "rm -f /run/convox-holder.pid", check=False)

    # The holder is gone: absent unmounts and removes the line, never the mount point.
    for _attempt in range(10):
        removed = mount_module(bed, bed_hosts="guest-a", bed_state="absent")
        if removed.rc == 0:
            break
        time.sleep(1)  # the killed holder may take a moment to release the file
    assert removed.rc == 0, removed
    result = removed.one("convox_efs_mount", "guest-a")["result"]
    assert result["actions"] == [f"unmount {server}", "update /etc/fstab"], result
    assert live_mount(bed, "guest-a") == []
    assert fstab_lines(bed, "guest-a") == []
    assert bed.run_on_guest("guest-a", "cat /etc/fstab").stdout == "".join(
        line for line in fstab_before.splitlines(keepends=True)
        if line.split()[1:2] != ["/volumes"])
    left = bed.run_on_guest("guest-a", "stat -c '%F' /volumes; ls -A /volumes | wc -l")
    assert left.stdout.split() == ["directory", "0"]
    assert (bed.export / "r1-a1" / "db" / "table").read_text() == "row\n"

    again = mount_module(bed, bed_hosts="guest-a", bed_state="absent")
    assert again.rc == 0 and again.one("convox_efs_mount", "guest-a")["changed"] is False


def test_a_migration_that_fails_is_undone_so_a_rerun_tries_again(clean_bed):
    """migrate_local into a file system whose root is squashed (EFS without ClientRootAccess):
    root may create entries there but not give them their owners, so the copy fails. The task
    fails saying why, and leaves the instance as it found it: nothing mounted, no fstab line,
    the local data back in /volumes with its owners, no copy set aside. A rerun tries again."""
    bed = clean_bed
    squashed = bed.work / "export-squash" / f"migrate-{uuid.uuid4().hex[:8]}"
    squashed.mkdir()
    squashed.chmod(0o777)  # root, squashed to nobody, can create entries here
    try:
        bed.run_on_guest("guest-a", """
            set -e
            mkdir -p /volumes/r1-a1/web
            printf 'local\\n' >/volumes/r1-a1/web/keep && chown 1234:2345 /volumes/r1-a1/web/keep
        """)
        fstab_before = bed.run_on_guest("guest-a", "cat /etc/fstab").stdout
        source = f"{bed.server_ip['us-east-1a']}:/{squashed.name}"
        for _attempt in ("first", "rerun"):
            run = mount_module(bed, bed_hosts="guest-a", bed_source=source,
                               bed_options={"port": bed.squash_port}, bed_migrate_local=True)
            assert run.rc != 0, run.one("convox_efs_mount", "guest-a")["result"]
            message = run.one("convox_efs_mount", "guest-a")["result"]["msg"]
            assert "could not be copied into the file system" in message, message
            assert "ClientRootAccess" in message, message
            assert "/volumes was unmounted again and its local data moved back" in message, message
            assert live_mount(bed, "guest-a") == []
            assert bed.run_on_guest("guest-a", "cat /etc/fstab").stdout == fstab_before
            local = bed.run_on_guest("guest-a", "stat -c '%u:%g' /volumes/r1-a1/web/keep; "
                                                "cat /volumes/r1-a1/web/keep; "
                                                "ls -d /volumes.local-* 2>/dev/null | wc -l")
            assert local.stdout.split() == ["1234:2345", "local", "0"]
    finally:
        bed.reset_guest("guest-a")  # unmount before the export goes, or the mount goes stale
        shutil.rmtree(squashed, ignore_errors=True)
