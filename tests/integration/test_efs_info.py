# SPDX-License-Identifier: GPL-3.0-or-later
"""convox_efs_info against EFS in moto, run by a real `ansible-playbook`.

Starting Ansible costs seconds, so one playbook runs every lookup once (each task named after
the case, failures kept) and the tests below read their task's result.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import typing as t
import urllib.request
from pathlib import Path

import boto3
import botocore
import pytest

CHECKOUT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
REGION = "us-east-1"
NO_EFS_REGION = "xx-noefs-1"
NOTHING_LISTENS = "http://127.0.0.1:9"


# ---------------------------------------------------------------- the racks in moto

def _file_system(efs: t.Any, tags: dict[str, str]) -> str:
    return efs.create_file_system(
        CreationToken=json.dumps(sorted(tags.items())) + os.urandom(4).hex(),
        Tags=[{"Key": key, "Value": value} for key, value in tags.items()])["FileSystemId"]


def make_racks(endpoint: str) -> dict[str, str]:
    """A VPC with subnets in two AZs. Rack r1's file system (Rack tag) has a target in each AZ;
    r2's (Name tag only) has none; r3 uses another tag key; r4 has two; one is unrelated;
    r5's comes after ten more, beyond the first page of DescribeFileSystems (moto gives ten
    per page, as a small MaxItems would)."""
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=endpoint)
    efs = boto3.client("efs", region_name=REGION, endpoint_url=endpoint)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = {az: ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=az)
               ["Subnet"]["SubnetId"]
               for az, cidr in (("us-east-1a", "10.0.1.0/24"), ("us-east-1b", "10.0.2.0/24"))}
    ids = {
        "r1": _file_system(efs, {"Rack": "r1"}),
        "r2": _file_system(efs, {"Name": "r2-shared-volumes"}),
        "r3": _file_system(efs, {"convox:rack": "r3"}),
        "r4_tag": _file_system(efs, {"Rack": "r4"}),
        "r4_name": _file_system(efs, {"Name": "r4-shared-volumes"}),
        "other": _file_system(efs, {"Rack": "other", "Name": "unrelated"}),
    }
    for number in range(10):
        _file_system(efs, {"Rack": f"filler{number}"})
    ids["r5"] = _file_system(efs, {"Rack": "r5"})
    efs.create_mount_target(FileSystemId=ids["r1"], SubnetId=subnets["us-east-1a"],
                            IpAddress="10.0.1.25")
    efs.create_mount_target(FileSystemId=ids["r1"], SubnetId=subnets["us-east-1b"],
                            IpAddress="10.0.2.25")
    return ids


def endpoint_data_with_a_region_without_efs(directory: Path) -> Path:
    """botocore endpoint data with one more region that has EC2 but not EFS, the way botocore's
    own data describes a region where a service has not launched."""
    source = Path(botocore.__file__).parent / "data" / "endpoints.json"
    data = json.loads(source.read_text())
    partition = next(item for item in data["partitions"] if item["partition"] == "aws")
    partition["regions"][NO_EFS_REGION] = {"description": "Test region without EFS"}
    partition["services"]["ec2"]["endpoints"][NO_EFS_REGION] = {}
    assert NO_EFS_REGION not in partition["services"]["elasticfilesystem"]["endpoints"]
    (directory / "endpoints.json").write_text(json.dumps(data))
    return directory


# ---------------------------------------------------------------- one playbook, every case

def cases(ids: dict[str, str], endpoint: str) -> tuple[dict[str, dict], dict[str, dict]]:
    """Task name -> module arguments: the first set runs with the action group's
    module_defaults (region and endpoint_url), the second without them."""
    with_defaults = {
        "by_id": {"file_system_id": ids["r1"]},
        "by_rack_tag": {"rack": "r1"},
        "by_name_tag": {"rack": "r2"},
        "by_custom_tag_key": {"rack": "r3", "tag_key": "convox:rack"},
        "beyond_the_first_page": {"rack": "r5"},
        "no_file_system": {"rack": "missing"},
        "several_file_systems": {"rack": "r4"},
        "unknown_id": {"file_system_id": "fs-00000000"},
        "id_and_rack": {"rack": "r1", "file_system_id": "fs-1"},
        "neither_id_nor_rack": {},
        "malformed_id": {"file_system_id": "0000aaaa"},
        "unknown_region": {"rack": "r1", "region": "us-esat-1"},
        "unreachable_endpoint": {"rack": "r1", "endpoint_url": NOTHING_LISTENS},
        # Nothing listens on that endpoint: any EFS call would fail the task.
        "region_without_efs": {"rack": "r1", "region": NO_EFS_REGION,
                               "endpoint_url": NOTHING_LISTENS},
    }
    without_defaults = {
        "region_from_environment": {"rack": "r1", "endpoint_url": endpoint},
        "endpoint_from_environment": {"rack": "r1", "region": REGION},
    }
    return with_defaults, without_defaults


def playbook(endpoint: str, data_path: Path, ids: dict[str, str]) -> list[dict[str, t.Any]]:
    with_defaults, without_defaults = cases(ids, endpoint)
    environment = {"AWS_DATA_PATH": str(data_path)}
    per_task_environment = {"region_from_environment": {"AWS_REGION": REGION},
                            "endpoint_from_environment": {"AWS_URL": endpoint}}

    def tasks(table: dict[str, dict]) -> list[dict[str, t.Any]]:
        return [{"name": name, "convox.volumes.convox_efs_info": arguments,
                 "ignore_errors": True,
                 "environment": dict(environment, **per_task_environment.get(name, {}))}
                for name, arguments in table.items()]

    play = {"hosts": "localhost", "gather_facts": False}
    return [
        dict(play, name="With the action group's defaults", tasks=tasks(with_defaults),
             module_defaults={"group/convox.volumes.aws": {"region": REGION,
                                                           "endpoint_url": endpoint}}),
        dict(play, name="Without defaults", tasks=tasks(without_defaults)),
    ]


@pytest.fixture(scope="module")
def lookups(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory
            ) -> tuple[dict[str, str], dict[str, dict[str, t.Any]]]:
    """(file system ids, task name -> result) of one ansible-playbook run."""
    ids = make_racks(moto_endpoint)
    work = tmp_path_factory.mktemp("efs_info")
    data_path = endpoint_data_with_a_region_without_efs(work)
    (work / "play.yml").write_text(json.dumps(playbook(moto_endpoint, data_path, ids)))
    env = dict(os.environ, ANSIBLE_CONFIG=str(CHECKOUT / "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=str(CHECKOUT / ".collections"),
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json",
               ANSIBLE_NOCOLOR="1")
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_URL", "EC2_URL", "EC2_REGION"):
        env.pop(name, None)
    process = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local",
         "-e", f"ansible_python_interpreter={sys.executable}", str(work / "play.yml")],
        capture_output=True, text=True, env=env, cwd=CHECKOUT, timeout=600, check=False)
    assert process.returncode == 0, process.stdout + process.stderr
    output = json.loads(process.stdout)
    results = {task["task"]["name"]: task["hosts"]["localhost"]
               for play in output["plays"] for task in play["tasks"]}
    return ids, results


def ok(lookups: tuple[dict, dict], name: str) -> dict[str, t.Any]:
    result = lookups[1][name]
    assert result.get("failed") is not True, result
    assert result["changed"] is False
    return result


def failed(lookups: tuple[dict, dict], name: str) -> str:
    result = lookups[1][name]
    assert result.get("failed") is True, result
    return result["msg"]


# ---------------------------------------------------------------- finding the file system

@pytest.mark.parametrize("name", ["by_id", "by_rack_tag"])
def test_finds_the_file_system_and_its_usable_targets(lookups: tuple, name: str) -> None:
    ids = lookups[0]
    result = ok(lookups, name)

    assert result["supported"] is True and result["region"] == REGION
    file_system = result["file_system"]
    assert file_system["id"] == ids["r1"]
    assert file_system["dns_name"] == f"{ids['r1']}.efs.us-east-1.amazonaws.com"
    assert file_system["life_cycle_state"] == "available"
    assert file_system["region"] == REGION and file_system["tags"] == {"Rack": "r1"}
    assert [(target["availability_zone_name"], target["ip_address"],
             target["life_cycle_state"]) for target in result["mount_targets"]] == [
        ("us-east-1a", "10.0.1.25", "available"), ("us-east-1b", "10.0.2.25", "available")]
    assert all(target["mount_target_id"].startswith("fsmt-")
               and target["subnet_id"].startswith("subnet-")
               and target["availability_zone_id"] for target in result["mount_targets"])
    assert result["mount_targets_by_az"] == {"us-east-1a": "10.0.1.25",
                                             "us-east-1b": "10.0.2.25"}


def test_finds_by_name_tag_and_reports_no_targets(lookups: tuple) -> None:
    result = ok(lookups, "by_name_tag")
    assert result["file_system"]["id"] == lookups[0]["r2"]
    assert result["file_system"]["name"] == "r2-shared-volumes"
    assert result["mount_targets"] == [] and result["mount_targets_by_az"] == {}


def test_custom_tag_key(lookups: tuple) -> None:
    assert ok(lookups, "by_custom_tag_key")["file_system"]["id"] == lookups[0]["r3"]


def test_no_file_system_for_the_rack_is_an_error(lookups: tuple) -> None:
    assert ("no EFS file system in us-east-1 has the tag Rack=missing or the name "
            "missing-shared-volumes (looked at 17)") in failed(lookups, "no_file_system")


def test_every_page_of_file_systems_is_read(lookups: tuple) -> None:
    assert ok(lookups, "beyond_the_first_page")["file_system"]["id"] == lookups[0]["r5"]


def test_several_file_systems_for_the_rack_is_an_error(lookups: tuple) -> None:
    message = failed(lookups, "several_file_systems")
    assert "2 EFS file systems in us-east-1 belong to rack r4" in message
    assert lookups[0]["r4_tag"] in message and lookups[0]["r4_name"] in message


def test_unknown_file_system_id_is_an_error(lookups: tuple) -> None:
    assert ("file system 'fs-00000000' does not exist in us-east-1"
            in failed(lookups, "unknown_id"))


@pytest.mark.parametrize("name, message", [
    ("id_and_rack", "mutually exclusive"),
    ("neither_id_nor_rack", "one of the following is required"),
    ("malformed_id", "'0000aaaa' is not an EFS file system ID"),
])
def test_bad_arguments(lookups: tuple, name: str, message: str) -> None:
    assert message in failed(lookups, name)


# ---------------------------------------------------------------- regions and endpoints

def test_region_without_efs_is_not_supported_and_makes_no_efs_call(lookups: tuple) -> None:
    result = ok(lookups, "region_without_efs")
    assert result["supported"] is False and result["region"] == NO_EFS_REGION
    assert result["file_system"] == {} and result["mount_targets"] == []
    assert result["mount_targets_by_az"] == {}
    assert "instance-local" in json.dumps(result["warnings"])


def test_unknown_region_is_an_error(lookups: tuple) -> None:
    assert ("region 'us-esat-1' is not an AWS region botocore knows"
            in failed(lookups, "unknown_region"))


def test_unreachable_endpoint_names_the_call(lookups: tuple) -> None:
    assert ("DescribeFileSystems failed: cannot reach the AWS endpoint"
            in failed(lookups, "unreachable_endpoint"))


@pytest.mark.parametrize("name", ["region_from_environment", "endpoint_from_environment"])
def test_options_from_the_environment(lookups: tuple, name: str) -> None:
    result = ok(lookups, name)
    assert result["region"] == REGION and result["file_system"]["id"] == lookups[0]["r1"]


def test_module_defaults_of_the_action_group(lookups: tuple) -> None:
    # by_rack_tag passes neither region nor endpoint_url: both come from module_defaults.
    result = ok(lookups, "by_rack_tag")
    assert result["invocation"]["module_args"]["region"] == REGION
    assert result["invocation"]["module_args"]["endpoint_url"].startswith("http://127.0.0.1:")
