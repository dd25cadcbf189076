# SPDX-License-Identifier: GPL-3.0-or-later
"""Cleaning a volume on real temporary trees: every safety rule, the field reports, locks,
busy files, quarantine and restore."""
from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import typing as t
from pathlib import Path

import pytest

from ansible_collections.convox.volumes.plugins.module_utils import _clean
from ansible_collections.convox.volumes.plugins.module_utils._clean import (
    CleanError,
    LockHeld,
    VolumeTarget,
    acquire_lock,
    check_on_disk,
    clean_volume,
    release_lock,
    resolve_target,
    restore,
)
from ansible_collections.convox.volumes.plugins.module_utils._paths import VolumeRuleError
from ansible_collections.convox.volumes.tests.unit.become import run_as
from ansible_collections.convox.volumes.tests.unit.clean_trees import CASE_14, make_tree

PG = "/var/lib/postgresql/data"
IS_ROOT = os.geteuid() == 0


def tree_digest(base: Path) -> str:
    """Every path, its type, mode and content (links by target): any change shows."""
    digest = hashlib.sha256()
    for directory, dirnames, filenames in os.walk(base):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            path = os.path.join(directory, name)
            info = os.lstat(path)
            digest.update(f"{os.path.relpath(path, base)}:{info.st_mode}".encode())
            if os.path.islink(path):
                digest.update(os.readlink(path).encode())
            elif os.path.isfile(path):
                digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def volume(root: Path, path: str = PG, service: str = "db", app: str = "a1") -> VolumeTarget:
    return resolve_target(target="rack", rack="r1", app=app, service=service, path=path,
                          root=str(root))


def clean(target: VolumeTarget, **overrides: t.Any) -> dict[str, t.Any]:
    options: dict[str, t.Any] = {"quarantine_it": False, "recreate": True,
                                 "busy_timeout": 2.0, "lock_timeout": 3600.0,
                                 "check_mode": False}
    options.update(overrides)
    return clean_volume(target, **options)


@pytest.fixture
def case14(tmp_path: Path) -> Path:
    root = tmp_path / "volumes"
    make_tree(root, CASE_14)
    return root


# --- resolving the target ---------------------------------------------------------------------


@pytest.mark.parametrize("path, resolved", [
    ("", "/volumes/r1-a1/db"),
    ("/", "/volumes/r1-a1/db"),
    (".", "/volumes/r1-a1/db"),
    ("//./", "/volumes/r1-a1/db"),
])
def test_case_16_over_broad_path_is_refused_naming_the_resolved_path(path: str,
                                                                     resolved: str) -> None:
    with pytest.raises(VolumeRuleError) as caught:
        resolve_target(target="rack", rack="r1", app="a1", service="db", path=path)
    assert f"resolves to {resolved}," in str(caught.value)
    assert "service directory itself" in str(caught.value)


@pytest.mark.parametrize("service", ["", "   ", None])
def test_case_16_empty_service_is_refused_naming_the_app_directory(service: t.Any) -> None:
    with pytest.raises(VolumeRuleError) as caught:
        resolve_target(target="rack", rack="r1", app="a1", service=service, path=PG)
    assert "would resolve to /volumes/r1-a1," in str(caught.value)


@pytest.mark.parametrize("kwargs, message", [
    ({"path": "/../../etc"}, "'..' component"),
    ({"path": "/data/../.."}, "'..' component"),
    ({"path": "data"}, "is relative"),
    ({"host_path": "/volumes/r1-a1/db"}, "the service directory itself"),
    ({"host_path": "/volumes/r1-a1"}, "the app directory"),
    ({"host_path": "/volumes"}, "the volumes root"),
    ({"host_path": "/"}, "resolves to /,"),
    ({"host_path": "/volumes/r1-a1/web/data"}, "not inside /volumes/r1-a1/db/"),
    ({"host_path": "/volumes/r1-a1/db/../web"}, "'..' component"),
    ({"host_path": "/volumes/r1-a1/dbx/data"}, "not inside /volumes/r1-a1/db/"),
    ({"path": "/data", "host_path": "/volumes/r1-a1/db/data"}, "both set"),
    ({}, "neither path nor host_path"),
])
def test_over_broad_or_foreign_targets_are_refused(kwargs: dict[str, str],
                                                   message: str) -> None:
    with pytest.raises(VolumeRuleError) as caught:
        resolve_target(target="rack", rack="r1", app="a1", service="db", **kwargs)
    assert message in str(caught.value)


@pytest.mark.parametrize("kwargs, host_path", [
    ({"target": "rack", "rack": "r1", "path": PG}, "/volumes/r1-a1/db/var/lib/postgresql/data"),
    ({"target": "rack", "rack": "r1", "path": "/a//b/./c/"}, "/volumes/r1-a1/db/a/b/c"),
    ({"target": "rack", "rack": "r1", "host_path": "/volumes/r1-a1/db/data/"},
     "/volumes/r1-a1/db/data"),
    ({"target": "local", "path": "/data", "root": "/tmp/h/.convox/volumes"},
     "/tmp/h/.convox/volumes/a1/db/data"),
])
def test_resolved_host_path(kwargs: dict[str, str], host_path: str) -> None:
    assert resolve_target(app="a1", service="db", **kwargs).host_path == host_path


# --- field report 14: only the target goes ------------------------------------------------------


def test_case_14_only_the_target_goes_and_rerun_reports_no_change(case14: Path) -> None:
    data = case14 / "r1-a1/db/var/lib/postgresql/data"
    mode_before = data.stat().st_mode
    first = clean(volume(case14))
    assert first["changed"] is True
    assert first["removed"] == {"files": 2, "directories": 2, "bytes": len("16\nheap page\n")}
    assert sorted(p.relative_to(case14).as_posix() for p in case14.rglob("*")
                  if p.is_file()) == [".convox-locks/.guard", "r1-a1/web/data/keep",
                                      "r1-a2/db/var/lib/postgresql/data/PG_VERSION"]
    assert data.is_dir() and not any(data.iterdir()) and data.stat().st_mode == mode_before
    assert first["recreated"] is True

    second = clean(volume(case14))
    assert second["changed"] is False
    assert "already empty" in second["msg"]


def test_case_14_check_mode_deletes_nothing_and_reports_what_would_go(case14: Path) -> None:
    before = tree_digest(case14)
    result = clean(volume(case14), check_mode=True)
    assert tree_digest(case14) == before
    assert result["changed"] is True
    assert result["removed"] == {"files": 2, "directories": 2, "bytes": 13}
    assert "would delete 2 files, 2 directories, 13 bytes" in result["msg"]
    assert not (case14 / ".convox-locks").exists()


@pytest.mark.parametrize("quarantine_it", [False, True])
def test_check_mode_leaves_every_byte_of_a_messy_tree(tmp_path: Path,
                                                      quarantine_it: bool) -> None:
    root = tmp_path / "volumes"
    make_tree(root, {"r1-a1/db/data/a/b/c": "x" * 5000, "r1-a1/db/data/.hidden": "h"})
    os.symlink("/etc", root / "r1-a1/db/data/etc-link")
    os.symlink("missing", root / "r1-a1/db/data/a/dangling")
    os.mkfifo(root / "r1-a1/db/data/fifo")
    before = tree_digest(tmp_path)
    result = clean(volume(root, "/data"), check_mode=True, quarantine_it=quarantine_it)
    assert tree_digest(tmp_path) == before
    assert result["removed"] == {"files": 5, "directories": 2, "bytes": 5001 + 4 + 7}


def test_missing_volume_reports_no_change_and_creates_nothing(case14: Path) -> None:
    result = clean(volume(case14, "/not/there"))
    assert result["changed"] is False and "does not exist" in result["msg"]
    assert not (case14 / "r1-a1/db/not").exists()


def test_recreate_false_removes_the_directory_itself(case14: Path) -> None:
    result = clean(volume(case14), recreate=False)
    assert result["recreated"] is False
    assert not (case14 / "r1-a1/db/var/lib/postgresql/data").exists()
    assert (case14 / "r1-a1/db/var/lib/postgresql").is_dir()


@pytest.mark.skipif(not IS_ROOT, reason="chown to another owner needs root")
def test_recreated_directory_keeps_owner_and_mode(case14: Path) -> None:
    data = case14 / "r1-a1/db/var/lib/postgresql/data"
    os.chown(data, 999, 998)
    data.chmod(0o700)
    for quarantine_it in (False, True):
        (data / "PG_VERSION").write_text("16\n")
        clean(volume(case14), quarantine_it=quarantine_it)
        info = data.stat()
        assert (info.st_uid, info.st_gid, info.st_mode & 0o7777) == (999, 998, 0o700)


# --- symbolic links ---------------------------------------------------------------------------


def test_link_inside_the_tree_to_a_directory_outside_the_root_is_removed_not_followed(
        tmp_path: Path) -> None:
    outside = tmp_path / "precious"
    make_tree(outside, {"a/b": "do not delete", "c": "nor this"})
    root = tmp_path / "volumes"
    make_tree(root, {"r1-a1/db/data/file": "x"})
    os.symlink(outside, root / "r1-a1/db/data/to-outside")
    os.symlink(outside / "a", root / "r1-a1/db/data/to-outside-a")
    before = tree_digest(outside)

    result = clean(volume(root, "/data"))
    assert result["removed"]["files"] == 3
    assert tree_digest(outside) == before
    assert list((root / "r1-a1/db/data").iterdir()) == []


@pytest.mark.parametrize("link_at", ["r1-a1", "r1-a1/db", "r1-a1/db/var", "r1-a1/db/var/lib",
                                     "r1-a1/db/var/lib/postgresql/data"])
def test_a_link_as_any_component_below_the_root_is_refused(tmp_path: Path,
                                                           link_at: str) -> None:
    outside = tmp_path / "outside"
    root = tmp_path / "volumes"
    make_tree(outside, {f"{link_at}/var/lib/postgresql/data/PG_VERSION": "16",
                        "var/lib/postgresql/data/PG_VERSION": "16",
                        "lib/postgresql/data/PG_VERSION": "16",
                        "postgresql/data/PG_VERSION": "16", "data/PG_VERSION": "16",
                        "PG_VERSION": "16", "db/var/lib/postgresql/data/PG_VERSION": "16"})
    (root / link_at).parent.mkdir(parents=True, exist_ok=True)
    os.symlink(outside, root / link_at)
    before = tree_digest(outside)
    with pytest.raises(CleanError) as caught:
        clean(volume(root))
    assert f"{root / link_at} is a symbolic link" in str(caught.value)
    assert tree_digest(outside) == before


def test_a_linked_root_itself_is_allowed(tmp_path: Path) -> None:
    make_tree(tmp_path / "real", {"r1-a1/db/data/x": "1"})
    os.symlink(tmp_path / "real", tmp_path / "volumes")
    assert clean(volume(tmp_path / "volumes", "/data"))["removed"]["files"] == 1
    assert (tmp_path / "real/r1-a1/db/data").is_dir()


def test_a_file_where_a_directory_should_be_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "volumes"
    make_tree(root, {"r1-a1/db/var": "not a directory"})
    with pytest.raises(CleanError, match="regular file where a directory should be"):
        clean(volume(root))
    assert (root / "r1-a1/db/var").read_text() == "not a directory"


def _as_nobody(action: t.Callable[[], dict[str, t.Any]]) -> dict[str, t.Any]:
    """Run action as nobody (as root on a root-squashed NFS export would be treated); return
    its result or its CleanError as {"error": ..., "details": ...}."""
    def caught() -> dict[str, t.Any]:
        try:
            return {"result": action()}
        except CleanError as exc:
            return {"error": str(exc), "details": exc.details}

    return run_as("nobody", caught)


@pytest.mark.skipif(not IS_ROOT, reason="needs root to switch to nobody")
def test_check_mode_fails_like_the_real_run_on_unreadable_entries() -> None:
    """A directory the cleaning user cannot read: check mode says the clean would stop
    partway (touching nothing), and the real run does stop partway, never reporting success."""
    base = Path(tempfile.mkdtemp(prefix="convox-clean-"))
    try:
        base.chmod(0o755)
        root = base / "volumes"
        make_tree(root, {"r1-a1/db/data/ok": "1", "r1-a1/db/data/secret/inside": "22"})
        for directory, dirnames, filenames in os.walk(root):
            for name in [directory] + [os.path.join(directory, n) for n in dirnames + filenames]:
                os.chown(name, 65534, 65534)
        (root / "r1-a1/db/data/secret").chmod(0o000)
        before = tree_digest(root)
        target = volume(root, "/data")

        predicted = _as_nobody(lambda: clean(target, check_mode=True))
        assert "check mode: the clean would stop partway: 1 entries" in predicted["error"]
        assert predicted["details"]["unreadable"] == [
            f"{root}/r1-a1/db/data/secret: Permission denied"]
        assert tree_digest(root) == before

        real = _as_nobody(lambda: clean(target, busy_timeout=0))
        assert "was only partly cleaned" in real["error"]
        assert "Permission denied" in real["error"]
        assert not (root / "r1-a1/db/data/ok").exists()
        assert (root / "r1-a1/db/data/secret").is_dir()
    finally:
        (base / "volumes/r1-a1/db/data/secret").chmod(0o700)
        shutil.rmtree(base)


@pytest.mark.skipif(not IS_ROOT, reason="needs root to switch to nobody")
def test_a_volume_directory_the_user_cannot_open_fails_every_action_alike() -> None:
    """The volume directory itself is root's and 0700, the cleaning user nobody (root on a
    root-squashed export): check mode refuses a quarantine too, and the real run says it is
    a permission problem, not that the path changed."""
    base = Path(tempfile.mkdtemp(prefix="convox-clean-"))
    try:
        base.chmod(0o755)
        root = base / "volumes"
        make_tree(root, {"r1-a1/db/data/x": "1"})
        (root / "r1-a1/db/data").chmod(0o700)
        for name in (root, root / "r1-a1", root / "r1-a1/db"):
            os.chown(name, 65534, 65534)
        before = tree_digest(root / "r1-a1")
        target = volume(root, "/data")
        for quarantine_it in (True, False):
            predicted = _as_nobody(lambda q=quarantine_it: clean(target, check_mode=True,
                                                                 quarantine_it=q))
            assert "check mode: the clean would stop partway" in predicted["error"]
            real = _as_nobody(lambda q=quarantine_it: clean(target, quarantine_it=q))
            assert f"cannot open {root}/r1-a1/db/data: Permission denied" in real["error"]
            assert "root squashing" in real["error"] and "became" not in real["error"]
            assert tree_digest(root / "r1-a1") == before
            assert not (root / ".convox-trash").exists()
    finally:
        shutil.rmtree(base)


# --- mounts -----------------------------------------------------------------------------------


def _mount_tmpfs(where: Path) -> None:
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount tmpfs here: {done.stderr.strip()}")


@pytest.fixture
def mounted(tmp_path: Path) -> t.Iterator[list[Path]]:
    points: list[Path] = []
    yield points
    for point in reversed(points):
        subprocess.run(["umount", "-l", str(point)], check=False)


@pytest.mark.parametrize("mount_at", ["r1-a1/db/data/deep/mnt", "r1-a1/db/data"])
def test_a_mount_at_or_below_the_volume_fails_naming_it_before_anything_goes(
        tmp_path: Path, mounted: list[Path], mount_at: str) -> None:
    root = tmp_path / "volumes"
    make_tree(root, {"r1-a1/db/data/a": "1", "r1-a1/db/data/deep/b": "2"})
    point = root / mount_at
    _mount_tmpfs(point)
    mounted.append(point)
    (point / "on-the-mount").write_text("other file system")
    before = tree_digest(tmp_path)
    with pytest.raises(CleanError) as caught:
        clean(volume(root, "/data"))
    assert f"{point} is a mount point" in str(caught.value)
    assert caught.value.details["mounts"] == [str(point)]
    assert tree_digest(tmp_path) == before


def test_a_directory_on_another_device_is_never_entered(tmp_path: Path,
                                                        mounted: list[Path]) -> None:
    """The per-directory device check, below the mount table check: survey and delete both
    stop at a directory whose device differs."""
    root = tmp_path / "volumes"
    make_tree(root, {"r1-a1/db/data/a": "1"})
    point = root / "r1-a1/db/data/mnt"
    _mount_tmpfs(point)
    mounted.append(point)
    (point / "keep").write_text("kept")
    device = os.lstat(root / "r1-a1/db/data").st_dev
    assert _clean.survey(str(root / "r1-a1/db/data"), device).other_devices == [str(point)]
    deleted = _clean.delete_contents(str(root / "r1-a1/db/data"), device, busy_timeout=0)
    assert (point / "keep").read_text() == "kept"
    assert ("mnt", errno.EXDEV) in {error[:2] for error in deleted.errors}
    assert not (root / "r1-a1/db/data/a").exists()


# --- busy files and errors while deleting -----------------------------------------------------


def _bind_busy_file(volume_dir: Path, name: str) -> Path:
    """A file whose unlink really fails with EBUSY: a file bind-mounted over itself (what a
    silly-renamed NFS file answers, on a local file system)."""
    busy = volume_dir / name
    busy.write_text("held open")
    done = subprocess.run(["mount", "--bind", str(busy), str(busy)], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {done.stderr.strip()}")
    return busy


def test_busy_file_fails_after_deleting_all_else_and_a_rerun_succeeds(
        tmp_path: Path, mounted: list[Path]) -> None:
    root = tmp_path / "volumes"
    make_tree(root, {"r1-a1/db/data/sub/a": "1", "r1-a1/db/data/b": "22",
                     "r1-a1/db/data/sub/deeper/c": "333"})
    target = volume(root, "/data")
    disk = check_on_disk(target)  # checked before the file became busy, as on NFS
    busy = _bind_busy_file(root / "r1-a1/db/data/sub", ".nfs0000000000000001")
    mounted.append(busy)

    started = time.monotonic()
    deleted = _clean.delete_contents(target.host_path, disk.stat.st_dev, busy_timeout=1.0)
    waited = time.monotonic() - started
    assert deleted.passes >= 2 and waited >= 1.0
    assert {code for _where, code, _text in deleted.errors} == {errno.EBUSY, errno.ENOTEMPTY}
    remaining = _clean.survey(target.host_path, disk.stat.st_dev)
    assert remaining.files == 1 and remaining.directories == 1
    message = _clean.explain_failure(target, deleted, remaining, "ext4", 1.0)
    assert "1 busy file remains" in message and "sub/.nfs0000000000000001" in message
    assert "Stop the service first" in message
    assert "remaining 1 files and 1 directories" in message
    assert sorted(p.name for p in (root / "r1-a1/db/data").rglob("*")) == [
        ".nfs0000000000000001", "sub"]

    subprocess.run(["umount", str(busy)], check=True)
    mounted.remove(busy)
    result = clean(target)
    assert result["changed"] is True
    assert list((root / "r1-a1/db/data").iterdir()) == []


def test_busy_file_released_during_the_retries_is_a_success(tmp_path: Path,
                                                            mounted: list[Path]) -> None:
    root = tmp_path / "volumes"
    make_tree(root, {"r1-a1/db/data/sub/a": "1"})
    target = volume(root, "/data")
    disk = check_on_disk(target)
    busy = _bind_busy_file(root / "r1-a1/db/data/sub", ".nfs0000000000000002")
    mounted.append(busy)
    release = threading.Timer(0.8, subprocess.run, args=(["umount", str(busy)],))
    release.start()
    deleted = _clean.delete_contents(target.host_path, disk.stat.st_dev, busy_timeout=10)
    release.join()
    mounted.remove(busy)
    assert deleted.errors == [] and deleted.passes >= 2
    assert list((root / "r1-a1/db/data").iterdir()) == []


def _immutable(path: Path) -> None:
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        pytest.skip(f"chattr +i is not supported here: {done.stderr.strip()}")


def test_permission_error_explains_root_squashing_and_what_remains(tmp_path: Path) -> None:
    root = tmp_path / "volumes"
    make_tree(root, {"r1-a1/db/data/ok/a": "1", "r1-a1/db/data/locked/b": "22",
                     "r1-a1/db/data/c": "333"})
    stuck = root / "r1-a1/db/data/locked/b"
    _immutable(stuck)
    try:
        started = time.monotonic()
        with pytest.raises(CleanError) as caught:
            clean(volume(root, "/data"), busy_timeout=30)
        assert time.monotonic() - started < 10, "a permission error is not retried"
        message = str(caught.value)
        assert "only partly cleaned" in message
        assert "root squashing" in message and "ClientRootAccess" in message
        assert caught.value.details["remaining"] == {"files": 1, "directories": 1, "bytes": 2}
        assert caught.value.details["removed"]["files"] == 2
        assert stuck.read_text() == "22"
        assert not (root / "r1-a1/db/data/ok").exists()
    finally:
        subprocess.run(["chattr", "-i", str(stuck)], check=False)


# --- the lock ---------------------------------------------------------------------------------

HOLDER = """
import sys
sys.path.insert(0, {collections!r})
from ansible_collections.convox.volumes.plugins.module_utils import _clean
lock = _clean.acquire_lock({lock!r}, 3600, "test holder")
print("locked", flush=True)
sys.stdin.readline()
_clean.release_lock(lock)
"""


def test_two_cleans_at_once_one_reports_the_holder(case14: Path) -> None:
    import ansible_collections.convox.volumes as package
    collections = str(Path(package.__path__[0]).parent.parent.parent)
    target = volume(case14)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER.format(collections=collections, lock=target.lock_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        before = tree_digest(case14 / "r1-a1")
        with pytest.raises(LockHeld) as caught:
            clean(target)
        message = str(caught.value)
        assert f"host {socket.gethostname()}, process {holder.pid}, since 20" in message
        assert tree_digest(case14 / "r1-a1") == before
    finally:
        holder.communicate("\n", timeout=30)
    assert clean(target)["changed"] is True
    assert not Path(target.lock_path).exists()


def test_two_module_processes_at_once_never_both_delete(case14: Path, tmp_path: Path) -> None:
    """Real concurrency: two processes race for the lock on the same volume; whatever the
    interleaving, at most one deletes and any loser names the holder."""
    import ansible_collections.convox.volumes as package
    collections = str(Path(package.__path__[0]).parent.parent.parent)
    data = case14 / "r1-a1/db/var/lib/postgresql/data"
    for index in range(20):
        make_tree(data, {f"d{index}/{n}": "x" for n in range(200)})
    script = (f"import sys, json; sys.path.insert(0, {collections!r})\n"
              "from ansible_collections.convox.volumes.plugins.module_utils import _clean\n"
              f"v = _clean.resolve_target(target='rack', rack='r1', app='a1', service='db', "
              f"path={PG!r}, root={str(case14)!r})\n"
              "try:\n"
              "    r = _clean.clean_volume(v, quarantine_it=False, recreate=True, "
              "busy_timeout=1, lock_timeout=3600, check_mode=False)\n"
              "    print(json.dumps({'changed': r['changed'], 'files': r['removed']['files']}))\n"
              "except _clean.LockHeld as exc:\n"
              "    print(json.dumps({'held': str(exc)}))\n")
    runs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
            for _run in range(2)]
    outputs = [json.loads(run.communicate(timeout=120)[0]) for run in runs]
    deleted = [out for out in outputs if out.get("changed")]
    assert len(deleted) == 1 and deleted[0]["files"] == 4002
    for out in outputs:
        if "held" in out:
            assert "another clean holds the lock" in out["held"]
        elif not out.get("changed"):
            assert out == {"changed": False, "files": 0}


@pytest.mark.parametrize("holder, stale", [
    ({"host": "ip-10-0-1-5", "pid": 1, "since_epoch": time.time() - 7200}, True),
    ({"host": "ip-10-0-1-5", "pid": 1, "since_epoch": time.time() - 60}, False),
    # this machine, the process gone: stale at once
    (dict(_clean._machine_identity(), pid=2 ** 22 + 7, since_epoch=time.time()), True),
    # this machine, the process alive
    (dict(_clean._machine_identity(), pid=os.getpid(), since_epoch=time.time()), False),
    # the same host name on another machine (a cloned instance, a container): its PIDs mean
    # nothing here, so only the age counts
    ({"host": socket.gethostname(), "pid": 2 ** 22 + 7, "since_epoch": time.time()}, False),
    (dict(_clean._machine_identity(), boot_id="another-boot", pid=2 ** 22 + 7,
          since_epoch=time.time()), False),
    (dict(_clean._machine_identity(), pid_namespace="pid:[1]", pid=2 ** 22 + 7,
          since_epoch=time.time()), False),
    ({}, False),
])
def test_stale_lock_expiry(case14: Path, holder: dict[str, t.Any], stale: bool) -> None:
    target = volume(case14)
    lock_dir = Path(target.lock_path).parent
    lock_dir.mkdir()
    Path(target.lock_path).write_text(json.dumps(dict(holder, since="then")) if holder else "")
    if stale:
        result = clean(target, lock_timeout=3600)
        assert result["changed"] is True
        assert "replaced a stale lock" in result["warnings"][0]
        assert not Path(target.lock_path).exists()
    else:
        with pytest.raises(LockHeld):
            clean(target, lock_timeout=3600)
        assert (case14 / "r1-a1/db/var/lib/postgresql/data/PG_VERSION").exists()


GUARD_HOLDER = """
import fcntl, os, sys
fd = os.open({guard!r}, os.O_RDWR | os.O_CREAT, 0o644)
fcntl.lockf(fd, fcntl.LOCK_EX)
print("guarded", flush=True)
sys.stdin.readline()
"""


def test_a_stale_takeover_happens_only_inside_the_guard(case14: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """While another process holds the guard (it is judging or releasing a lock), nobody
    replaces a stale lock; once it lets go, the takeover goes through."""
    target = volume(case14)
    lock_dir = Path(target.lock_path).parent
    lock_dir.mkdir()
    stale = json.dumps({"host": "ip-10-0-1-5", "pid": 1, "since_epoch": time.time() - 7200})
    Path(target.lock_path).write_text(stale)
    monkeypatch.setattr(_clean, "GUARD_WAIT", 0.5)
    guard = subprocess.Popen(
        [sys.executable, "-c", GUARD_HOLDER.format(guard=str(lock_dir / ".guard"))],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert guard.stdout is not None and guard.stdout.readline() == "guarded\n"
        with pytest.raises(LockHeld, match="stayed locked for 0.5 s"):
            acquire_lock(target.lock_path, 3600, "test")
        assert Path(target.lock_path).read_text() == stale
    finally:
        guard.communicate("\n", timeout=30)
    lock = acquire_lock(target.lock_path, 3600, "test")
    assert lock.replaced_stale is not None and lock.replaced_stale["host"] == "ip-10-0-1-5"
    assert json.loads(Path(target.lock_path).read_text())["pid"] == os.getpid()
    assert release_lock(lock) is None and not Path(target.lock_path).exists()


def test_a_takeover_never_removes_a_lock_other_than_the_one_it_judged(
        case14: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stale lock is judged; before it is removed, an operator deletes it and another
    clean takes the lock (outside the guard). The taker must leave that fresh lock alone and
    report its holder, not replace it."""
    target = volume(case14)
    Path(target.lock_path).parent.mkdir()
    Path(target.lock_path).write_text(json.dumps({"host": "ip-10-0-1-5", "pid": 1,
                                                  "since_epoch": time.time() - 7200}))
    fresh = {"host": "ip-10-0-7-7", "pid": 77, "since": "now", "since_epoch": time.time()}
    real_age = _clean._holder_age
    swapped = []

    def age_then_swap(*args: t.Any) -> float:
        age = real_age(*args)
        if not swapped:
            os.unlink(target.lock_path)
            assert _clean._create_lock(target.lock_path, fresh)
            swapped.append(True)
        return age

    monkeypatch.setattr(_clean, "_holder_age", age_then_swap)
    with pytest.raises(LockHeld, match="host ip-10-0-7-7, process 77"):
        acquire_lock(target.lock_path, 3600, "test")
    assert json.loads(Path(target.lock_path).read_text()) == fresh
    assert sorted(p.name for p in Path(target.lock_path).parent.iterdir()) == \
        [".guard", "r1-a1-db.lock"]


@pytest.mark.parametrize("lock_timeout", [0, -1])
def test_no_caller_can_take_a_lock_with_a_timeout_of_zero_or_less(
        case14: Path, lock_timeout: float) -> None:
    target = volume(case14)
    held = acquire_lock(target.lock_path, 3600, "holder")
    with pytest.raises(CleanError, match=f"lock_timeout={lock_timeout:g} must be more than 0"):
        acquire_lock(target.lock_path, lock_timeout, "restore")
    assert json.loads(Path(target.lock_path).read_text())["since_epoch"] == \
        held.holder["since_epoch"]
    assert release_lock(held) is None


TAKER = """
import json, sys, time
sys.path.insert(0, {collections!r})
from ansible_collections.convox.volumes.plugins.module_utils import _clean
sys.stdin.readline()
try:
    lock = _clean.acquire_lock({lock!r}, 3600, "taker")
except _clean.LockHeld as exc:
    print(json.dumps({{"held": str(exc)}}), flush=True)
else:
    print(json.dumps({{"won": lock.holder["pid"]}}), flush=True)
    time.sleep(3)
    _clean.release_lock(lock)
"""


def test_many_takers_of_one_stale_lock_exactly_one_wins(case14: Path) -> None:
    """Eight processes find the same stale lock at the same moment: exactly one ends up
    holding the lock, and every other one is told it holds it (none removes its fresh lock
    or names the stale holder)."""
    import ansible_collections.convox.volumes as package
    collections = str(Path(package.__path__[0]).parent.parent.parent)
    target = volume(case14)
    Path(target.lock_path).parent.mkdir()
    Path(target.lock_path).write_text(json.dumps({"host": "ip-10-0-1-5", "pid": 1,
                                                  "since_epoch": time.time() - 7200}))
    takers = [subprocess.Popen([sys.executable, "-c", TAKER.format(collections=collections,
                                                                   lock=target.lock_path)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
              for _taker in range(8)]
    time.sleep(1)  # let them all import; then start them together
    for taker in takers:
        assert taker.stdin is not None
        taker.stdin.write("\n")
        taker.stdin.flush()
    outputs = [json.loads(taker.communicate(timeout=60)[0]) for taker in takers]
    # The winner is whoever created the lock file: the one that removed the stale lock, or
    # one that came by just after on the path without a judgement. Every other one names it.
    winners = [out["won"] for out in outputs if "won" in out]
    assert len(winners) == 1, outputs
    assert winners[0] in [taker.pid for taker in takers]
    for out in outputs:
        if "held" in out:
            assert "another clean holds the lock" in out["held"]
            assert f"process {winners[0]}," in out["held"], out
            assert "ip-10-0-1-5" not in out["held"]
    assert not Path(target.lock_path).exists()


def test_unreadable_lock_expires_by_file_age(case14: Path) -> None:
    target = volume(case14)
    Path(target.lock_path).parent.mkdir()
    Path(target.lock_path).write_text("{half")
    os.utime(target.lock_path, (time.time() - 100, time.time() - 100))
    with pytest.raises(LockHeld, match="unknown holder"):
        acquire_lock(target.lock_path, 1000, "test")
    lock = acquire_lock(target.lock_path, 50, "test")
    assert lock.replaced_stale == {}
    release_lock(lock)
    assert not Path(target.lock_path).exists()


# --- quarantine and restore -------------------------------------------------------------------


def test_quarantine_then_restore_round_trip(case14: Path) -> None:
    data = case14 / "r1-a1/db/var/lib/postgresql/data"
    before = tree_digest(data)
    result = clean(volume(case14), quarantine_it=True)
    trash = Path(result["quarantined_to"])
    assert trash.parent == case14 / ".convox-trash"
    assert trash.name.endswith("-r1-a1-db-var-lib-postgresql-data")
    assert tree_digest(trash) == before
    assert data.is_dir() and not any(data.iterdir())
    record = json.loads(Path(f"{trash}.json").read_text())
    assert record["host_path"] == str(data) and record["container_path"] == PG

    assert clean(volume(case14), quarantine_it=True)["changed"] is False

    restore(volume(case14), str(trash))
    assert tree_digest(data) == before
    assert not trash.exists() and Path(f"{trash}.restored.json").exists()


def test_restore_refuses_a_volume_that_holds_anything(case14: Path) -> None:
    result = clean(volume(case14), quarantine_it=True)
    data = case14 / "r1-a1/db/var/lib/postgresql/data"
    (data / "new").write_text("written since")
    with pytest.raises(CleanError, match="holds 1 entries"):
        restore(volume(case14), result["quarantined_to"])
    assert (data / "new").read_text() == "written since"
    assert Path(result["quarantined_to"], "PG_VERSION").exists()


def test_restore_through_a_component_swapped_for_a_link_moves_nothing(
        case14: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After restore's checks, r1-a1/db/var is replaced by a link to app a2's var: the rename
    goes through descriptors opened without following links, so it is refused, the volume
    stays in the trash and a2's directory gets nothing."""
    result = clean(volume(case14), quarantine_it=True, recreate=False)
    real_check = _clean.check_restore

    def check_then_swap(*args: t.Any) -> _clean.DiskState:
        disk = real_check(*args)
        (case14 / "r1-a1/db/var").rename(case14 / "r1-a1/db/var.moved")
        (case14 / "r1-a1/db/var").symlink_to(case14 / "r1-a2/db/var")
        return disk

    monkeypatch.setattr(_clean, "check_restore", check_then_swap)
    with pytest.raises(CleanError, match="r1-a1/db/var became a symbolic link"):
        restore(volume(case14), result["quarantined_to"])
    assert Path(result["quarantined_to"], "PG_VERSION").read_text() == "16\n"
    assert sorted(p.name for p in (case14 / "r1-a2/db/var/lib/postgresql/data").iterdir()) == \
        ["PG_VERSION"]
    assert Path(f"{result['quarantined_to']}.json").exists()


def test_restore_onto_a_volume_written_after_the_checks_moves_nothing(
        case14: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file appears in the recreated volume between the checks and the rename: rename(2)
    refuses to replace a non-empty directory, so the two versions never mix."""
    result = clean(volume(case14), quarantine_it=True)
    data = case14 / "r1-a1/db/var/lib/postgresql/data"
    real_check = _clean.check_restore

    def check_then_write(*args: t.Any) -> _clean.DiskState:
        disk = real_check(*args)
        (data / "late").write_text("written after the check")
        return disk

    monkeypatch.setattr(_clean, "check_restore", check_then_write)
    with pytest.raises(CleanError, match="is no longer empty"):
        restore(volume(case14), result["quarantined_to"])
    assert [p.name for p in data.iterdir()] == ["late"]
    assert Path(result["quarantined_to"], "PG_VERSION").read_text() == "16\n"


def test_two_quarantines_in_the_same_second_get_distinct_names(case14: Path) -> None:
    first = clean(volume(case14), quarantine_it=True)["quarantined_to"]
    (case14 / "r1-a1/db/var/lib/postgresql/data/again").write_text("1")
    second = clean(volume(case14), quarantine_it=True)["quarantined_to"]
    assert first != second and Path(first).is_dir() and Path(second, "again").exists()


def test_trash_on_another_file_system_refuses_quarantine(tmp_path: Path,
                                                         mounted: list[Path]) -> None:
    root = tmp_path / "volumes"
    make_tree(root, {"r1-a1/db/data/x": "1"})
    _mount_tmpfs(root / ".convox-trash")
    mounted.append(root / ".convox-trash")
    with pytest.raises(CleanError, match="another file system"):
        clean(volume(root, "/data"), quarantine_it=True)
    assert (root / "r1-a1/db/data/x").exists()


def test_many_files_delete_in_parallel_directories(tmp_path: Path) -> None:
    root = tmp_path / "volumes"
    for index in range(12):
        make_tree(root, {f"r1-a1/db/data/d{index}/s/{n}": "ab" for n in range(50)})
    result = clean(volume(root, "/data"))
    assert result["removed"] == {"files": 600, "directories": 24, "bytes": 1200}
    assert list((root / "r1-a1/db/data").iterdir()) == []
    shutil.rmtree(root)


# --- the path changing between the checks and the action --------------------------------------


def _swap_for_link(root: Path) -> None:
    """r1-a1/db/var becomes a link to r1-a2/db/var (the real one is moved aside)."""
    (root / "r1-a1/db/var").rename(root / "r1-a1/db/var.moved")
    (root / "r1-a1/db/var").symlink_to("../../r1-a2/db/var")


def _swap_for_directory(root: Path) -> None:
    """r1-a1/db/var is replaced by a2's real directory, moved there (another inode)."""
    (root / "r1-a1/db/var").rename(root / "r1-a1/db/var.moved")
    (root / "r1-a2/db/var").rename(root / "r1-a1/db/var")


@pytest.mark.parametrize("swap, changed_to", [(_swap_for_link, "a symbolic link"),
                                              (_swap_for_directory, "another directory")])
@pytest.mark.parametrize("quarantine_it, recreate", [(False, True), (False, False),
                                                     (True, True), (True, False)])
def test_a_component_swapped_after_the_checks_is_refused_and_the_other_app_keeps_its_data(
        case14: Path, monkeypatch: pytest.MonkeyPatch, swap: t.Callable[[Path], None],
        changed_to: str, quarantine_it: bool, recreate: bool) -> None:
    real_acquire = _clean.acquire_lock

    def acquire_then_swap(*args: t.Any, **kwargs: t.Any) -> _clean.LockInfo:
        lock = real_acquire(*args, **kwargs)
        swap(case14)  # between the checks and the delete, on the real disk
        return lock

    monkeypatch.setattr(_clean, "acquire_lock", acquire_then_swap)
    # where a2's volume is after the swap: in place, or moved under a1's name
    other = case14 / ("r1-a1/db/var" if swap is _swap_for_directory else "r1-a2/db/var")
    with pytest.raises(CleanError) as caught:
        clean(volume(case14), quarantine_it=quarantine_it, recreate=recreate)
    assert f"r1-a1/db/var became {changed_to} after the checks" in str(caught.value)
    assert "Nothing was deleted or moved" in str(caught.value)
    assert (other / "lib/postgresql/data/PG_VERSION").read_text() == "16\n"
    assert sorted(p.name for p in (other / "lib/postgresql/data").iterdir()) == ["PG_VERSION"]
    assert (case14 / "r1-a1/db/var.moved/lib/postgresql/data/base/1/1").read_text() == \
        "heap page\n"
    assert not (case14 / ".convox-trash").exists() or \
        list((case14 / ".convox-trash").iterdir()) == []
    assert [p.name for p in (case14 / ".convox-locks").iterdir()] == [".guard"]


# --- a pass without errors is not proof of an empty volume ------------------------------------


def test_a_busy_file_that_appears_at_the_top_after_the_listing_fails_the_clean(
        tmp_path: Path, mounted: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """NFS renames an open file to .nfsXXXX when it is unlinked: the pass that deleted the
    file saw no error, yet the volume is not empty."""
    root = tmp_path / "volumes"
    make_tree(root, {"r1-a1/db/data/a": "1", "r1-a1/db/data/sub/b": "22"})
    target = volume(root, "/data")
    real_pass = _clean._delete_pass
    passes: list[int] = []

    def pass_then_silly_rename(*args: t.Any) -> _clean.Tally:
        tally = real_pass(*args)
        if not passes:
            mounted.append(_bind_busy_file(root / "r1-a1/db/data", ".nfs0000000000000003"))
        passes.append(len(tally.errors))
        return tally

    monkeypatch.setattr(_clean, "_delete_pass", pass_then_silly_rename)
    started = time.monotonic()
    with pytest.raises(CleanError) as caught:
        clean(target, busy_timeout=1.0)
    assert time.monotonic() - started >= 1.0 and len(passes) >= 2, "busy files are retried"
    message = str(caught.value)
    assert "only partly cleaned" in message and "1 busy file remains" in message
    assert ".nfs0000000000000003" in message
    assert caught.value.details["remaining"] == {"files": 1, "directories": 0, "bytes": 9}
    assert caught.value.details["removed"] == {"files": 2, "directories": 1, "bytes": 3}
    assert [p.name for p in (root / "r1-a1/db/data").iterdir()] == [".nfs0000000000000003"]


# --- an entry that vanishes while being deleted ------------------------------------------------


@pytest.mark.parametrize("vanishing", [".nfs0000000000000004", "sub/.nfs0000000000000005"])
def test_a_file_that_vanishes_before_its_unlink_counts_as_gone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, vanishing: str) -> None:
    """The holder of a .nfsXXXX file closes it between the listing and the unlink: the
    server removes it, and the unlink answers ENOENT."""
    root = tmp_path / "volumes"
    make_tree(root, {"r1-a1/db/data/a": "1", "r1-a1/db/data/sub/b": "22",
                     f"r1-a1/db/data/{vanishing}": "held"})
    real_unlink = _clean._unlink
    vanished: list[str] = []

    def holder_closes_first(dir_fd: int, name: str, where: str, tally: _clean.Tally) -> None:
        if name.startswith(".nfs"):
            os.unlink(name, dir_fd=dir_fd)  # really gone before the clean's unlink
            vanished.append(where)
        real_unlink(dir_fd, name, where, tally)

    monkeypatch.setattr(_clean, "_unlink", holder_closes_first)
    result = clean(volume(root, "/data"), busy_timeout=0)
    assert vanished == [vanishing]
    assert result["changed"] is True and result["recreated"] is True
    assert result["removed"] == {"files": 2, "directories": 1, "bytes": 3}
    assert list((root / "r1-a1/db/data").iterdir()) == []


# --- check mode predicts the real run ---------------------------------------------------------


@pytest.mark.parametrize("files", [{}, {"a": "1", "sub/b": "22"}], ids=["empty", "full"])
@pytest.mark.parametrize("quarantine_it, recreate", [(False, True), (False, False),
                                                     (True, True), (True, False)])
def test_check_mode_predicts_the_real_run(tmp_path: Path, files: dict[str, str],
                                          quarantine_it: bool, recreate: bool) -> None:
    root = tmp_path / "volumes"
    (root / "r1-a1/db/data").mkdir(parents=True)
    make_tree(root / "r1-a1/db/data", files)
    target = volume(root, "/data")
    before = tree_digest(root)
    predicted = clean(target, quarantine_it=quarantine_it, recreate=recreate, check_mode=True)
    assert tree_digest(root) == before
    real = clean(target, quarantine_it=quarantine_it, recreate=recreate)
    assert predicted["changed"] is real["changed"]
    assert predicted["recreated"] is real["recreated"]
    nothing_to_do = not files and recreate
    assert real["changed"] is not nothing_to_do
    assert (root / "r1-a1/db/data").is_dir() is recreate
    trash = root / ".convox-trash"
    moved = sorted(p.name for p in trash.iterdir() if p.is_dir()) if trash.exists() else []
    assert len(moved) == (1 if quarantine_it and not nothing_to_do else 0)
    assert clean(target, quarantine_it=quarantine_it, recreate=recreate)["changed"] is False


# --- deep trees ---------------------------------------------------------------------------------


def _deep_tree(base: Path, depth: int) -> None:
    """depth nested directories 'd' with one file at each level, made through descriptors
    (the path of the deepest one is longer than most tools like)."""
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _level in range(depth):
            with open(os.open("f", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "w") as handle:
                handle.write("x")
            os.mkdir("d", dir_fd=fd)
            child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
    finally:
        os.close(fd)


def test_a_very_deep_tree_is_deleted_with_few_descriptors(tmp_path: Path) -> None:
    import resource
    root = tmp_path / "volumes"
    (root / "r1-a1/db/data").mkdir(parents=True)
    depth = 1500  # recursion stopped near 600 levels; one descriptor a level needs 1500
    _deep_tree(root / "r1-a1/db/data", depth)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))
    try:
        result = clean(volume(root, "/data"))
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert result["removed"] == {"files": depth, "directories": depth, "bytes": depth}
    assert list((root / "r1-a1/db/data").iterdir()) == []


def test_a_directory_moved_up_while_deleting_is_not_left_through_the_wrong_parent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Going back up opens '..' and checks it is the directory that was entered: when the
    deepest directory is moved elsewhere mid-delete, the clean stops there and reports it."""
    root = tmp_path / "volumes"
    make_tree(root, {"r1-a1/db/data/a/b/c/file": "1", "r1-a1/db/keep/x": "2"})
    real_clear = _clean._clear_files

    def move_c_away_when_reached(dir_fd: int, relative: str, tally: _clean.Tally) -> list[str]:
        found = real_clear(dir_fd, relative, tally)
        if relative == "a/b/c":
            (root / "r1-a1/db/data/a/b/c").rename(root / "r1-a1/db/keep/c")
        return found

    monkeypatch.setattr(_clean, "_clear_files", move_c_away_when_reached)
    with pytest.raises(CleanError) as caught:
        clean(volume(root, "/data"), busy_timeout=0)
    assert "a/b/c: the directory was moved while it was being deleted" in str(caught.value)
    assert (root / "r1-a1/db/keep/x").read_text() == "2"
    assert (root / "r1-a1/db/keep/c").is_dir()


# --- over-broad roots -----------------------------------------------------------------------------


@pytest.mark.parametrize("root, message", [
    ("", "root '' is empty: give the volumes root, e.g. root=/volumes, or leave root out"),
    ("  ", "root '  ' is empty"),
    ("/", "root '/' is '/', the whole host"),
    ("//", "root '//' is '/', the whole host"),
    ("/proc", "root '/proc' is inside /proc, a kernel or runtime file system"),
    ("/sys/fs/cgroup", "root '/sys/fs/cgroup' is inside /sys"),
    ("/dev", "root '/dev' is inside /dev"),
    ("/run/docker", "root '/run/docker' is inside /run"),
    ("/var/run/", "root '/var/run/' is inside /var/run"),
])
def test_over_broad_roots_are_refused_naming_the_input(root: str, message: str) -> None:
    with pytest.raises(VolumeRuleError) as caught:
        resolve_target(target="rack", rack="r1", app="a1", service="db", path="/data",
                       root=root)
    assert message in str(caught.value)


@pytest.mark.parametrize("lock_timeout", [0, 0.0, -5])
def test_lock_timeout_must_be_positive(case14: Path, lock_timeout: float) -> None:
    before = tree_digest(case14)
    with pytest.raises(CleanError) as caught:
        clean(volume(case14), lock_timeout=lock_timeout)
    assert f"lock_timeout={lock_timeout:g} must be more than 0 seconds" in str(caught.value)
    assert "use the default 3600" in str(caught.value)
    assert tree_digest(case14) == before


def test_a_volume_swapped_just_before_the_quarantine_rename_is_put_back(
        case14: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After the descriptors are open, a1's volume is moved aside and a2's moved into its
    place: the rename would take a2's data to the trash, so it is undone and refused."""
    real_trash_name = _clean.trash_name
    a1 = case14 / "r1-a1/db/var/lib/postgresql/data"
    a2 = case14 / "r1-a2/db/var/lib/postgresql/data"

    def swap_then_name(*args: t.Any) -> str:
        a1.rename(a1.with_name("data.a1"))
        a2.rename(a1)
        return real_trash_name(*args)

    monkeypatch.setattr(_clean, "trash_name", swap_then_name)
    with pytest.raises(CleanError) as caught:
        clean(volume(case14), quarantine_it=True)
    assert f"{a1} became another entry after the checks" in str(caught.value)
    assert (a1 / "PG_VERSION").read_text() == "16\n"  # a2's data, back where it was put
    assert sorted(p.name for p in a1.iterdir()) == ["PG_VERSION"]
    assert list((case14 / ".convox-trash").iterdir()) == []


@pytest.mark.parametrize("fstype, network", [("nfs4", True), ("nfs", True),
                                             ("fuse.sshfs", True), ("ext4", False),
                                             ("xfs", False), ("tmpfs", False),
                                             ("overlay", False), ("unknown", False)])
def test_threads_follow_the_file_system(fstype: str, network: bool) -> None:
    """Many threads hide NFS round trips; on a local file system more threads than CPUs only
    slow the delete down (tests/bench/clean.sh measures it)."""
    workers = _clean.workers_for(fstype)
    if network:
        assert workers == _clean.DELETE_WORKERS
    else:
        assert workers == max(1, min(_clean.DELETE_WORKERS, len(os.sched_getaffinity(0))))
