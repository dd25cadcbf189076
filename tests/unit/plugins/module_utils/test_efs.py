# SPDX-License-Identifier: GPL-3.0-or-later
"""Mount target selection, source choice and mount options: the pure part of EFS."""
from __future__ import annotations

import typing as t

import pytest

from ansible_collections.convox.volumes.plugins.module_utils import _efs, _fstab

FS = "fs-0000aaaa"


def target(az: str, state: str = "available", ip: str | None = "10.0.1.25",
           target_id: str | None = None) -> dict[str, t.Any]:
    return {"mount_target_id": target_id or f"fsmt-{az}", "availability_zone_name": az,
            "availability_zone_id": None, "subnet_id": None, "ip_address": ip,
            "life_cycle_state": state}


def no_dns(name: str) -> str | None:
    return None


def dns_for(*names: str) -> t.Callable[[str], str | None]:
    return lambda name: "10.0.9.9" if name in names else None


@pytest.mark.parametrize("targets, expected", [
    ([target("us-east-1a"), target("us-east-1b", "creating", None)], {"us-east-1a": "10.0.1.25"}),
    ([target("us-east-1a", "creating", "10.0.1.25")], {}),
    ([target("us-east-1a", ip=None)], {}),
    ([target("us-east-1a", "deleting")], {}),
    ([target("us-east-1a"), target("us-east-1b", ip="10.0.2.25")],
     {"us-east-1a": "10.0.1.25", "us-east-1b": "10.0.2.25"}),
    ([target("us-east-1a", ip="10.0.1.99", target_id="fsmt-2"),
      target("us-east-1a", ip="10.0.1.25", target_id="fsmt-1")], {"us-east-1a": "10.0.1.25"}),
    ([], {}),
])
def test_mount_targets_by_az_keeps_only_available_targets_with_an_ip(
        targets: list[dict[str, t.Any]], expected: dict[str, str]) -> None:
    assert _efs.mount_targets_by_az(targets) == expected


def test_mount_target_from_api() -> None:
    raw = {"MountTargetId": "fsmt-1", "FileSystemId": FS, "SubnetId": "subnet-1",
           "LifeCycleState": "creating", "AvailabilityZoneName": "us-east-1b",
           "AvailabilityZoneId": "use1-az2", "OwnerId": "123456789012"}
    assert _efs.mount_target_from_api(raw) == {
        "mount_target_id": "fsmt-1", "availability_zone_name": "us-east-1b",
        "availability_zone_id": "use1-az2", "subnet_id": "subnet-1", "ip_address": None,
        "life_cycle_state": "creating"}


CREATING_IN_B = [target("us-east-1a", ip="10.0.1.25"), target("us-east-1b", "creating", None)]


def choose(**overrides: t.Any) -> _efs.SourceChoice:
    arguments: dict[str, t.Any] = dict(file_system_id=FS, region="us-east-1",
                                       availability_zone="us-east-1b",
                                       mount_targets=CREATING_IN_B, allow_cross_az=False,
                                       resolve=no_dns)
    arguments.update(overrides)
    return _efs.choose_source(**arguments)


def test_no_available_target_in_the_instance_az_names_both_azs() -> None:
    with pytest.raises(_efs.EfsError) as caught:
        choose()
    assert "no available target in us-east-1b; available: us-east-1a" in str(caught.value)
    assert "allow_cross_az" in str(caught.value)


def test_cross_az_only_when_allowed() -> None:
    choice = choose(allow_cross_az=True)
    assert choice.host == "10.0.1.25"
    assert "allow_cross_az" in choice.reason and "us-east-1a" in choice.reason


def test_instance_az_without_any_target_is_named() -> None:
    with pytest.raises(_efs.EfsError, match="no available target in us-east-1c; available: "
                                            "us-east-1a .there is no target in us-east-1c."):
        choose(availability_zone="us-east-1c")


@pytest.mark.parametrize("mount_targets", [[], {}])
def test_a_file_system_without_mount_targets_says_exactly_that(mount_targets: t.Any) -> None:
    with pytest.raises(_efs.EfsError, match=f"^file system {FS} has no mount targets"):
        choose(mount_targets=_efs.normalise_mount_targets(mount_targets))


def test_no_target_available_anywhere_lists_the_states() -> None:
    with pytest.raises(_efs.EfsError, match=r"no available mount target \(us-east-1a: "
                                            r"creating, us-east-1b: creating without IP\)"):
        choose(mount_targets=[target("us-east-1a", "creating"),
                              target("us-east-1b", "creating", None)],
               allow_cross_az=True)


def test_az_dns_name_wins_when_it_resolves() -> None:
    name = "us-east-1a.fs-0000aaaa.efs.us-east-1.amazonaws.com"
    choice = choose(availability_zone="us-east-1a", resolve=dns_for(name))
    assert choice.host == name and "resolves to 10.0.9.9" in choice.reason


def test_target_ip_when_the_dns_name_does_not_resolve() -> None:
    choice = choose(availability_zone="us-east-1a")
    assert choice.host == "10.0.1.25"
    assert "does not resolve" in choice.reason


def test_dns_is_not_tried_for_an_az_without_a_usable_target() -> None:
    asked: list[str] = []

    def resolve(name: str) -> str:
        asked.append(name)
        return "10.0.9.9"

    assert choose(allow_cross_az=True, resolve=resolve).host == "10.0.1.25"
    assert asked == []


def test_without_known_targets_only_dns_is_tried() -> None:
    name = "us-east-1b.fs-0000aaaa.efs.us-east-1.amazonaws.com"
    assert choose(mount_targets=None, resolve=dns_for(name)).host == name
    with pytest.raises(_efs.EfsError, match="does not resolve .* no mount target IP is known"):
        choose(mount_targets=None)


def test_explicit_mount_target_ip_wins() -> None:
    assert choose(mount_target_ip="10.0.7.7").host == "10.0.7.7"


def test_unknown_az_is_an_error() -> None:
    with pytest.raises(_efs.EfsError, match="availability zone is unknown"):
        choose(availability_zone=None)


def test_region_comes_from_the_az_when_not_given() -> None:
    name = "us-east-1a.fs-0000aaaa.efs.us-east-1.amazonaws.com"
    assert choose(availability_zone="us-east-1a", region=None, resolve=dns_for(name)).host == name


@pytest.mark.parametrize("az, region", [
    ("us-east-1b", "us-east-1"), ("eu-central-2a", "eu-central-2"),
    ("us-west-2-lax-1a", "us-west-2"), ("us-gov-west-1a", "us-gov-west-1"),
    ("cn-north-1a", "cn-north-1"), ("nonsense", None),
])
def test_region_of_az(az: str, region: str | None) -> None:
    assert _efs.region_of_az(az) == region


def test_mapping_form_of_mount_targets() -> None:
    targets = _efs.normalise_mount_targets({"us-east-1a": "10.0.1.25", "us-east-1b": ""})
    assert _efs.mount_targets_by_az(targets) == {"us-east-1a": "10.0.1.25"}


@pytest.mark.parametrize("value", ["10.0.1.25", [1, 2], 7])
def test_bad_mount_targets_value(value: t.Any) -> None:
    with pytest.raises(_efs.EfsError, match="mount_targets must be"):
        _efs.normalise_mount_targets(value)


# ---------------------------------------------------------------- options and the fstab line

DEFAULT_LINE_OPTIONS = ("nfsvers=4.1,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2,"
                        "noresvport,_netdev,nofail")


@pytest.mark.parametrize("user, tls, expected", [
    (None, False, DEFAULT_LINE_OPTIONS),
    ({"timeo": 300}, False, DEFAULT_LINE_OPTIONS.replace("timeo=600", "timeo=300")),
    ({"nofail": False}, False, DEFAULT_LINE_OPTIONS.replace(",nofail", "")),
    ({"soft": True}, False, DEFAULT_LINE_OPTIONS.replace("hard,", "").replace(
        "noresvport,", "noresvport,soft,")),
    ({"vers": "4.2"}, False, DEFAULT_LINE_OPTIONS.replace("nfsvers=4.1", "nfsvers=4.2")),
    ({"resvport": True}, False, DEFAULT_LINE_OPTIONS.replace("noresvport,", "resvport,")),
    ({"actimeo": 30, "noresvport": False}, False,
     DEFAULT_LINE_OPTIONS.replace("noresvport,", "actimeo=30,")),
    (None, True, "tls,_netdev,nofail"),
    ({"timeo": 300}, True, "tls,timeo=300,_netdev,nofail"),
])
def test_merge_options(user: dict | None, tls: bool, expected: str) -> None:
    assert ",".join(_efs.merge_options(user, tls=tls)) == expected


def test_tls_with_iam_and_access_point() -> None:
    assert _efs.merge_options(None, tls=True, iam=True, accesspoint="fsap-1") == [
        "tls", "iam", "accesspoint=fsap-1", "_netdev", "nofail"]


@pytest.mark.parametrize("user, message", [
    ({"timeo": None}, "options.timeo is None"),
    ({"timeo": "6,0"}, "cannot hold a comma"),
    ({"a=b": 1}, "is not a mount option name"),
    ({"rsize": [1]}, "options.rsize is"),
    ({"_netdev": False}, "options._netdev cannot be false"),
])
def test_bad_options_name_the_option(user: dict, message: str) -> None:
    with pytest.raises(_efs.EfsError, match=message):
        _efs.merge_options(user)


def test_boot_safe_fstab_line() -> None:
    source = "fs-0000aaaa.efs.us-east-1.amazonaws.com:/"
    line = _fstab.render_line(source, "/volumes", _efs.fstype_for(False), _efs.merge_options(None))
    assert line == ("fs-0000aaaa.efs.us-east-1.amazonaws.com:/ /volumes nfs4 nfsvers=4.1,"
                    "rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2,noresvport,_netdev,"
                    "nofail 0 0")


def test_tls_fstab_line() -> None:
    line = _fstab.render_line("fs-0000aaaa:/", "/volumes", _efs.fstype_for(True),
                              _efs.merge_options(None, tls=True))
    assert line == "fs-0000aaaa:/ /volumes efs tls,_netdev,nofail 0 0"


@pytest.mark.parametrize("az, region, expected", [
    ("us-east-1a", "us-east-1", "us-east-1a.fs-0000aaaa.efs.us-east-1.amazonaws.com"),
    ("cn-north-1a", "cn-north-1", "cn-north-1a.fs-0000aaaa.efs.cn-north-1.amazonaws.com.cn"),
])
def test_az_dns_name(az: str, region: str, expected: str) -> None:
    assert _efs.az_dns_name(az, FS, region) == expected


@pytest.mark.parametrize("tags, name, matches", [
    ([{"Key": "Rack", "Value": "r1"}], None, True),
    ([{"Key": "Rack", "Value": "r2"}], None, False),
    ([{"Key": "Name", "Value": "r1-shared-volumes"}], "r1-shared-volumes", True),
    ([{"Key": "Name", "Value": "r1-shared-volumes-old"}], "r1-shared-volumes-old", False),
    ([], None, False),
])
def test_rack_matches(tags: list, name: str | None, matches: bool) -> None:
    raw = {"FileSystemId": FS, "Tags": tags, "Name": name}
    assert _efs.rack_matches(raw, "r1", "Rack") is matches


AZ_A_NAME = "us-east-1a.fs-0000aaaa.efs.us-east-1.amazonaws.com"


@pytest.mark.parametrize("mounted_host, resolve, expected", [
    pytest.param(AZ_A_NAME, no_dns, AZ_A_NAME, id="dns-fails-once-mount-by-name-kept"),
    pytest.param("10.0.1.25", dns_for(AZ_A_NAME), "10.0.1.25", id="dns-answers-again-ip-kept"),
    pytest.param(AZ_A_NAME.upper(), no_dns, AZ_A_NAME, id="case-of-the-name"),
    pytest.param("10.0.2.25", no_dns, "10.0.1.25", id="another-target-is-replaced"),
    pytest.param("us-east-1b.fs-0000aaaa.efs.us-east-1.amazonaws.com", dns_for(AZ_A_NAME),
                 AZ_A_NAME, id="another-az-name-is-replaced"),
    pytest.param(None, dns_for(AZ_A_NAME), AZ_A_NAME, id="nothing-mounted"),
])
def test_a_live_mount_of_the_same_target_is_kept(mounted_host: str | None,
                                                 resolve: t.Callable[[str], str | None],
                                                 expected: str) -> None:
    """The AZ name and the AZ target's IP reach the same target: which one resolved on this
    run must not unmount a working mount."""
    choice = choose(availability_zone="us-east-1a", resolve=resolve, mounted_host=mounted_host)
    assert choice.host == expected
    assert ("kept" in choice.reason) is (expected == (mounted_host or "").lower())


def test_a_live_mount_is_not_kept_when_its_az_has_no_usable_target_any_more() -> None:
    with pytest.raises(_efs.EfsError, match="no available target in us-east-1b"):
        choose(mounted_host="us-east-1b.fs-0000aaaa.efs.us-east-1.amazonaws.com")
