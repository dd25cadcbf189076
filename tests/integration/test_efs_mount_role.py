# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/mount.yml (role efs_mount) on local-connection hosts standing in for instances.

This host has no NFS client, so the rack runs use efs_mount_state=unmounted: discovery in
moto, the AZ from the inventory or the metadata service, the mount target per AZ and the
fstab line are all real; the mount itself is tested on the NFS test bed. They run in a network
namespace made for the test, with moto inside it, so that the DNS lookups of the AZ-specific
names fail at once instead of leaving the machine.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import typing as t
from pathlib import Path

import botocore
import pytest

from local_moto import NAMESPACE_NEEDS, can_make_namespace, loopback_namespace, moto_server

CHECKOUT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PYTHON = sys.executable
NOTHING_LISTENS = "http://127.0.0.1:9"
OPTIONS = ("nfsvers=4.1,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2,noresvport,"
           "_netdev,nofail")


def ansible_env() -> dict[str, str]:
    env = dict(os.environ, ANSIBLE_CONFIG=str(CHECKOUT / "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=str(CHECKOUT / ".collections"),
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json",
               ANSIBLE_NOCOLOR="1", AWS_ACCESS_KEY_ID="testing",
               AWS_SECRET_ACCESS_KEY="testing", AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    env.pop("AWS_DEFAULT_REGION", None)
    return env


def run_play(inventory: Path, prefix: list[str] | None = None,
             options: tuple[str, ...] = (),
             env: dict[str, str] | None = None) -> tuple[int, dict]:
    process = subprocess.run(
        (prefix or []) + [str(BIN / "ansible-playbook"), "-i", str(inventory), *options,
                          str(CHECKOUT / "playbooks" / "mount.yml")],
        capture_output=True, text=True, env=dict(ansible_env(), **(env or {})), cwd=CHECKOUT,
        timeout=900, check=False)
    try:
        return process.returncode, json.loads(process.stdout)
    except json.JSONDecodeError:
        pytest.fail(process.stdout + process.stderr)


def task_results(output: dict, name: str) -> dict[str, dict]:
    for play in output["plays"]:
        for task in play["tasks"]:
            if task["task"]["name"].split(" : ")[-1] == name:
                return task["hosts"]
    return {}


# ---------------------------------------------------------------- no file system

def test_without_a_file_system_volumes_are_local_and_no_aws_call_is_made(
        tmp_path: Path) -> None:
    hosts = {}
    for name in ("i-1", "i-2"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "fstab").write_text("# empty\n")
        hosts[name] = {"ansible_connection": "local", "ansible_python_interpreter": PYTHON,
                       "efs_mount_path": str(tmp_path / name / "volumes"),
                       "efs_mount_fstab": str(tmp_path / name / "fstab")}
    inventory = tmp_path / "inventory.yml"
    # Any AWS call would go to an endpoint where nothing listens, and fail.
    inventory.write_text(json.dumps({"all": {"hosts": hosts, "vars": {
        "convox_rack": "r1", "efs_mount_endpoint_url": NOTHING_LISTENS,
        "efs_mount_metadata_url": NOTHING_LISTENS}}}))

    rc, first = run_play(inventory)
    assert rc == 0, first
    mounts = task_results(first, "Mount the file system on this instance")
    for name in ("i-1", "i-2"):
        assert mounts[name]["changed"] is True and mounts[name]["local"] is True
        assert "instance-local" in json.dumps(mounts[name]["warnings"])
        assert (tmp_path / name / "volumes").is_dir()
        assert (tmp_path / name / "fstab").read_text() == "# empty\n"
    discovery = task_results(first, "Find each rack's file system once, on the controller")
    assert all(result.get("skipped") or not result.get("results")
               for result in discovery.values()), discovery

    rc, second = run_play(inventory)
    assert rc == 0
    assert all(stats["changed"] == 0 for stats in second["stats"].values()), second["stats"]


# ---------------------------------------------------------------- a region without EFS

NO_EFS_REGION = "xx-noefs-1"


def endpoint_data_without_efs_in(region: str, directory: Path) -> Path:
    """botocore's endpoint data plus one region that has EC2 and no EFS (how botocore
    describes a region where a service has not launched); for AWS_DATA_PATH."""
    data = json.loads((Path(botocore.__file__).parent / "data" / "endpoints.json").read_text())
    partition = next(item for item in data["partitions"] if item["partition"] == "aws")
    partition["regions"][region] = {"description": "Test region without EFS"}
    partition["services"]["ec2"]["endpoints"][region] = {}
    (directory / "endpoints.json").write_text(json.dumps(data))
    return directory


def test_a_region_without_efs_gives_local_volumes_from_discovery(tmp_path: Path) -> None:
    """Case 13 through the role: discovery finds that the rack's region has no EFS
    (supported: false), and each instance gets a local /volumes with the warning, no fstab
    line, no metadata lookup and no client install; the rerun changes nothing."""
    (tmp_path / "aws").mkdir()
    data_path = endpoint_data_without_efs_in(NO_EFS_REGION, tmp_path / "aws")
    (tmp_path / "fstab").write_text("UUID=0a1b / ext4 defaults 0 1\n")
    inventory = tmp_path / "inventory.yml"
    # Any EFS call, or a question to the metadata service, would fail against port 9.
    inventory.write_text(json.dumps({"all": {"hosts": {"i-1": {
        "ansible_connection": "local", "ansible_python_interpreter": PYTHON,
        "convox_rack": "r1", "convox_efs_discover": True, "efs_mount_region": NO_EFS_REGION,
        "efs_mount_endpoint_url": NOTHING_LISTENS, "efs_mount_metadata_url": NOTHING_LISTENS,
        "efs_mount_path": str(tmp_path / "volumes"),
        "efs_mount_fstab": str(tmp_path / "fstab")}}}}))
    env = {"AWS_DATA_PATH": str(data_path)}

    rc, first = run_play(inventory, env=env)

    assert rc == 0, first
    (lookup,) = task_results(first, "Find each rack's file system once, on the controller")[
        "i-1"]["results"]
    assert lookup["supported"] is False and lookup["region"] == NO_EFS_REGION, lookup
    mount = task_results(first, "Mount the file system on this instance")["i-1"]
    assert mount["changed"] is True and mount["local"] is True, mount
    warnings = json.dumps(mount["warnings"])
    assert "supported is false (no EFS in this region)" in warnings
    assert "instance-local" in warnings and "do not persist across instance replacement" \
        in warnings and "not shared" in warnings
    assert (tmp_path / "fstab").read_text() == "UUID=0a1b / ext4 defaults 0 1\n"
    assert oct((tmp_path / "volumes").stat().st_mode & 0o777) == "0o755"
    for skipped in ("Read the instance's AZ", "Check which client packages are installed "
                    "(no network)"):
        assert all(result.get("skipped") for result in
                   task_results(first, skipped).values()), skipped

    rc, second = run_play(inventory, env=env)
    assert rc == 0
    assert second["stats"]["i-1"]["changed"] == 0, second["stats"]


# ---------------------------------------------------------------- racks in moto

SETUP_RACKS = textwrap.dedent("""
    import json, sys, boto3
    endpoint = sys.argv[1]
    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=endpoint)
    efs = boto3.client("efs", region_name="us-east-1", endpoint_url=endpoint)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = {az: ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=az)
              ["Subnet"]["SubnetId"]
              for az, cidr in (("us-east-1a", "10.0.1.0/24"), ("us-east-1b", "10.0.2.0/24"))}
    def file_system(token, tags):
        return efs.create_file_system(CreationToken=token, Tags=[
            {"Key": k, "Value": v} for k, v in tags.items()])["FileSystemId"]
    r1 = file_system("r1", {"Rack": "r1"})
    r2 = file_system("r2", {"Name": "r2-shared-volumes"})
    efs.create_mount_target(FileSystemId=r1, SubnetId=subnet["us-east-1a"], IpAddress="10.0.1.25")
    efs.create_mount_target(FileSystemId=r1, SubnetId=subnet["us-east-1b"], IpAddress="10.0.2.25")
    efs.create_mount_target(FileSystemId=r2, SubnetId=subnet["us-east-1a"], IpAddress="10.0.1.26")
    print(json.dumps({"r1": r1, "r2": r2}))
""")


@pytest.fixture
def namespace_with_moto(tmp_path: Path) -> t.Iterator[dict[str, t.Any]]:
    """A network namespace of its own with only loopback, and moto listening inside it."""
    if not can_make_namespace():
        pytest.skip(NAMESPACE_NEEDS)
    with loopback_namespace("convox-efs") as inside, \
            moto_server(tmp_path / "moto.log", inside) as endpoint:
        setup = subprocess.run(inside + [PYTHON, "-c", SETUP_RACKS, endpoint], check=True,
                               capture_output=True, text=True,
                               env=dict(ansible_env(), AWS_DEFAULT_REGION="us-east-1"))
        yield {"inside": inside, "endpoint": endpoint, "ids": json.loads(setup.stdout)}


def test_discovery_once_per_rack_and_each_instance_uses_its_az(
        tmp_path: Path, namespace_with_moto: dict[str, t.Any]) -> None:
    endpoint = namespace_with_moto["endpoint"]
    instances = {
        "r1-a": {"convox_rack": "r1", "ec2_availability_zone": "us-east-1a"},
        "r1-b": {"convox_rack": "r1", "ec2_availability_zone": "us-east-1b"},
        "r2-x": {"convox_rack": "r2"},  # AZ from the metadata service: us-east-1a
        "r3-a": {"convox_rack": "r3", "ec2_availability_zone": "us-east-1a"},  # no file system
        # TLS on Debian (this host): amazon-efs-utils has no Debian package.
        "r1-tls": {"convox_rack": "r1", "ec2_availability_zone": "us-east-1a",
                   "efs_mount_tls": True, "efs_mount_state": "mounted"},
    }
    for name, host in instances.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "fstab").write_text("UUID=0a1b / ext4 defaults 0 1\n")
        host.update(ansible_connection="local", ansible_python_interpreter=PYTHON,
                    efs_mount_path=str(tmp_path / name / "volumes"),
                    efs_mount_fstab=str(tmp_path / name / "fstab"))
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(json.dumps({"all": {"hosts": instances, "vars": {
        "convox_efs_discover": True, "efs_mount_state": "unmounted",
        "efs_mount_region": "us-east-1", "efs_mount_endpoint_url": endpoint,
        "efs_mount_metadata_url": endpoint, "efs_mount_timeout": 5}}}))

    rc, first = run_play(inventory, namespace_with_moto["inside"])

    assert rc != 0  # rack r3 has no file system: its host fails, the others go on
    discovery = task_results(first, "Find each rack's file system once, on the controller")
    items = next(iter(discovery.values()))["results"]
    assert sorted(item["item"]["rack"] for item in items) == ["r1", "r2", "r3"]
    failure = task_results(first, "Fail when the rack's file system could not be found")
    message = failure["r3-a"].get("msg", "")
    assert "no EFS file system in us-east-1 has the tag Rack=r3" in message, failure
    assert set(first["stats"]["r3-a"].items()) >= {("failures", 1)}
    if Path("/etc/debian_version").exists():
        tls = task_results(first, "Explain that amazon-efs-utils has no Debian package")
        assert "Debian and Ubuntu do not package" in tls["r1-tls"]["msg"], tls
        assert not (tmp_path / "r1-tls" / "volumes").exists()
        assert (tmp_path / "r1-tls" / "fstab").read_text() == "UUID=0a1b / ext4 defaults 0 1\n"
    expected = {"r1-a": "10.0.1.25", "r1-b": "10.0.2.25", "r2-x": "10.0.1.26"}
    for name, address in expected.items():
        fstab = (tmp_path / name / "fstab").read_text()
        assert fstab == ("UUID=0a1b / ext4 defaults 0 1\n"
                         f"{address}:/ {tmp_path / name / 'volumes'} nfs4 {OPTIONS} 0 0\n")
        assert first["stats"][name]["failures"] == 0

    del instances["r3-a"], instances["r1-tls"]
    inventory.write_text(json.dumps({"all": {"hosts": instances, "vars": json.loads(
        inventory.read_text())["all"]["vars"]}}))
    rc, second = run_play(inventory, namespace_with_moto["inside"])
    assert rc == 0
    assert all(stats["changed"] == 0 for stats in second["stats"].values()), second["stats"]


def test_check_mode_reads_the_az_and_the_installed_client_and_changes_nothing(
        tmp_path: Path, namespace_with_moto: dict[str, t.Any]) -> None:
    """--check skips ansible.builtin.uri and command unless told otherwise: the AZ from the
    metadata service and the list of installed packages must still be read."""
    endpoint = namespace_with_moto["endpoint"]
    (tmp_path / "fstab").write_text("UUID=0a1b / ext4 defaults 0 1\n")
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(json.dumps({"all": {"hosts": {"r2-x": {
        "ansible_connection": "local", "ansible_python_interpreter": PYTHON,
        "convox_rack": "r2", "convox_efs_discover": True, "efs_mount_region": "us-east-1",
        "efs_mount_endpoint_url": endpoint, "efs_mount_metadata_url": endpoint,
        "efs_mount_timeout": 5, "efs_mount_path": str(tmp_path / "volumes"),
        "efs_mount_fstab": str(tmp_path / "fstab")}}}}))

    rc, output = run_play(inventory, namespace_with_moto["inside"], ("--check", "--diff"))

    assert rc == 0, output
    installed = task_results(output, "Check which client packages are installed (no network)")
    assert not installed["r2-x"].get("skipped"), installed
    mount = task_results(output, "Mount the file system on this instance")["r2-x"]
    assert mount["changed"] is True and mount["source"] == "10.0.1.26:/", mount
    assert mount["actions"][0] == "mount 10.0.1.26:/"
    assert "us-east-1a" in mount["source_reason"]
    assert (tmp_path / "fstab").read_text() == "UUID=0a1b / ext4 defaults 0 1\n"
    assert not (tmp_path / "volumes").exists()
