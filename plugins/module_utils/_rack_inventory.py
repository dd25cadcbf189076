# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: contributors to the convox.volumes collection
"""The rack inventory's pure logic: which instances, which host names, variables and groups.

The inventory plugin `convox.volumes.rack` calls EC2 and hands the raw DescribeInstances items
to these functions; nothing here talks to AWS or touches the disk, so every rule is tested
directly.
"""
from __future__ import annotations

import re
import typing as t

from ansible_collections.convox.volumes.plugins.module_utils._paths import (
    VolumeRuleError,
    validate_name,
)

HOSTNAME_SOURCES = ("instance_id", "private_dns_name", "private_ip_address")

_UNSAFE_GROUP_CHARACTERS = re.compile(r"[^A-Za-z0-9_]")


class RackInventoryError(ValueError):
    """The configuration or the instances found cannot make an inventory; the message names
    the input, the value and the fix."""


def validate_racks(racks: t.Any) -> list[str]:
    """The racks to list: a non-empty list of Convox rack names, duplicates dropped."""
    if not racks:
        raise RackInventoryError(
            "no racks to list: set 'racks' to the names of one or more racks, for example "
            "racks: [production]")
    if isinstance(racks, str) or not isinstance(racks, (list, tuple)):
        raise RackInventoryError(
            f"'racks' must be a list of rack names; got {racks!r}: write racks: [{racks}]")
    unique: list[str] = []
    for rack in racks:
        try:
            validate_name("rack", rack)
        except VolumeRuleError as exc:
            raise RackInventoryError(f"'racks': {exc}") from None
        if rack not in unique:
            unique.append(rack)
    return unique


def validate_tag_key(tag_key: t.Any) -> str:
    if not isinstance(tag_key, str) or not tag_key.strip():
        raise RackInventoryError(
            f"'tag_key' must be the name of the EC2 tag that holds the rack name; got "
            f"{tag_key!r}. Leave it unset for the default 'Rack'.")
    return tag_key


def instance_filters(tag_key: str, racks: list[str]) -> list[dict[str, t.Any]]:
    """DescribeInstances filters: running instances whose rack tag is one of the racks."""
    return [
        {"Name": f"tag:{tag_key}", "Values": list(racks)},
        {"Name": "instance-state-name", "Values": ["running"]},
    ]


def group_name(prefix: str, value: str) -> str:
    """A group name such as rack_prod or az_us_east_1a: every character that Ansible does not
    allow in a group name (hyphens above all) becomes an underscore."""
    return f"{prefix}_{_UNSAFE_GROUP_CHARACTERS.sub('_', value)}"


def tags_dict(instance: dict[str, t.Any]) -> dict[str, str]:
    return {tag["Key"]: tag.get("Value", "") for tag in instance.get("Tags") or []}


def instance_record(instance: dict[str, t.Any], region: str, tag_key: str,
                    racks: list[str]) -> dict[str, t.Any] | None:
    """The few fields of one DescribeInstances item that the inventory uses, as plain JSON
    (so it can be cached); None for an instance that is not a running member of the racks.

    EC2 already filters by tag and state; checking again here keeps a stale cache, a
    permissive endpoint or a changed configuration from listing the wrong instances."""
    tags = tags_dict(instance)
    rack = tags.get(tag_key)
    state = (instance.get("State") or {}).get("Name")
    if rack not in racks or state != "running":
        return None
    return {
        "rack": rack,
        "region": region,
        "instance_id": instance["InstanceId"],
        "availability_zone": (instance.get("Placement") or {}).get("AvailabilityZone"),
        "instance_type": instance.get("InstanceType"),
        "private_ip_address": instance.get("PrivateIpAddress") or None,
        "private_dns_name": instance.get("PrivateDnsName") or None,
        "public_ip_address": instance.get("PublicIpAddress") or None,
        "tags": tags,
    }


def hostname(record: dict[str, t.Any], source: str) -> tuple[str, str | None]:
    """The inventory host name of an instance and, when the chosen attribute is empty, a
    warning saying the instance ID was used instead."""
    if source not in HOSTNAME_SOURCES:
        raise RackInventoryError(
            f"'hostnames' is {source!r}: use one of {', '.join(HOSTNAME_SOURCES)}")
    value = record.get(source)
    if value:
        return value, None
    return record["instance_id"], (
        f"instance {record['instance_id']} has no {source}; it is listed under its "
        f"instance ID")


def ansible_host(record: dict[str, t.Any], use_public_ip: bool) -> tuple[str | None, str | None]:
    """The address Ansible connects to and, when the public IP was asked for but the instance
    has none, a warning saying its private IP is used instead."""
    if use_public_ip:
        if record.get("public_ip_address"):
            return record["public_ip_address"], None
        return record.get("private_ip_address"), (
            f"instance {record['instance_id']} has no public IP address; connecting to its "
            f"private IP {record.get('private_ip_address')}")
    return record.get("private_ip_address"), None


def host_variables(record: dict[str, t.Any], use_public_ip: bool) -> dict[str, t.Any]:
    """The variables of one host (the warning of ansible_host() is the caller's to show)."""
    address, _warning = ansible_host(record, use_public_ip)
    variables: dict[str, t.Any] = {
        "convox_rack": record["rack"],
        "ec2_instance_id": record["instance_id"],
        "ec2_availability_zone": record["availability_zone"],
        "ec2_region": record["region"],
        "ec2_private_ip": record["private_ip_address"],
        "ec2_private_dns_name": record["private_dns_name"],
        "ec2_public_ip": record["public_ip_address"],
        "ec2_instance_type": record["instance_type"],
        "ec2_tags": dict(record["tags"]),
    }
    if address:
        variables["ansible_host"] = address
    return variables


def host_groups(record: dict[str, t.Any]) -> list[str]:
    groups = [group_name("rack", record["rack"])]
    if record.get("availability_zone"):
        groups.append(group_name("az", record["availability_zone"]))
    return groups


def plan_hosts(records: list[dict[str, t.Any]], hostnames: str,
               use_public_ip: bool) -> tuple[list[dict[str, t.Any]], list[str]]:
    """Every host of the inventory, sorted by rack and name: each a dict of `name`, `groups`
    and `variables`; and the warnings to show. Two instances that would share a host name
    are an error, never a silent merge."""
    planned: list[dict[str, t.Any]] = []
    warnings: list[str] = []
    owners: dict[str, str] = {}
    for record in records:
        name, name_warning = hostname(record, hostnames)
        _address, address_warning = ansible_host(record, use_public_ip)
        warnings.extend(w for w in (name_warning, address_warning) if w)
        if name in owners and owners[name] != record["instance_id"]:
            raise RackInventoryError(
                f"instances {owners[name]} and {record['instance_id']} would both be host "
                f"{name!r} (hostnames: {hostnames}); use hostnames: instance_id, which is "
                f"unique")
        if name in owners:
            continue
        owners[name] = record["instance_id"]
        planned.append({"name": name, "groups": host_groups(record),
                        "variables": host_variables(record, use_public_ip),
                        "rack": record["rack"]})
    planned.sort(key=lambda host: (host["rack"], host["name"]))
    return planned, warnings
