# SPDX-License-Identifier: GPL-3.0-or-later
"""convox_efs_mount on this host, which has no NFS client: the local fallback, the fstab line
(state unmounted and absent), check mode, refusals, and real tmpfs mounts standing in for a
live mount where the kernel allows it."""
from __future__ import annotations

import os
import subprocess
import time
import typing as t
from pathlib import Path
from types import SimpleNamespace

import pytest

from ansible_collections.convox.volumes.plugins.module_utils import _mounts
from ansible_collections.convox.volumes.plugins.modules import convox_efs_mount

FSTAB = ("# /etc/fstab: static file system information.\n"
         "UUID=0a1b / ext4 errors=remount-ro 0 1\n"
         "fs-0000aaaa.efs.us-east-1.amazonaws.com:/ /volumes nfs4 defaults 0 0  # efs\n"
         "/dev/xvdb1 /data ext4 defaults,noatime 0 2   # scratch disk\n")
LINE_OPTIONS = ("nfsvers=4.1,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2,noresvport,"
                "_netdev,nofail")
Run = t.Callable[..., dict[str, t.Any]]


@pytest.fixture
def rack(tmp_path: Path) -> dict[str, Path]:
    fstab = tmp_path / "fstab"
    fstab.write_text(FSTAB)
    return {"fstab": fstab, "path": tmp_path / "volumes"}


def args(rack: dict[str, Path], **extra: t.Any) -> dict[str, t.Any]:
    base = {"path": str(rack["path"]), "fstab": str(rack["fstab"])}
    base.update(extra)
    return base


def warnings_of(result: dict[str, t.Any]) -> str:
    """The warnings as one text (ansible-core 2.19 returns them as mappings with a message)."""
    return " ".join(item if isinstance(item, str) else str(item.get("msg", item))
                    for item in result.get("warnings", []))


def lines_for(fstab: Path, mount_point: Path) -> list[str]:
    return [line for line in fstab.read_text().splitlines()
            if not line.lstrip().startswith("#") and f" {mount_point} " in line]


# ---------------------------------------------------------------- local fallback

@pytest.mark.parametrize("extra, reason", [
    ({"file_system_id": ""}, "no file_system_id was given"),
    ({"file_system_id": "fs-0000aaaa", "supported": False}, "supported is false"),
])
def test_local_fallback_creates_a_local_directory_and_warns(
        run_module: Run, rack: dict[str, Path], extra: dict, reason: str) -> None:
    first = run_module(convox_efs_mount, args(rack, **extra), diff=True)

    assert first["changed"] is True and first["local"] is True
    assert rack["path"].is_dir() and oct(rack["path"].stat().st_mode & 0o777) == "0o755"
    assert rack["path"].stat().st_uid == os.getuid()
    assert rack["fstab"].read_text() == FSTAB
    assert first["fstab_line"] is None and first["mounted"] is False
    warning = warnings_of(first)
    assert reason in warning
    assert "instance-local" in warning and "do not persist across instance replacement" in warning
    assert "not shared" in warning
    assert first["diff"]["after"]["state"] == "directory"

    second = run_module(convox_efs_mount, args(rack, **extra))
    assert second["changed"] is False and "instance-local" in warnings_of(second)


def test_local_fallback_keeps_an_existing_directory_and_its_content(
        run_module: Run, rack: dict[str, Path]) -> None:
    rack["path"].mkdir(mode=0o700)
    (rack["path"] / "keep").write_text("data")
    result = run_module(convox_efs_mount, args(rack))
    assert result["changed"] is False
    assert (rack["path"] / "keep").read_text() == "data"
    assert oct(rack["path"].stat().st_mode & 0o777) == "0o700"


def test_local_fallback_in_check_mode_creates_nothing(
        run_module: Run, rack: dict[str, Path]) -> None:
    result = run_module(convox_efs_mount, args(rack), check_mode=True)
    assert result["changed"] is True and not rack["path"].exists()


def test_local_fallback_warns_about_a_leftover_fstab_line(run_module: Run,
                                                          rack: dict[str, Path]) -> None:
    rack["fstab"].write_text(f"10.0.1.25:/ {rack['path']} nfs4 defaults 0 0\n")
    result = run_module(convox_efs_mount, args(rack))
    assert "still has a line" in warnings_of(result)
    assert rack["fstab"].read_text() == f"10.0.1.25:/ {rack['path']} nfs4 defaults 0 0\n"


def test_local_fallback_refuses_a_file_in_place_of_the_directory(
        run_module: Run, rack: dict[str, Path]) -> None:
    rack["path"].write_text("not a directory")
    result = run_module(convox_efs_mount, args(rack))
    assert result["failed"] and "is not a directory" in result["msg"]


# ---------------------------------------------------------------- the fstab line

def test_unmounted_writes_exactly_one_line_and_keeps_the_rest(run_module: Run,
                                                              rack: dict[str, Path]) -> None:
    original = FSTAB.replace("/volumes", str(rack["path"]))
    rack["fstab"].write_text(original)
    wanted = f"10.0.1.25:/ {rack['path']} nfs4 {LINE_OPTIONS} 0 0"

    first = run_module(convox_efs_mount, args(rack, state="unmounted", source="10.0.1.25:/"),
                       diff=True)

    assert first["changed"] is True and first["fstab_line"] == wanted
    assert lines_for(rack["fstab"], rack["path"]) == [wanted]
    assert rack["fstab"].read_text() == original.replace(
        f"fs-0000aaaa.efs.us-east-1.amazonaws.com:/ {rack['path']} nfs4 defaults 0 0  # efs",
        wanted)
    assert first["diff"][0]["before"] == original
    assert first["diff"][0]["after"] == rack["fstab"].read_text()
    assert first["actions"] == [f"update {rack['fstab']}"]
    assert first["msg"] == (f"{rack['path']} unmounted from 10.0.1.25:/ (source was given): "
                            f"update {rack['fstab']}")

    second = run_module(convox_efs_mount, args(rack, state="unmounted", source="10.0.1.25:/"))
    assert second["changed"] is False and second["actions"] == []


def test_unmounted_with_mount_targets_from_another_az(
        run_module: Run, rack: dict[str, Path]) -> None:
    # The instance's AZ has no usable target, so no DNS name is looked up at all.
    targets = [{"availability_zone_name": "us-east-1a", "ip_address": "10.0.1.25",
                "life_cycle_state": "available", "mount_target_id": "fsmt-1"}]
    result = run_module(convox_efs_mount, args(
        rack, state="unmounted", file_system_id="fs-0000aaaa", region="us-east-1",
        availability_zone="us-east-1b", mount_targets=targets, allow_cross_az=True))
    assert result["source"] == "10.0.1.25:/"
    assert lines_for(rack["fstab"], rack["path"]) == [
        f"10.0.1.25:/ {rack['path']} nfs4 {LINE_OPTIONS} 0 0"]


def test_tls_line_uses_the_efs_type(run_module: Run, rack: dict[str, Path]) -> None:
    result = run_module(convox_efs_mount, args(
        rack, state="unmounted", file_system_id="fs-0000aaaa", tls=True, iam=True))
    assert lines_for(rack["fstab"], rack["path"]) == [
        f"fs-0000aaaa:/ {rack['path']} efs tls,iam,_netdev,nofail 0 0"]
    assert result["changed"] is True


def test_absent_removes_the_line_and_never_the_directory(
        run_module: Run, rack: dict[str, Path]) -> None:
    rack["path"].mkdir()
    (rack["path"] / "app").mkdir()
    (rack["path"] / "app" / "file").write_text("data")
    original = FSTAB.replace("/volumes", str(rack["path"]))
    rack["fstab"].write_text(original)

    first = run_module(convox_efs_mount, args(rack, state="absent"), diff=True)

    assert first["changed"] is True
    assert rack["fstab"].read_text() == "".join(
        line for line in original.splitlines(keepends=True) if "# efs" not in line)
    assert (rack["path"] / "app" / "file").read_text() == "data"
    second = run_module(convox_efs_mount, args(rack, state="absent"))
    assert second["changed"] is False


def test_fstab_is_created_when_missing(run_module: Run, rack: dict[str, Path]) -> None:
    rack["fstab"].unlink()
    run_module(convox_efs_mount, args(rack, state="unmounted", source="10.0.1.25:/"))
    assert oct(rack["fstab"].stat().st_mode & 0o777) == "0o644"
    assert len(rack["fstab"].read_text().splitlines()) == 1


# ---------------------------------------------------------------- check mode

@pytest.mark.parametrize("state", ["mounted", "unmounted"])
def test_check_mode_reports_and_changes_nothing(run_module: Run, rack: dict[str, Path],
                                                state: str) -> None:
    result = run_module(convox_efs_mount, args(rack, state=state, source="10.0.1.25:/"),
                        check_mode=True, diff=True)
    assert result["changed"] is True
    assert rack["fstab"].read_text() == FSTAB and not rack["path"].exists()
    fstab_diff, mount_diff = result["diff"]
    assert f"10.0.1.25:/ {rack['path']} nfs4 {LINE_OPTIONS} 0 0" in fstab_diff["after"]
    assert mount_diff["before"] == ""
    if state == "mounted":
        assert result["actions"][0] == "mount 10.0.1.25:/"
        assert mount_diff["after"].startswith("10.0.1.25:/ nfs4 nfsvers=4.1,")
        assert "_netdev" not in mount_diff["after"]
    else:
        assert mount_diff["after"] == ""


# ---------------------------------------------------------------- data is never hidden

@pytest.mark.parametrize("check_mode", [False, True])
def test_a_non_empty_unmounted_path_is_refused(
        run_module: Run, rack: dict[str, Path], check_mode: bool) -> None:
    rack["path"].mkdir()
    for name in ("r1-a1", "r1-a2", ".hidden"):
        (rack["path"] / name).mkdir()
    result = run_module(convox_efs_mount, args(rack, source="10.0.1.25:/"),
                        check_mode=check_mode)
    assert result["failed"] is True
    assert f"{rack['path']} is not mounted and holds 3 entries" in result["msg"]
    assert "migrate_local=true" in result["msg"]
    assert rack["fstab"].read_text() == FSTAB
    assert sorted(os.listdir(rack["path"])) == [".hidden", "r1-a1", "r1-a2"]


def test_migrate_local_in_check_mode_says_what_it_would_copy(run_module: Run,
                                                             rack: dict[str, Path]) -> None:
    rack["path"].mkdir()
    (rack["path"] / "r1-a1").mkdir()
    result = run_module(convox_efs_mount, args(rack, source="10.0.1.25:/", migrate_local=True),
                        check_mode=True)
    assert "migrate 1 local entries into 10.0.1.25:/" in result["actions"]
    assert os.listdir(rack["path"]) == ["r1-a1"]


# ---------------------------------------------------------------- refusals before anything

TARGETS_CREATING_IN_B = [
    {"availability_zone_name": "us-east-1a", "ip_address": "10.0.1.25",
     "life_cycle_state": "available", "mount_target_id": "fsmt-1"},
    {"availability_zone_name": "us-east-1b", "ip_address": None,
     "life_cycle_state": "creating", "mount_target_id": "fsmt-2"},
]


@pytest.mark.parametrize("extra, message", [
    ({"file_system_id": "fs-0000aaaa", "availability_zone": "us-east-1b",
      "mount_targets": TARGETS_CREATING_IN_B},
     "no available target in us-east-1b; available: us-east-1a"),
    ({"file_system_id": "fs-0000aaaa", "availability_zone": "us-east-1b", "mount_targets": []},
     "file system fs-0000aaaa has no mount targets"),
    ({"file_system_id": "fs-0000aaaa", "availability_zone": "us-east-1b", "mount_targets": {}},
     "mount_targets is an empty mapping: file system fs-0000aaaa has no available mount "
     "target (none at all, or all still 'creating')"),
    ({"file_system_id": "fs-0000aaaa", "mount_targets": {"us-east-1a": "10.0.1.25"}},
     "availability zone is unknown"),
    ({"file_system_id": "0000aaaa"}, "'0000aaaa' is not an EFS file system ID"),
    ({"source": "10.0.1.25"}, "source '10.0.1.25' is not 'host:/path'"),
    ({"source": "10.0.1.25:/", "options": {"timeo": None}}, "options.timeo is None"),
    ({"source": "10.0.1.25:/", "iam": True}, "iam and accesspoint need tls=true"),
    ({"tls": True, "file_system_id": ""}, "tls=true needs file_system_id"),
    ({"source": "10.0.1.25:/", "mount_retries": 0}, "mount_retries must be at least 1"),
    ({"source": "10.0.1.25:/", "timeout": 0}, "timeout must be a positive number"),
    ({"state": "unmounted"}, "state=unmounted writes an fstab line"),
    ({"source": "10.0.1.25:/", "path": "/srv/../volumes"}, "'..' component"),
])
def test_bad_input_fails_and_changes_nothing(run_module: Run, rack: dict[str, Path],
                                             extra: dict, message: str) -> None:
    result = run_module(convox_efs_mount, args(rack, **extra))
    assert result["failed"] is True
    assert message in result["msg"]
    assert rack["fstab"].read_text() == FSTAB and not rack["path"].exists()


def test_cross_az_when_allowed(run_module: Run, rack: dict[str, Path]) -> None:
    result = run_module(convox_efs_mount, args(
        rack, file_system_id="fs-0000aaaa", availability_zone="us-east-1b",
        mount_targets=TARGETS_CREATING_IN_B, allow_cross_az=True), check_mode=True)
    assert result["source"] == "10.0.1.25:/"
    assert "allow_cross_az" in result["source_reason"]


# ---------------------------------------------------------------- real (non-NFS) mounts

def _mount_tmpfs(path: Path) -> None:
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "convox-test", str(path)],
                   check=True, capture_output=True)


@pytest.fixture
def tmpfs_mounts(rack: dict[str, Path]) -> t.Iterator[t.Callable[[int], None]]:
    """mount(n): stack n tmpfs mounts on the rack's path; they are unmounted afterwards."""
    mounted: list[Path] = []

    def mount(count: int) -> None:
        rack["path"].mkdir(exist_ok=True)
        for _attempt in range(count):
            try:
                _mount_tmpfs(rack["path"])
            except (subprocess.CalledProcessError, FileNotFoundError) as exc:
                pytest.skip(f"cannot mount tmpfs here: {exc}")
            mounted.append(rack["path"])

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", str(path)], check=False)


def test_stacked_mounts_are_an_error(run_module: Run, rack: dict[str, Path],
                                     tmpfs_mounts: t.Callable[[int], None]) -> None:
    tmpfs_mounts(2)
    result = run_module(convox_efs_mount, args(rack, source="10.0.1.25:/"))
    assert result["failed"] is True
    assert f"2 file systems are stacked on {rack['path']}" in result["msg"]
    assert rack["fstab"].read_text() == FSTAB


@pytest.mark.parametrize("state", ["mounted", "absent"])
def test_a_mount_that_is_not_nfs_is_left_alone(run_module: Run, rack: dict[str, Path],
                                               tmpfs_mounts: t.Callable[[int], None],
                                               state: str) -> None:
    tmpfs_mounts(1)
    result = run_module(convox_efs_mount, args(rack, source="10.0.1.25:/", state=state))
    assert result["failed"] is True and "which is not NFS" in result["msg"]
    assert rack["fstab"].read_text() == FSTAB
    assert any(f" {rack['path']} " in line for line in Path("/proc/self/mountinfo").read_text()
               .splitlines())


def test_local_fallback_keeps_a_local_disk_mounted_there(
        run_module: Run, rack: dict[str, Path], tmpfs_mounts: t.Callable[[int], None]) -> None:
    tmpfs_mounts(1)
    result = run_module(convox_efs_mount, args(rack))
    assert result["changed"] is False and result["local"] is True


# ---------------------------------------------------------------- a mount that fails

def test_a_failed_mount_is_retried_then_reported_and_fstab_is_kept(
        run_module: Run, rack: dict[str, Path]) -> None:
    # This kernel has no NFS client, so every attempt fails; 127.0.0.1 keeps any traffic local.
    result = run_module(convox_efs_mount, args(rack, source="127.0.0.1:/", mount_retries=2,
                                               mount_retry_delay=0, mount_timeout=20))
    assert result["failed"] is True
    assert f"mounting 127.0.0.1:/ at {rack['path']} failed 2 time(s)" in result["msg"]
    assert "attempt 1:" in result["msg"] and "attempt 2:" in result["msg"]
    assert rack["fstab"].read_text() == FSTAB
    assert rack["path"].is_dir() and os.listdir(rack["path"]) == []


def test_a_failed_mount_puts_local_data_back_before_migrating(
        run_module: Run, rack: dict[str, Path]) -> None:
    rack["path"].mkdir(mode=0o750)
    (rack["path"] / "r1-a1").mkdir()
    (rack["path"] / "r1-a1" / "file").write_text("local")
    result = run_module(convox_efs_mount, args(rack, source="127.0.0.1:/", migrate_local=True,
                                               mount_retries=1, mount_timeout=20))
    assert result["failed"] is True and "moved back" in result["msg"]
    assert (rack["path"] / "r1-a1" / "file").read_text() == "local"
    assert oct(rack["path"].stat().st_mode & 0o777) == "0o750"
    assert [entry.name for entry in rack["path"].parent.iterdir()
            if ".local-" in entry.name] == []
    assert rack["fstab"].read_text() == FSTAB


# ---------------------------------------------------------------- the plan against a live NFS mount

LIVE_LOWERED = ("45 22 0:40 / /volumes rw,relatime shared:25 - nfs4 10.0.1.25:/ rw,vers=4.1,"
                "rsize=262144,wsize=262144,namlen=255,hard,noresvport,proto=tcp,timeo=600,"
                "retrans=2,sec=sys,clientaddr=10.0.1.10,local_lock=none,addr=10.0.1.25")


@pytest.mark.parametrize("fstab_options, user_options, reasons", [
    pytest.param(LINE_OPTIONS, {}, [], id="server-lowered-sizes-no-remount"),
    pytest.param("", {"acregmin": 3, "lookupcache": "all"}, [], id="hidden-defaults"),
    pytest.param("nfsvers=4.1,rsize=65536,wsize=65536,hard", {},
                 ["rsize: live 262144, wanted 1048576", "wsize: live 262144, wanted 1048576"],
                 id="sizes-raised-since-the-last-mount"),
    pytest.param(LINE_OPTIONS, {"timeo": 300}, ["timeo: live 600, wanted 300"], id="timeo"),
])
def test_plan_against_a_live_mount_uses_the_fstab_line(fstab_options: str, user_options: dict,
                                                       reasons: list[str]) -> None:
    """The host has no NFS client, so the live entry is the one Linux 6.1 showed on the bed."""
    params = dict(convox_efs_mount_defaults(), options=user_options)
    module = SimpleNamespace(params=params, log=lambda message: None)
    settings = convox_efs_mount.validate(params)
    current = _mounts.parse_mountinfo(LIVE_LOWERED)[0]
    asked_before = tuple(fstab_options.split(",")) if fstab_options else ()
    plan = convox_efs_mount.plan_mount(module, settings, "10.0.1.25:/", current, asked_before)
    assert plan["reasons"] == reasons
    assert plan["unmount"] is plan["mount"] is bool(reasons)


def convox_efs_mount_defaults() -> dict[str, t.Any]:
    return dict(file_system_id="", supported=True, region=None, availability_zone=None,
                mount_targets=None, mount_target_ip=None, allow_cross_az=False,
                source="10.0.1.25:/", path="/volumes", options={}, tls=False, iam=False,
                accesspoint=None, state="mounted", fstab="/etc/fstab", migrate_local=False,
                timeout=10.0, mount_timeout=60.0, mount_retries=3, mount_retry_delay=5.0,
                migrate_timeout=3600.0)


# ---------------------------------------------------------------- case 8: a new source

NFS_FROM_DNS = ("45 22 0:40 / /volumes rw,relatime shared:25 - nfs4 "
                "fs-0000aaaa.efs.us-east-1.amazonaws.com:/ rw,vers=4.1,rsize=1048576,"
                "wsize=1048576,namlen=255,hard,noresvport,proto=tcp,timeo=600,retrans=2,sec=sys,"
                "clientaddr=10.0.1.10,local_lock=none,addr=10.0.1.25")


@pytest.mark.parametrize("user_options, reasons", [
    pytest.param({}, ["source: live fs-0000aaaa.efs.us-east-1.amazonaws.com:/, wanted "
                      "10.0.1.25:/"], id="new-source"),
    pytest.param({"timeo": 300}, ["source: live fs-0000aaaa.efs.us-east-1.amazonaws.com:/, "
                                  "wanted 10.0.1.25:/", "timeo: live 600, wanted 300"],
                 id="new-source-and-timeo"),
])
def test_a_new_source_unmounts_and_mounts_again(user_options: dict, reasons: list[str]) -> None:
    """Case 8: mounted from the regional name with timeo=600, then asked for 10.0.1.25:/."""
    params = dict(convox_efs_mount_defaults(), options=user_options)
    module = SimpleNamespace(params=params, log=lambda message: None)
    settings = convox_efs_mount.validate(params)
    current = _mounts.parse_mountinfo(NFS_FROM_DNS)[0]
    plan = convox_efs_mount.plan_mount(module, settings, "10.0.1.25:/", current,
                                       tuple(LINE_OPTIONS.split(",")))
    assert plan["reasons"] == reasons
    assert plan["unmount"] is True and plan["mount"] is True


# ---------------------------------------------------------------- never hangs: the child

@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    """A FIFO nobody writes to: opening it for reading blocks in the kernel, as every call
    on a hard NFS mount does while its server is gone."""
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


def _block_on(fifo_path: str, pid_file: str) -> bool:
    Path(pid_file).write_text(str(os.getpid()))
    with open(fifo_path, "rb"):
        return True


def test_a_liveness_check_that_blocks_fails_within_its_timeout(
        fifo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pid_file = tmp_path / "child.pid"
    monkeypatch.setattr(convox_efs_mount, "_probe",
                        lambda path: _block_on(str(fifo), str(pid_file)))
    started = time.monotonic()
    with pytest.raises(convox_efs_mount.TaskError) as caught:
        convox_efs_mount.check_alive("/volumes", "10.0.1.25:/", 1.0, "after mounting")
    elapsed = time.monotonic() - started

    assert 1.0 <= elapsed < 3.0, elapsed
    assert str(caught.value).startswith(
        "after mounting: the NFS mount at /volumes (from 10.0.1.25:/) does not answer within "
        "1 s")
    assert "umount -f -l /volumes" in str(caught.value)
    # The blocked child was killed and reaped: no process and no zombie is left.
    assert not Path("/proc", pid_file.read_text()).exists()


def test_a_liveness_check_of_a_missing_path_fails_with_the_error(tmp_path: Path) -> None:
    with pytest.raises(convox_efs_mount.TaskError,
                       match=r"^checking the mount: the mount at .*/gone \(from 10.0.1.25:/\) "
                             r"fails: .*No such file or directory"):
        convox_efs_mount.check_alive(str(tmp_path / "gone"), "10.0.1.25:/", 5.0,
                                     "checking the mount")


def test_a_liveness_check_of_a_live_directory_passes(tmp_path: Path) -> None:
    convox_efs_mount.check_alive(str(tmp_path), "10.0.1.25:/", 5.0, "checking the mount")


def test_a_mount_command_that_hangs_is_stopped_at_its_deadline(
        run_module: Run, rack: dict[str, Path], fifo: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Every attempt is bounded by mount_timeout: a `mount` that blocks is stopped, retried
    mount_retries times, and the task fails with each attempt's reason."""
    shims = tmp_path / "bin"
    shims.mkdir()
    (shims / "mount").write_text(f"#!/bin/sh\nexec cat {fifo}\n")
    (shims / "mount").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shims}:{os.environ['PATH']}")
    started = time.monotonic()
    result = run_module(convox_efs_mount, args(rack, source="10.0.1.25:/", mount_retries=2,
                                               mount_retry_delay=0.5, mount_timeout=1))
    elapsed = time.monotonic() - started

    assert result["failed"] is True
    assert f"mounting 10.0.1.25:/ at {rack['path']} failed 2 time(s)" in result["msg"]
    assert result["msg"].count("did not finish within 1 s and was stopped") == 2
    assert 2.5 <= elapsed < 8, elapsed
    assert rack["fstab"].read_text() == FSTAB
