# SPDX-License-Identifier: GPL-3.0-or-later
"""The live mount table: parsing mountinfo and comparing the wanted mount with it."""
from __future__ import annotations

import pytest

from ansible_collections.convox.volumes.plugins.module_utils import _efs, _mounts

# As Linux 6.1 writes them for an NFSv4.1 mount with the EFS options.
EFS_SUPER = ("rw,vers=4.1,rsize=1048576,wsize=1048576,namlen=255,hard,noresvport,proto=tcp,"
             "timeo=600,retrans=2,sec=sys,clientaddr=10.0.1.10,local_lock=none,addr=10.0.1.25")
ROOT = "22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro"
NFS = f"45 22 0:40 / /volumes rw,relatime shared:25 - nfs4 10.0.1.25:/ {EFS_SUPER}"
NFS_DNS = NFS.replace(" 10.0.1.25:/ ", " us-east-1a.fs-0000aaaa.efs.us-east-1.amazonaws.com:/ ")
STACKED = "46 45 0:41 / /volumes rw,relatime shared:26 - nfs4 10.0.2.25:/ " + EFS_SUPER
WANTED = _efs.merge_options(None)


def test_parse_mountinfo_fields() -> None:
    entry = _mounts.parse_mountinfo(ROOT + "\n" + NFS + "\n")[1]
    assert entry.mount_id == 45 and entry.parent_id == 22
    assert (entry.mount_point, entry.fstype, entry.source) == ("/volumes", "nfs4", "10.0.1.25:/")
    assert entry.mount_options == ("rw", "relatime")
    assert "timeo=600" in entry.super_options and "vers=4.1" in entry.options


def test_parse_mountinfo_without_optional_fields_and_with_escapes() -> None:
    line = "50 22 0:45 / /my\\040vols rw,relatime - tmpfs none rw"
    entry = _mounts.parse_mountinfo(line)[0]
    assert (entry.mount_point, entry.fstype, entry.source) == ("/my vols", "tmpfs", "none")


@pytest.mark.parametrize("table, expected_source", [
    ([ROOT], None),
    ([ROOT, NFS], "10.0.1.25:/"),
    ([ROOT, NFS.replace(" /volumes ", " /volumes/sub ")], None),
])
def test_single_mount_at(table: list[str], expected_source: str | None) -> None:
    entry = _mounts.single_mount_at(_mounts.parse_mountinfo("\n".join(table)), "/volumes/")
    assert (entry.source if entry else None) == expected_source


def test_stacked_mounts_are_an_error_that_says_so() -> None:
    table = _mounts.parse_mountinfo("\n".join([ROOT, NFS, STACKED]))
    with pytest.raises(_mounts.MountTableError,
                       match="2 file systems are stacked on /volumes .*10.0.1.25:/.*10.0.2.25:/"):
        _mounts.single_mount_at(table, "/volumes")


def live_options(line: str = NFS) -> tuple[str, ...]:
    return _mounts.parse_mountinfo(line)[0].options


@pytest.mark.parametrize("user_options, expected", [
    pytest.param(None, [], id="defaults-match"),
    pytest.param({"timeo": 300}, ["timeo: live 600, wanted 300"], id="timeo-changed"),
    pytest.param({"rsize": 65536, "retrans": 3},
                 ["retrans: live 2, wanted 3", "rsize: live 1048576, wanted 65536"],
                 id="two-values"),
    pytest.param({"soft": True}, ["recovery: live hard, wanted soft"], id="soft"),
    pytest.param({"noresvport": False}, ["noresvport: live set, wanted unset"],
                 id="dropped-flag"),
    pytest.param({"vers": "4.2"}, ["vers: live 4.1, wanted 4.2"], id="version"),
    pytest.param({"nfsvers": "4"}, [], id="major-version-accepts-4.1"),
    pytest.param({"nofail": False}, [], id="fstab-only-never-remount"),
    pytest.param({"x-systemd.automount": True}, [], id="fstab-only-added"),
    pytest.param({"actimeo": 30}, [], id="not-shown-not-compared"),
    pytest.param({"ro": True}, ["access: live rw, wanted ro"], id="read-only"),
])
def test_option_differences(user_options: dict | None, expected: list[str]) -> None:
    wanted = _efs.merge_options(user_options)
    assert _mounts.option_differences(wanted, live_options()) == expected


def test_reordered_options_are_no_change() -> None:
    reordered = list(reversed(WANTED))
    assert _mounts.option_differences(reordered, live_options()) == []


def test_live_mount_without_noresvport_differs_from_the_defaults() -> None:
    line = NFS.replace("hard,noresvport,", "hard,")
    assert _mounts.option_differences(WANTED, live_options(line)) == [
        "noresvport: live unset, wanted set"]


@pytest.mark.parametrize("wanted, live, tls, same", [
    ("10.0.1.25:/", "10.0.1.25:/", False, True),
    ("10.0.1.25:/", "10.0.1.25:", False, True),
    ("10.0.1.25:/", "10.0.1.26:/", False, False),
    pytest.param("10.0.1.25:/", "us-east-1a.fs-0000aaaa.efs.us-east-1.amazonaws.com:/", False,
                 False, id="new-source"),
    ("US-EAST-1A.fs-0000aaaa.efs.us-east-1.amazonaws.com:/",
     "us-east-1a.fs-0000aaaa.efs.us-east-1.amazonaws.com:/", False, True),
    ("10.0.1.25:/apps", "10.0.1.25:/", False, False),
    ("fs-0000aaaa:/", "127.0.0.1:/", True, True),
    ("fs-0000aaaa:/", "10.0.1.25:/", True, False),
])
def test_same_source(wanted: str, live: str, tls: bool, same: bool) -> None:
    assert _mounts.same_source(wanted, live, tls=tls) is same


def test_unverifiable_options_are_named() -> None:
    wanted = _efs.merge_options({"actimeo": 30, "lookupcache": "pos"})
    assert _mounts.unverifiable_options(wanted) == ["actimeo=30"]


def test_read_mountinfo_of_this_process() -> None:
    table = _mounts.read_mountinfo()
    assert any(entry.mount_point == "/" for entry in table)


@pytest.mark.parametrize("user_options, expected", [
    pytest.param({"acregmin": 3, "acdirmax": 60}, [], id="kernel-default-not-shown"),
    pytest.param({"acregmin": 10}, ["acregmin: live 3, wanted 10"], id="hidden-default-changed"),
    pytest.param({"lookupcache": "all"}, [], id="lookupcache-all-not-shown"),
    pytest.param({"lookupcache": "positive"}, ["lookupcache: live all, wanted pos"],
                 id="lookupcache-positive-shown-as-pos"),
    pytest.param({"port": 2049, "nconnect": 1}, [], id="port-and-nconnect-defaults"),
    pytest.param({"mountport": 635}, [], id="value-never-shown-on-v4"),
    pytest.param({"sec": "sys", "proto": "tcp", "local_lock": "none"}, [],
                 id="shown-values-equal"),
])
def test_values_the_kernel_hides_at_their_default(user_options: dict,
                                                  expected: list[str]) -> None:
    """Linux leaves acregmin, lookupcache=all, port=2049... out of the mount table: asking
    for the default must not remount on every run, asking for another value must."""
    assert _mounts.option_differences(_efs.merge_options(user_options), live_options()) \
        == expected


LOWERED = NFS.replace("rsize=1048576,wsize=1048576", "rsize=262144,wsize=1044480")


@pytest.mark.parametrize("live_line, asked_before, expected", [
    pytest.param(LOWERED, WANTED, [], id="server-lowered-the-asked-sizes"),
    pytest.param(LOWERED, (), [], id="mounted-by-hand-nothing-known"),
    pytest.param(LOWERED, ["rsize=65536", "wsize=65536"],
                 ["rsize: live 262144, wanted 1048576", "wsize: live 1044480, wanted 1048576"],
                 id="asked-for-less-before-so-a-raise-remounts"),
    pytest.param(NFS, ["rsize=65536"], [], id="live-equal-to-wanted"),
])
def test_rsize_and_wsize_lowered_by_the_server(live_line: str, asked_before: list[str],
                                               expected: list[str]) -> None:
    assert _mounts.option_differences(WANTED, live_options(live_line), asked_before) \
        == expected


def test_a_bigger_live_size_than_wanted_always_remounts() -> None:
    wanted = _efs.merge_options({"rsize": 65536})
    assert _mounts.option_differences(wanted, live_options(), wanted) == [
        "rsize: live 1048576, wanted 65536"]
