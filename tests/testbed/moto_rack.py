# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: contributors to the convox.volumes collection
"""Create, in a moto server, the AWS side of the test bed's rack; print what exists as JSON.

A VPC, one subnet per availability zone, an EFS file system tagged as the rack's, and one
mount target per subnet whose IP address is the bed's NFS server in that subnet, so that
discovery through the EFS API leads to a real NFS mount. Idempotent: what already exists
(found by tags and the file system's creation token) is reused.

Usage: python moto_rack.py ENDPOINT RACK AZ=SUBNET_CIDR=SERVER_IP [AZ=...]
"""
from __future__ import annotations

import json
import sys
import typing as t

import boto3

REGION = "us-east-1"
VPC_CIDR = "10.77.0.0/16"


def _client(service: str, endpoint: str) -> t.Any:
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def _tags(name: str, rack: str) -> list[dict[str, str]]:
    return [{"Key": "Name", "Value": name}, {"Key": "Rack", "Value": rack}]


def ensure_vpc(ec2: t.Any, rack: str) -> str:
    found = ec2.describe_vpcs(Filters=[{"Name": "tag:Rack", "Values": [rack]}])["Vpcs"]
    if found:
        return found[0]["VpcId"]
    vpc = ec2.create_vpc(CidrBlock=VPC_CIDR, TagSpecifications=[
        {"ResourceType": "vpc", "Tags": _tags(f"{rack}-vpc", rack)}])["Vpc"]
    return vpc["VpcId"]


def ensure_subnet(ec2: t.Any, rack: str, vpc_id: str, zone: str, cidr: str) -> str:
    found = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                          {"Name": "cidr-block", "Values": [cidr]}])["Subnets"]
    if found:
        return found[0]["SubnetId"]
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=zone,
                               TagSpecifications=[{"ResourceType": "subnet",
                                                   "Tags": _tags(f"{rack}-{zone}", rack)}])
    return subnet["Subnet"]["SubnetId"]


def ensure_file_system(efs: t.Any, rack: str) -> str:
    token = f"{rack}-shared-volumes"
    for page in efs.get_paginator("describe_file_systems").paginate(CreationToken=token):
        for file_system in page["FileSystems"]:
            return file_system["FileSystemId"]
    created = efs.create_file_system(CreationToken=token, PerformanceMode="generalPurpose",
                                     Encrypted=True, Tags=_tags(token, rack))
    return created["FileSystemId"]


def ensure_mount_target(efs: t.Any, file_system_id: str, subnet_id: str, ip: str) -> None:
    targets = efs.describe_mount_targets(FileSystemId=file_system_id)["MountTargets"]
    if any(target["SubnetId"] == subnet_id for target in targets):
        return
    efs.create_mount_target(FileSystemId=file_system_id, SubnetId=subnet_id, IpAddress=ip)


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    endpoint, rack, zones = argv[0], argv[1], [spec.split("=") for spec in argv[2:]]
    ec2, efs = _client("ec2", endpoint), _client("efs", endpoint)

    vpc_id = ensure_vpc(ec2, rack)
    file_system_id = ensure_file_system(efs, rack)
    subnets = {}
    for zone, cidr, server_ip in zones:
        subnet_id = ensure_subnet(ec2, rack, vpc_id, zone, cidr)
        ensure_mount_target(efs, file_system_id, subnet_id, server_ip)
        subnets[zone] = subnet_id

    targets = efs.describe_mount_targets(FileSystemId=file_system_id)["MountTargets"]
    json.dump({
        "region": REGION,
        "vpc_id": vpc_id,
        "subnets": subnets,
        "file_system_id": file_system_id,
        "mount_targets": {target["AvailabilityZoneName"]: target["IpAddress"]
                          for target in targets},
    }, sys.stdout, indent=2, sort_keys=True)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
