# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: contributors to the convox.volumes collection
"""playbooks/clean.yml on real NFSv4.1 mounts of the test bed's guests.

These tests keep out of the way of the others on the bed: they mount the file system at
their own mount point on the guests and work in their own directory of the export.
"""
from __future__ import annotations

import json
import shlex
import shutil
import time
import typing as t
import uuid
from pathlib import Path

import pytest

MOUNT = "/mnt/convox-clean"
SQUASH_MOUNT = "/mnt/convox-clean-squash"
NFS_OPTIONS = "nfsvers=4.1,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2,noresvport"
VOLUME = "/var/lib/postgresql/data"


def _mount(bed: t.Any, guest: str, mount_point: str, port: int | None = None) -> None:
    server = bed.server_ip[bed.guests[guest].availability_zone]
    options = NFS_OPTIONS + (f",port={port}" if port else "")
    bed.run_on_guest(guest, f"mkdir -p {mount_point}; mountpoint -q {mount_point} || "
                            f"mount -t nfs4 -o {options} {server}:/ {mount_point}", timeout=60)


def _unmount(bed: t.Any, guest: str, mount_point: str) -> None:
    bed.run_on_guest(guest, f"umount {mount_point} 2>/dev/null || umount -l {mount_point}; "
                            f"true", timeout=60, check=False)


def _make_tree(base: Path, files: dict[str, str]) -> None:
    for relative, content in files.items():
        (base / relative).parent.mkdir(parents=True, exist_ok=True)
        (base / relative).write_text(content)


def _entries(base: Path) -> list[str]:
    return sorted(p.relative_to(base).as_posix() for p in base.rglob("*"))


@pytest.fixture
def shared_root(bed: t.Any) -> t.Iterator[tuple[str, Path]]:
    """A fresh volumes root on the bed's file system, mounted on both guests: (path on the
    guests, the same directory on this host, inside the export)."""
    name = f"clean-{uuid.uuid4().hex[:8]}"
    for guest in bed.guests:
        _mount(bed, guest, MOUNT)
    on_host = bed.export / name
    on_host.mkdir()
    yield f"{MOUNT}/{name}", on_host
    for guest in bed.guests:
        _unmount(bed, guest, MOUNT)
    shutil.rmtree(on_host, ignore_errors=True)


def _clean(bed: t.Any, root: str, limit: str | None = None, **extra: t.Any) -> t.Any:
    # The bed's guests stand in for instances of rack r1 (clean.yml skips other racks' hosts).
    variables = {"rack": "r1", "convox_rack": "r1", "app": "a1", "service": "db",
                 "volume": VOLUME, "root": root}
    variables.update(extra)
    return bed.ansible_playbook("playbooks/clean.yml", extra_vars=variables, limit=limit)


def test_busy_file_on_nfs_fails_then_the_rerun_after_closing_succeeds(
        bed: t.Any, shared_root: tuple[str, Path]) -> None:
    root, on_host = shared_root
    data = on_host / "r1-a1/db/var/lib/postgresql/data"
    _make_tree(on_host, {"r1-a1/db/var/lib/postgresql/data/PG_VERSION": "16\n",
                         "r1-a1/db/var/lib/postgresql/data/base/1/1": "page",
                         "r1-a1/db/var/lib/postgresql/data/pg_wal/held": "open",
                         "r1-a1/web/data/keep": "keep"})
    held = f"{root}/r1-a1/db{VOLUME}/pg_wal/held"
    holder = bed.run_on_guest(
        "guest-a", f"setsid sh -c 'exec 3<\"$0\"; exec sleep 600' {shlex.quote(held)} "
                   f"</dev/null >/dev/null 2>&1 & echo $!").stdout.strip()
    try:
        failed = _clean(bed, root, limit="guest-a", busy_timeout=3)
        assert failed.rc != 0, str(failed)
        result = failed.one("convox_volume_clean", "guest-a")
        assert result["status"] == "failed"
        message = result["result"]["msg"]
        assert "1 busy file remains" in message and "Stop the service first" in message
        assert "pg_wal/.nfs" in message
        assert result["result"]["remaining"]["files"] == 1
        remaining = _entries(data)
        assert len(remaining) == 2 and remaining[0] == "pg_wal"
        assert remaining[1].startswith("pg_wal/.nfs")
        assert (on_host / "r1-a1/web/data/keep").read_text() == "keep"
    finally:
        bed.run_on_guest("guest-a", f"kill {holder}", check=False)

    deadline = time.monotonic() + 20
    while any(p.name.startswith(".nfs") for p in data.rglob("*")) and \
            time.monotonic() < deadline:
        time.sleep(0.5)
    rerun = _clean(bed, root, limit="guest-a")
    assert rerun.rc == 0, str(rerun)
    assert rerun.one("convox_volume_clean", "guest-a")["changed"] is True
    assert _entries(data) == []


def test_shared_root_is_cleaned_once_per_rack(bed: t.Any,
                                              shared_root: tuple[str, Path]) -> None:
    root, on_host = shared_root
    _make_tree(on_host, {f"r1-a1/db/var/lib/postgresql/data/f{n}": "x" for n in range(50)})
    run = _clean(bed, root)
    assert run.rc == 0, str(run)
    cleaned = [entry["host"] for entry in run.results(action="convox_volume_clean")
               if entry["status"] != "skipped"]
    assert len(cleaned) == 1, cleaned
    assert run.one("convox_volume_clean", cleaned[0])["result"]["removed"]["files"] == 50
    assert _entries(on_host / "r1-a1/db/var/lib/postgresql/data") == []


RACE_PLAYBOOK = """
- name: Both instances clean the same volume at once
  hosts: all
  gather_facts: false
  tasks:
    - name: Clean the volume
      convox.volumes.convox_volume_clean:
        rack: r1
        app: a1
        service: db
        path: /var/lib/postgresql/data
        root: "{{ root }}"
"""


def test_two_instances_clean_at_once_over_nfs_and_one_deletes(
        bed: t.Any, shared_root: tuple[str, Path], tmp_path: Path) -> None:
    """Two kernels race on the shared mount for a lock that a dead host left stale: the
    takeover happens under the guard's NFSv4 record lock, so exactly one deletes; the other
    is told who holds the lock, or (if it came after) finds nothing to clean."""
    root, on_host = shared_root
    _make_tree(on_host, {f"r1-a1/db/var/lib/postgresql/data/d{d}/f{n}": "x"
                         for d in range(20) for n in range(100)})
    (on_host / ".convox-locks").mkdir()
    stale = {"host": "ip-10-0-9-9", "pid": 4242, "since": "2026-01-01T00:00:00Z",
             "since_epoch": time.time() - 7200}
    (on_host / ".convox-locks/r1-a1-db.lock").write_text(json.dumps(stale))
    playbook = tmp_path / "race.yml"
    playbook.write_text(RACE_PLAYBOOK)
    run = bed.ansible_playbook(playbook, extra_vars={"root": root})
    results = {guest: run.one("convox_volume_clean", guest) for guest in bed.guests}
    deleted = [guest for guest, entry in results.items() if entry["status"] == "changed"]
    assert len(deleted) == 1, str(run)
    assert results[deleted[0]]["result"]["removed"]["files"] == 2000
    assert "replaced a stale lock" in str(results[deleted[0]]["warnings"]), results
    for guest, entry in results.items():
        if guest == deleted[0]:
            continue
        if entry["status"] == "failed":
            assert "another clean holds the lock" in entry["result"]["msg"], entry
            assert "ip-10-0-9-9" not in entry["result"]["msg"]
        else:
            assert entry["status"] == "ok" and "nothing to clean" in entry["result"]["msg"]
    assert _entries(on_host / "r1-a1/db/var/lib/postgresql/data") == []
    assert sorted(p.name for p in (on_host / ".convox-locks").iterdir()) == [".guard"]


def test_root_squashing_is_explained(bed: t.Any) -> None:
    """The second server squashes root, like EFS without ClientRootAccess."""
    export = bed.work / "export-squash"
    if not export.is_dir():
        pytest.skip(f"the bed has no root-squashing export at {export}")
    name = f"clean-{uuid.uuid4().hex[:8]}"
    on_host = export / name
    _make_tree(on_host, {"r1-a1/db/var/lib/postgresql/data/PG_VERSION": "16\n"})
    (on_host / ".convox-locks").mkdir(mode=0o777)
    (on_host / ".convox-locks").chmod(0o777)
    _mount(bed, "guest-a", SQUASH_MOUNT, port=bed.squash_port)
    try:
        run = _clean(bed, f"{SQUASH_MOUNT}/{name}", limit="guest-a")
        result = run.one("convox_volume_clean", "guest-a")
        assert result["status"] == "failed"
        assert "root squashing" in result["result"]["msg"]
        assert "ClientRootAccess" in result["result"]["msg"]
        assert (on_host / "r1-a1/db/var/lib/postgresql/data/PG_VERSION").read_text() == "16\n"
    finally:
        _unmount(bed, "guest-a", SQUASH_MOUNT)
        shutil.rmtree(on_host, ignore_errors=True)
