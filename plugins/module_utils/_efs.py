# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: contributors to the convox.volumes collection
"""The rack's EFS file system: finding it with boto3, choosing the mount target, and the
options and fstab line of the mount.

The discovery functions take a boto3 client (see _aws.py); everything else is pure and is
what the mount module runs on each instance, where boto3 is not needed.
"""
from __future__ import annotations

import re
import typing as t

from ansible_collections.convox.volumes.plugins.module_utils import _aws

USABLE_STATE = "available"
RACK_NAME_SUFFIX = "-shared-volumes"
# File systems in these states are on their way out and never a rack's current one.
_GONE_STATES = ("deleting", "deleted")

# The options recommended for EFS over NFS; `_netdev` and `nofail` are for fstab only.
DEFAULT_NFS_OPTIONS: tuple[tuple[str, t.Any], ...] = (
    ("nfsvers", "4.1"), ("rsize", 1048576), ("wsize", 1048576), ("hard", True),
    ("timeo", 600), ("retrans", 2), ("noresvport", True),
)
FSTAB_TAIL_OPTIONS: tuple[tuple[str, t.Any], ...] = (("_netdev", True), ("nofail", True))
# amazon-efs-utils applies the NFS options above itself; its own options come first.
_ALIASES = {"vers": "nfsvers"}
_EXCLUSIVE = ({"hard", "soft", "softerr"}, {"ro", "rw"}, {"resvport", "noresvport"},
              {"ac", "noac"}, {"fsc", "nofsc"}, {"sharecache", "nosharecache"})
_AZ_REGION = re.compile(r"^((?:[a-z]{2}-)?(?:gov-|iso[a-z]?-)?[a-z]{2,}-[a-z]+-\d+)")


class EfsError(ValueError):
    """The file system or its mount targets do not allow the wanted mount; the message says
    what was found and what to change."""


# ---------------------------------------------------------------- mount target selection

def mount_target_from_api(raw: dict[str, t.Any]) -> dict[str, t.Any]:
    """A DescribeMountTargets item in this collection's names."""
    return {
        "mount_target_id": raw.get("MountTargetId"),
        "availability_zone_name": raw.get("AvailabilityZoneName"),
        "availability_zone_id": raw.get("AvailabilityZoneId"),
        "subnet_id": raw.get("SubnetId"),
        "ip_address": raw.get("IpAddress"),
        "life_cycle_state": raw.get("LifeCycleState"),
    }


def usable_mount_targets(targets: t.Iterable[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
    """The targets a client can mount now: `available`, with an IP address and an AZ."""
    return [target for target in targets
            if target.get("life_cycle_state") == USABLE_STATE and target.get("ip_address")
            and target.get("availability_zone_name")]


def mount_targets_by_az(targets: t.Iterable[dict[str, t.Any]]) -> dict[str, str]:
    """AZ name -> IP of its usable mount target. EFS allows one target per AZ; should two
    appear, the first by mount target id wins so that the answer is stable."""
    by_az: dict[str, str] = {}
    ordered = sorted(usable_mount_targets(targets), key=lambda tg: tg.get("mount_target_id") or "")
    for target in ordered:
        by_az.setdefault(target["availability_zone_name"], target["ip_address"])
    return by_az


def normalise_mount_targets(value: t.Any) -> list[dict[str, t.Any]] | None:
    """The mount module's `mount_targets` option: either the `mount_targets` list returned by
    discovery (with states) or its `mount_targets_by_az` mapping (usable targets only).
    None when not given: nothing is known about the targets."""
    if value is None:
        return None
    if isinstance(value, dict):
        return [{"availability_zone_name": str(az), "ip_address": str(ip),
                 "life_cycle_state": USABLE_STATE, "mount_target_id": None}
                for az, ip in value.items() if ip]
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        return [dict(item) for item in value]
    raise EfsError(f"mount_targets must be the 'mount_targets_by_az' mapping or the "
                   f"'mount_targets' list that convox_efs_info returns; got {value!r}.")


def region_of_az(availability_zone: str) -> str | None:
    """'us-east-1b' -> 'us-east-1'; local zones such as 'us-west-2-lax-1a' -> 'us-west-2'."""
    match = _AZ_REGION.match(availability_zone or "")
    return match.group(1) if match else None


def dns_suffix(region: str) -> str:
    return "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"


def file_system_dns_name(file_system_id: str, region: str) -> str:
    return f"{file_system_id}.efs.{region}.{dns_suffix(region)}"


def az_dns_name(availability_zone: str, file_system_id: str, region: str) -> str:
    """The AZ-specific name, which resolves to the mount target of that AZ."""
    return f"{availability_zone}.{file_system_dns_name(file_system_id, region)}"


class SourceChoice(t.NamedTuple):
    """The host to mount from, and why it was chosen (for -v output)."""

    host: str
    reason: str


def choose_source(*, file_system_id: str, region: str | None, availability_zone: str | None,
                  mount_targets: t.Sequence[dict[str, t.Any]] | None, allow_cross_az: bool,
                  resolve: t.Callable[[str], str | None],
                  mount_target_ip: str | None = None,
                  mounted_host: str | None = None) -> SourceChoice:
    """Where this instance mounts the file system from.

    1. `mount_target_ip`, when given.
    2. `mounted_host`, the host of the live mount, when it is the AZ-specific DNS name or the
       IP of the instance's AZ's usable target: both reach the same target, so a DNS lookup
       that fails (or answers again) once must not unmount a working mount.
    3. The AZ-specific DNS name, when the instance's AZ has a usable target (or the targets
       are not known: `mount_targets` None) and the name resolves.
    4. The IP of the usable target in the instance's AZ.
    5. Another AZ's target, only with `allow_cross_az` (traffic across AZs costs money and
       fails with that AZ).
    `resolve` returns an address for a name or None; it is how the caller looks up DNS.
    """
    if mount_target_ip:
        return SourceChoice(mount_target_ip, "mount_target_ip was given")
    if not availability_zone:
        raise EfsError("the instance's availability zone is unknown: set 'availability_zone' "
                       "(for example from the inventory variable ec2_availability_zone).")
    if mount_targets is not None and not mount_targets:
        raise EfsError(f"file system {file_system_id} has no mount targets: create one in "
                       f"{availability_zone} (or in each AZ of the rack) and run again.")
    region = region or region_of_az(availability_zone)
    usable = mount_targets_by_az(mount_targets or [])

    same_target = set()
    if region and (mount_targets is None or availability_zone in usable):
        same_target.add(az_dns_name(availability_zone, file_system_id, region))
    if availability_zone in usable:
        same_target.add(usable[availability_zone])
    if mounted_host and mounted_host.lower() in same_target:
        return SourceChoice(mounted_host.lower(),
                            f"already mounted from {mounted_host.lower()}, which reaches the "
                            f"mount target of {availability_zone}: kept")

    if region and (mount_targets is None or availability_zone in usable):
        name = az_dns_name(availability_zone, file_system_id, region)
        address = resolve(name)
        if address:
            return SourceChoice(name, f"{name} resolves to {address}")
        dns_note = f"{name} does not resolve (is DNS resolution enabled in the VPC?)"
    elif not region:
        dns_note = f"no region known for AZ {availability_zone!r}, so no DNS name to try"
    else:
        dns_note = f"no usable mount target in {availability_zone}"

    if availability_zone in usable:
        return SourceChoice(usable[availability_zone],
                            f"{dns_note}; using the mount target IP of {availability_zone}")
    if mount_targets is None:
        raise EfsError(f"{dns_note}, and no mount target IP is known: pass 'mount_targets' "
                       f"from convox_efs_info, or 'mount_target_ip'.")
    if not usable:
        states = ", ".join(f"{target.get('availability_zone_name')}: "
                           f"{target.get('life_cycle_state')}"
                           f"{'' if target.get('ip_address') else ' without IP'}"
                           for target in mount_targets)
        raise EfsError(f"file system {file_system_id} has no available mount target "
                       f"({states}). Wait until a target is 'available' and run again.")
    if not allow_cross_az:
        state = next((target.get("life_cycle_state") for target in mount_targets
                      if target.get("availability_zone_name") == availability_zone), None)
        why = (f" (the target in {availability_zone} is {state})" if state
               else f" (there is no target in {availability_zone})")
        raise EfsError(f"file system {file_system_id}: no available target in "
                       f"{availability_zone}; available: {', '.join(sorted(usable))}{why}. "
                       f"Create or wait for a target in {availability_zone}, or set "
                       f"allow_cross_az=true to mount from another AZ.")
    other_az = sorted(usable)[0]
    return SourceChoice(usable[other_az],
                        f"{dns_note}; allow_cross_az is set, so using the mount target of "
                        f"{other_az}")


# ---------------------------------------------------------------- mount options

def _canonical(name: str) -> str:
    return _ALIASES.get(name, name)


def merge_options(user: dict[str, t.Any] | None, tls: bool = False, iam: bool = False,
                  accesspoint: str | None = None) -> list[str]:
    """The option list of the mount: the defaults, changed by the user's mapping.

    A value sets `name=value`; `true` sets a flag; `false` drops an option (also a default),
    except `_netdev`, which every line carries so that the boot waits for the network.
    Setting one of a pair such as hard/soft or resvport/noresvport drops the other. A changed
    default keeps its place; new options go before the fstab-only tail (_netdev, nofail).
    With TLS, amazon-efs-utils applies the NFS defaults itself, so they are not written.
    """
    head: list[tuple[str, t.Any]] = []
    if tls:
        head.append(("tls", True))
        if iam:
            head.append(("iam", True))
        if accesspoint:
            head.append(("accesspoint", accesspoint))
    else:
        head.extend(DEFAULT_NFS_OPTIONS)
    tail = list(FSTAB_TAIL_OPTIONS)
    merged = dict(head + tail)
    order = [name for name, _value in head]
    tail_names = [name for name, _value in tail]

    for raw_name, value in (user or {}).items():
        name = _canonical(str(raw_name).strip())
        if not name or any(char in name for char in ",= \t#"):
            raise EfsError(f"option name {raw_name!r} in 'options' is not a mount option "
                           f"name: use names such as 'timeo' or 'noresvport'.")
        if value is None or isinstance(value, (dict, list)):
            raise EfsError(f"options.{raw_name} is {value!r}: give a value, true for a flag, "
                           f"or false to drop the option.")
        if isinstance(value, str) and any(char in value for char in ", \t#"):
            raise EfsError(f"options.{raw_name} is {value!r}: a value cannot hold a comma, "
                           f"blank or '#'.")
        if name == "_netdev" and value is False:
            raise EfsError("options._netdev cannot be false: the fstab line always carries "
                           "_netdev, so that the boot mounts the file system only once the "
                           "network is up. Of the two boot options, only nofail can be dropped.")
        if tls and name in ("tls", "iam", "accesspoint") and value is not False:
            raise EfsError(f"options.{raw_name}: set TLS options with the module's 'tls', "
                           f"'iam' and 'accesspoint' options, not in 'options'.")
        if value is not False:
            for group in _EXCLUSIVE:
                if name in group:
                    for other in group - {name}:
                        merged.pop(other, None)
        if value is False:
            merged.pop(name, None)
            continue
        merged[name] = value
        if name not in order and name not in tail_names:
            order.append(name)

    rendered = []
    for name in order + tail_names:
        if name not in merged:
            continue
        value = merged[name]
        rendered.append(name if value is True else f"{name}={value}")
    return rendered


def fstype_for(tls: bool) -> str:
    return "efs" if tls else "nfs4"


# ---------------------------------------------------------------- discovery (boto3)

def file_system_from_api(raw: dict[str, t.Any], region: str) -> dict[str, t.Any]:
    tags = {tag["Key"]: tag["Value"] for tag in raw.get("Tags") or []}
    return {
        "id": raw["FileSystemId"],
        "name": raw.get("Name") or tags.get("Name"),
        "dns_name": file_system_dns_name(raw["FileSystemId"], region),
        "life_cycle_state": raw.get("LifeCycleState"),
        "region": region,
        "tags": tags,
    }


def rack_matches(raw: dict[str, t.Any], rack: str, tag_key: str) -> bool:
    """A file system is the rack's when it has the tag `tag_key`=<rack> or is named
    <rack>-shared-volumes."""
    tags = {tag["Key"]: tag["Value"] for tag in raw.get("Tags") or []}
    name = raw.get("Name") or tags.get("Name")
    return tags.get(tag_key) == rack or name == f"{rack}{RACK_NAME_SUFFIX}"


def find_file_system(client: t.Any, region: str, *, file_system_id: str | None = None,
                     rack: str | None = None, tag_key: str = "Rack") -> dict[str, t.Any]:
    """The one file system given by id, or the one of the rack; an error on none or several."""
    if file_system_id:
        try:
            found = _aws.call(client, "DescribeFileSystems", FileSystemId=file_system_id)
        except _aws.AwsError as exc:
            if "FileSystemNotFound" in str(exc):
                raise EfsError(f"file system {file_system_id!r} does not exist in {region}: "
                               f"check 'file_system_id' and 'region'.") from exc
            raise
        return file_system_from_api(found["FileSystems"][0], region)

    every = _aws.paginate(client, "DescribeFileSystems", "FileSystems")
    matches = [raw for raw in every if raw.get("LifeCycleState") not in _GONE_STATES
               and rack_matches(raw, str(rack), tag_key)]
    if not matches:
        raise EfsError(f"no EFS file system in {region} has the tag {tag_key}={rack} or the "
                       f"name {rack}{RACK_NAME_SUFFIX} (looked at {len(every)}): tag the "
                       f"rack's file system, or give 'file_system_id'.")
    if len(matches) > 1:
        listing = ", ".join(f"{raw['FileSystemId']} ({raw.get('Name') or 'no name'})"
                            for raw in matches)
        raise EfsError(f"{len(matches)} EFS file systems in {region} belong to rack {rack} "
                       f"by tag {tag_key} or name: {listing}. Give 'file_system_id' to pick "
                       f"one, or remove the tag from the others.")
    return file_system_from_api(matches[0], region)


def describe_mount_targets(client: t.Any, file_system_id: str) -> list[dict[str, t.Any]]:
    raw = _aws.paginate(client, "DescribeMountTargets", "MountTargets",
                        FileSystemId=file_system_id)
    targets = [mount_target_from_api(item) for item in raw]
    return sorted(targets, key=lambda target: (target["availability_zone_name"] or "",
                                               target["mount_target_id"] or ""))
