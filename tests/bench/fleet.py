# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: provision a rack of N instances listed by the convox.volumes.rack inventory.

For each N, moto gets a fresh rack: a VPC with subnets in two AZs, the rack's EFS file system
with a mount target in each, N running instances tagged with the rack (split over the two AZs)
and, as noise, a stopped instance of the rack and an instance of another rack. Then
`ansible-playbook playbooks/provision.yml` runs with the inventory file pointed at moto. Every
host uses the local connection and has its own directory standing in for its disk: its
volumes root and its fstab. Nothing is mounted (the kernel here has no NFS client): the role
runs with efs_mount_state=unmounted, so each instance still gets the mount target of its own
AZ (taken from the inventory) written to its fstab, and the layout runs on each host.

Printed per N: the AWS requests moto recorded during the run, by operation (expected constant
in N: the inventory's DescribeInstances and one discovery per rack), and the wall time.
Meant to run inside a network namespace with only loopback (fleet.sh makes one), so that
nothing can leave the machine. Not a test: it prints figures, and fails only when the run
itself fails or leaves the wrong result.
"""
from __future__ import annotations

import argparse
import base64
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import typing as t
import urllib.parse
import urllib.request
from pathlib import Path

import boto3

CHECKOUT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(CHECKOUT / "tests" / "support"))
# local_moto lives beside the tests, so it is importable only after the path insert above
from local_moto import FAKE_AWS, MotoDidNotStart, moto_server  # noqa: E402

BIN = Path(sys.executable).parent
REGION = "us-east-1"
RACK = "bench"
SUBNETS = {"us-east-1a": "10.0.1.0/24", "us-east-1b": "10.0.2.0/24"}
IMAGE_ID = "ami-0c55b159cbfafe1f0"
APPS = ["wordpress", "analytics", "traefik", "gitea"]


def moto_api(url: str, path: str, method: str = "POST") -> bytes:
    request = urllib.request.Request(f"{url}/moto-api/{path}", method=method)
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read()


def make_rack(url: str, size: int) -> dict[str, list[str]]:
    """The rack in moto; returns the running instance IDs per AZ and the noise instances."""
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=url)
    efs = boto3.client("efs", region_name=REGION, endpoint_url=url)
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet_ids = {az: ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr,
                                        AvailabilityZone=az)["Subnet"]["SubnetId"]
                  for az, cidr in SUBNETS.items()}
    file_system_id = efs.create_file_system(
        CreationToken=f"{RACK}-volumes",
        Tags=[{"Key": "Rack", "Value": RACK},
              {"Key": "Name", "Value": f"{RACK}-shared-volumes"}])["FileSystemId"]
    for subnet_id in subnet_ids.values():
        efs.create_mount_target(FileSystemId=file_system_id, SubnetId=subnet_id)

    def launch(count: int, az: str, rack: str) -> list[str]:
        if count == 0:
            return []
        reply = ec2.run_instances(
            ImageId=IMAGE_ID, MinCount=count, MaxCount=count, InstanceType="t3.small",
            SubnetId=subnet_ids[az],
            TagSpecifications=[{"ResourceType": "instance",
                                "Tags": [{"Key": "Rack", "Value": rack}]}])
        return [instance["InstanceId"] for instance in reply["Instances"]]

    fleet = {az: launch(count, az, RACK)
             for az, count in zip(SUBNETS, ((size + 1) // 2, size // 2))}
    stopped = launch(1, "us-east-1a", RACK)
    ec2.stop_instances(InstanceIds=stopped)
    fleet["noise"] = stopped + launch(1, "us-east-1b", "other")
    # moto_server waits for open client connections before it stops.
    ec2.close()
    efs.close()
    return fleet


def mount_target_ips(url: str) -> dict[str, str]:
    efs = boto3.client("efs", region_name=REGION, endpoint_url=url)
    file_system_id = efs.describe_file_systems()["FileSystems"][0]["FileSystemId"]
    targets = efs.describe_mount_targets(FileSystemId=file_system_id)["MountTargets"]
    efs.close()
    return {target["AvailabilityZoneName"]: target["IpAddress"] for target in targets}


def write_inventory(directory: Path, url: str, hosts_dir: Path) -> Path:
    host_dir = f"'{hosts_dir}/' ~ inventory_hostname"
    config = {
        "plugin": "convox.volumes.rack",
        "racks": [RACK],
        "regions": [REGION],
        "endpoint_url": url,
        "compose": {
            "ansible_connection": "'local'",
            "ansible_python_interpreter": f"'{sys.executable}'",
            # Each instance's disk: its own volumes root and fstab.
            "convox_volumes_root": f"{host_dir} ~ '/volumes'",
            "efs_mount_path": f"{host_dir} ~ '/volumes'",
            "efs_mount_fstab": f"{host_dir} ~ '/fstab'",
        },
    }
    path = directory / "bench.convox_rack.yml"
    path.write_text(json.dumps(config, indent=2))
    return path


def write_vars(directory: Path, url: str) -> Path:
    apps_dir = CHECKOUT / "examples" / "apps"
    variables = {
        "convox_volumes_target": "rack",
        "convox_efs_discover": True,
        "efs_mount_state": "unmounted",
        "efs_mount_install_client": False,
        "efs_mount_region": REGION,
        "efs_mount_endpoint_url": url,
        "volume_layout_show": False,
        "convox_apps": [{"name": app, "compose_file": str(apps_dir / app / "docker-compose.yml"),
                         "env": {"GITEA_CUSTOM_DIR": "/srv/gitea/custom"}} for app in APPS],
    }
    path = directory / "vars.json"
    path.write_text(json.dumps(variables))
    return path


def recorded_operations(url: str) -> collections.Counter:
    """AWS requests moto recorded, as 'service:Operation' (EFS's REST calls by method and
    resource)."""
    counts: collections.Counter = collections.Counter()
    for line in moto_api(url, "recorder/download-recording", "GET").decode().splitlines():
        entry = json.loads(line)
        if "/moto-api/" in entry["url"]:
            continue
        credential = entry["headers"].get("Authorization", "").split("Credential=")[-1]
        service = credential.split("/")[3] if credential.count("/") >= 4 else "?"
        body = entry.get("body") or ""
        if entry.get("body_encoded"):
            body = base64.b64decode(body).decode(errors="replace")
        action = urllib.parse.parse_qs(body).get("Action")
        if action:
            operation = action[0]
        else:
            resource = urllib.parse.urlsplit(entry["url"]).path.split("/")[2:3]
            operation = f"{entry['method']} {'/'.join(resource)}"
        counts[f"{service}:{operation}"] += 1
    return counts


def check_result(fleet: dict[str, list[str]], hosts_dir: Path, ips: dict[str, str]) -> None:
    """Every running instance got its own AZ's mount target and the layout; the noise
    instances got nothing."""
    for az in SUBNETS:
        for instance_id in fleet[az]:
            fstab = (hosts_dir / instance_id / "fstab").read_text()
            if f"{ips[az]}:/ " not in fstab:
                sys.exit(f"{instance_id} ({az}): fstab lacks the {az} mount target "
                         f"{ips[az]}:\n{fstab}")
            for app in APPS:
                if not (hosts_dir / instance_id / "volumes" / f"{RACK}-{app}").is_dir():
                    sys.exit(f"{instance_id}: no layout for {app} under its volumes root")
    for instance_id in fleet["noise"]:
        if (hosts_dir / instance_id).exists():
            sys.exit(f"{instance_id} is not a running instance of {RACK} but was provisioned")


def run_once(url: str, workdir: Path, size: int, forks: int) -> dict[str, t.Any]:
    moto_api(url, "reset")
    fleet = make_rack(url, size)
    ips = mount_target_ips(url)
    directory = workdir / f"n{size}"
    hosts_dir = directory / "hosts"
    for az in SUBNETS:
        for instance_id in fleet[az]:
            (hosts_dir / instance_id).mkdir(parents=True)
    inventory = write_inventory(directory, url, hosts_dir)
    variables = write_vars(directory, url)

    moto_api(url, "recorder/reset-recording")
    moto_api(url, "recorder/start-recording")
    started = time.monotonic()
    result = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(inventory), "-f", str(forks),
         "-e", f"@{variables}", str(CHECKOUT / "playbooks" / "provision.yml")],
        capture_output=True, text=True, cwd=CHECKOUT, check=False)
    wall = time.monotonic() - started
    moto_api(url, "recorder/stop-recording")
    (directory / "ansible.log").write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        sys.exit(f"provision.yml failed for N={size} (rc {result.returncode}):\n"
                 f"{result.stdout[-4000:]}\n{result.stderr[-2000:]}")
    check_result(fleet, hosts_dir, ips)
    return {"size": size, "wall": wall, "operations": recorded_operations(url)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,50")
    parser.add_argument("--forks", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]

    os.environ.update(FAKE_AWS, AWS_DEFAULT_REGION=REGION, AWS_EC2_METADATA_DISABLED="true",
                      ANSIBLE_CONFIG=str(CHECKOUT / "ansible.cfg"),
                      ANSIBLE_COLLECTIONS_PATH=str(CHECKOUT / ".collections"),
                      ANSIBLE_INVENTORY_UNPARSED_FAILED="true", ANSIBLE_NOCOLOR="1")
    workdir = Path(tempfile.mkdtemp(prefix="convox-bench-fleet."))
    recording = {"MOTO_RECORDER_FILEPATH": str(workdir / "moto-recording")}
    runs = []
    try:
        with moto_server(workdir / "moto.log", env=recording) as url:
            print(f"Fleet provisioning: playbooks/provision.yml over the convox.volumes.rack "
                  f"inventory, {len(APPS)} apps, forks={args.forks}, moto on loopback",
                  flush=True)
            print(f"{'N':>4} {'AWS requests':>13} {'wall s':>8} {'s/host':>7}  "
                  f"requests by operation", flush=True)
            for size in sizes:
                run = run_once(url, workdir, size, args.forks)
                runs.append(run)
                operations = ", ".join(f"{name} {count}"
                                       for name, count in sorted(run["operations"].items()))
                print(f"{size:>4} {sum(run['operations'].values()):>13} {run['wall']:>8.1f} "
                      f"{run['wall'] / size:>7.2f}  {operations}", flush=True)
    except MotoDidNotStart as exc:
        sys.exit(str(exc))
    finally:
        if args.keep:
            print(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    first, last = runs[0], runs[-1]
    requests = [sum(run["operations"].values()) for run in (first, last)]
    print(f"N x{last['size'] / first['size']:g}: AWS requests "
          f"x{requests[1] / max(1, requests[0]):.2f}, "
          f"wall time x{last['wall'] / first['wall']:.2f}")


if __name__ == "__main__":
    main()
