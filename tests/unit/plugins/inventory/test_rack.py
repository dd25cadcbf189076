# SPDX-License-Identifier: GPL-3.0-or-later
"""The rack inventory's pure rules: filters, records, host names, variables and groups."""
from __future__ import annotations

import typing as t

import pytest

from ansible_collections.convox.volumes.plugins.inventory.rack import InventoryModule
from ansible_collections.convox.volumes.plugins.module_utils._rack_inventory import (
    RackInventoryError,
    group_name,
    host_groups,
    instance_filters,
    instance_record,
    plan_hosts,
    validate_racks,
    validate_tag_key,
)


def _instance(instance_id: str = "i-0abc", *, rack: str | None = "prod", state: str = "running",
              az: str = "us-east-1a", private_ip: str | None = "10.0.1.5",
              public_ip: str | None = "54.0.0.5", dns: str | None = "ip-10-0-1-5.ec2.internal",
              tag_key: str = "Rack") -> dict[str, t.Any]:
    """A DescribeInstances item, shaped as EC2 returns it (fields absent when unset)."""
    item: dict[str, t.Any] = {"InstanceId": instance_id, "InstanceType": "t3.small",
                              "State": {"Code": 16, "Name": state},
                              "Placement": {"AvailabilityZone": az, "Tenancy": "default"},
                              "Tags": [{"Key": "Name", "Value": "web"}]}
    if rack is not None:
        item["Tags"].append({"Key": tag_key, "Value": rack})
    for key, value in (("PrivateIpAddress", private_ip), ("PublicIpAddress", public_ip),
                       ("PrivateDnsName", dns)):
        if value is not None:
            item[key] = value
    return item


def _record(**kwargs: t.Any) -> dict[str, t.Any]:
    record = instance_record(_instance(**kwargs), "us-east-1", "Rack", ["prod", "staging"])
    assert record is not None
    return record


@pytest.mark.parametrize("prefix, value, expected", [
    ("rack", "prod", "rack_prod"),
    ("rack", "prod-eu-2", "rack_prod_eu_2"),
    ("az", "us-east-1a", "az_us_east_1a"),
    ("az", "ap-southeast-2c", "az_ap_southeast_2c"),
    ("az", "us-west-2-lax-1a", "az_us_west_2_lax_1a"),
    ("tag", "a.b c:d", "tag_a_b_c_d"),
])
def test_group_name(prefix: str, value: str, expected: str) -> None:
    assert group_name(prefix, value) == expected


@pytest.mark.parametrize("racks, expected", [
    (["prod"], ["prod"]),
    (["prod", "staging", "prod"], ["prod", "staging"]),
    (("a1", "b-2"), ["a1", "b-2"]),
])
def test_validate_racks(racks: t.Any, expected: list[str]) -> None:
    assert validate_racks(racks) == expected


@pytest.mark.parametrize("racks, message", [
    (None, "no racks to list: set 'racks'"),
    ([], "no racks to list: set 'racks'"),
    ("prod", "'racks' must be a list of rack names; got 'prod': write racks: [prod]"),
    (["Prod"], "rack name 'Prod' is not a Convox name"),
    (["prod", "-x"], "rack name '-x' is not a Convox name"),
    ([3], "rack name 3 is not a Convox name"),
])
def test_validate_racks_refuses(racks: t.Any, message: str) -> None:
    with pytest.raises(RackInventoryError) as error:
        validate_racks(racks)
    assert message in str(error.value)


@pytest.mark.parametrize("tag_key", ["", "  ", None, 5])
def test_validate_tag_key_refuses(tag_key: t.Any) -> None:
    with pytest.raises(RackInventoryError, match="'tag_key' must be the name of the EC2 tag"):
        validate_tag_key(tag_key)


def test_instance_filters_ask_ec2_for_running_members_only() -> None:
    assert instance_filters("Rack", ["prod", "staging"]) == [
        {"Name": "tag:Rack", "Values": ["prod", "staging"]},
        {"Name": "instance-state-name", "Values": ["running"]},
    ]


@pytest.mark.parametrize("instance", [
    _instance(state="stopped"),
    _instance(state="terminated"),
    _instance(state="pending"),
    _instance(rack=None),
    _instance(rack="other"),
    _instance(rack="PROD"),
    _instance(tag_key="rack"),
], ids=["stopped", "terminated", "pending", "untagged", "other-rack", "case", "tag-key-case"])
def test_instance_record_leaves_out_non_members(instance: dict[str, t.Any]) -> None:
    assert instance_record(instance, "us-east-1", "Rack", ["prod"]) is None


def test_instance_record_keeps_only_plain_fields() -> None:
    assert _record() == {
        "rack": "prod", "region": "us-east-1", "instance_id": "i-0abc",
        "availability_zone": "us-east-1a", "instance_type": "t3.small",
        "private_ip_address": "10.0.1.5", "private_dns_name": "ip-10-0-1-5.ec2.internal",
        "public_ip_address": "54.0.0.5", "tags": {"Name": "web", "Rack": "prod"},
    }


def test_plan_hosts_variables_and_groups() -> None:
    hosts, warnings = plan_hosts([_record()], "instance_id", False)

    assert warnings == []
    assert hosts == [{
        "name": "i-0abc", "rack": "prod", "groups": ["rack_prod", "az_us_east_1a"],
        "variables": {
            "convox_rack": "prod", "ec2_instance_id": "i-0abc",
            "ec2_availability_zone": "us-east-1a", "ec2_region": "us-east-1",
            "ec2_private_ip": "10.0.1.5", "ec2_private_dns_name": "ip-10-0-1-5.ec2.internal",
            "ec2_public_ip": "54.0.0.5", "ec2_instance_type": "t3.small",
            "ec2_tags": {"Name": "web", "Rack": "prod"}, "ansible_host": "10.0.1.5",
        },
    }]


@pytest.mark.parametrize("hostnames, record, expected_name, warning", [
    ("instance_id", {}, "i-0abc", None),
    ("private_dns_name", {}, "ip-10-0-1-5.ec2.internal", None),
    ("private_ip_address", {}, "10.0.1.5", None),
    ("private_dns_name", {"dns": None}, "i-0abc",
     "instance i-0abc has no private_dns_name; it is listed under its instance ID"),
    ("private_ip_address", {"private_ip": None}, "i-0abc",
     "instance i-0abc has no private_ip_address; it is listed under its instance ID"),
])
def test_hostnames(hostnames: str, record: dict[str, t.Any], expected_name: str,
                   warning: str | None) -> None:
    hosts, warnings = plan_hosts([_record(**record)], hostnames, False)

    assert [host["name"] for host in hosts] == [expected_name]
    assert warnings == ([warning] if warning else [])


@pytest.mark.parametrize("use_public_ip, record, expected, warning", [
    (False, {}, "10.0.1.5", None),
    (True, {}, "54.0.0.5", None),
    (False, {"public_ip": None}, "10.0.1.5", None),
    (True, {"public_ip": None}, "10.0.1.5",
     "instance i-0abc has no public IP address; connecting to its private IP 10.0.1.5"),
])
def test_ansible_host(use_public_ip: bool, record: dict[str, t.Any], expected: str,
                      warning: str | None) -> None:
    hosts, warnings = plan_hosts([_record(**record)], "instance_id", use_public_ip)

    assert hosts[0]["variables"]["ansible_host"] == expected
    assert warnings == ([warning] if warning else [])


def test_no_address_at_all_sets_no_ansible_host() -> None:
    hosts, _warnings = plan_hosts([_record(private_ip=None, public_ip=None)], "instance_id",
                                  False)

    assert "ansible_host" not in hosts[0]["variables"]


def test_hosts_sorted_by_rack_then_name() -> None:
    records = [_record(instance_id="i-3", rack="staging"), _record(instance_id="i-2"),
               _record(instance_id="i-1", az="us-east-1b")]

    hosts, _warnings = plan_hosts(records, "instance_id", False)

    assert [(host["rack"], host["name"]) for host in hosts] == [
        ("prod", "i-1"), ("prod", "i-2"), ("staging", "i-3")]


def test_two_instances_with_one_name_are_an_error() -> None:
    records = [_record(instance_id="i-1"), _record(instance_id="i-2")]

    with pytest.raises(RackInventoryError) as error:
        plan_hosts(records, "private_ip_address", False)

    assert str(error.value) == (
        "instances i-1 and i-2 would both be host '10.0.1.5' (hostnames: private_ip_address); "
        "use hostnames: instance_id, which is unique")


def test_the_same_instance_twice_is_one_host() -> None:
    hosts, _warnings = plan_hosts([_record(), _record()], "instance_id", False)

    assert [host["name"] for host in hosts] == ["i-0abc"]


def test_no_availability_zone_means_no_az_group() -> None:
    record = _record()
    record["availability_zone"] = None

    assert host_groups(record) == ["rack_prod"]


@pytest.mark.parametrize("path, accepted", [
    ("prod.convox_rack.yml", True),
    ("convox_rack.yaml", True),
    ("prod.convox_rack.yml.bak", False),
    ("prod.aws_ec2.yml", False),
    ("convox_rack.json", False),
])
def test_verify_file_by_name(tmp_path: t.Any, path: str, accepted: bool) -> None:
    config = tmp_path / path
    config.write_text("plugin: convox.volumes.rack\nracks: [prod]\n")

    assert InventoryModule().verify_file(str(config)) is accepted
