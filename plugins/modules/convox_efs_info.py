#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: contributors to the convox.volumes collection
from __future__ import annotations

DOCUMENTATION = r"""
module: convox_efs_info
short_description: Find a Convox rack's EFS file system and its mount targets
version_added: 0.1.0
description:
  - Looks up the EFS file system that holds a rack's shared volumes, by O(file_system_id) or
    by O(rack), and returns it with its mount targets.
  - A file system belongs to a rack when it carries the tag O(tag_key)=O(rack), or when its
    Name tag is C(<rack>-shared-volumes). None, or more than one, is an error.
  - Only mount targets in state C(available) with an IP address are usable; RV(mount_targets_by_az)
    maps each AZ to the IP of its usable target, ready for
    M(convox.volumes.convox_efs_mount)'s O(convox.volumes.convox_efs_mount#module:mount_targets).
  - In a region where EFS does not exist (botocore knows the region for EC2 but not for EFS),
    no EFS call is made and RV(supported) is V(false). A region botocore does not know at all
    is an error, so that a typo never silently gives instance-local volumes.
  - Runs on the controller (usually with C(delegate_to) V(localhost)); needs boto3.
  - Belongs to the action group C(convox.volumes.aws), so C(module_defaults) can set the AWS
    options once for every AWS-facing module of this collection.
extends_documentation_fragment:
  - convox.volumes.attributes
  - convox.volumes.aws
options:
  file_system_id:
    description:
      - The ID of the file system, for example V(fs-0123456789abcdef0).
      - Mutually exclusive with O(rack).
    type: str
  rack:
    description:
      - The name of the rack whose file system to find by its tags.
      - Mutually exclusive with O(file_system_id).
    type: str
  tag_key:
    description:
      - The tag key whose value is the rack name.
    type: str
    default: Rack
attributes:
  check_mode:
    support: full
    details: Only reads from AWS, so check mode runs it as usual.
  diff_mode:
    support: none
    details: Changes nothing.
  idempotent:
    support: full
    details: Only reads.
author:
  - convox.volumes contributors (@convox-volumes)
"""

EXAMPLES = r"""
---
- name: Find the rack's file system by its Rack tag
  convox.volumes.convox_efs_info:
    rack: production
    region: us-east-1
  delegate_to: localhost
  run_once: true
  register: efs

- name: Mount it on every instance of the rack
  convox.volumes.convox_efs_mount:
    file_system_id: "{{ efs.file_system.id }}"
    region: "{{ efs.region }}"
    supported: "{{ efs.supported }}"
    availability_zone: "{{ ec2_availability_zone }}"
    mount_targets: "{{ efs.mount_targets }}"

- name: Set the AWS options once for the whole group
  module_defaults:
    group/convox.volumes.aws:
      region: eu-west-1
      profile: ops
  block:
    - name: Look up a file system by its ID
      convox.volumes.convox_efs_info:
        file_system_id: fs-0123456789abcdef0
      delegate_to: localhost
"""

RETURN = r"""
supported:
  description: Whether EFS exists in the region. When V(false), no file system was looked up.
  returned: always
  type: bool
  sample: true
region:
  description: The region that was searched.
  returned: always
  type: str
  sample: us-east-1
file_system:
  description: The file system; empty when RV(supported) is V(false).
  returned: always
  type: dict
  sample:
    id: fs-0123456789abcdef0
    name: production-shared-volumes
    dns_name: fs-0123456789abcdef0.efs.us-east-1.amazonaws.com
    life_cycle_state: available
    region: us-east-1
    tags: {Rack: production}
  contains:
    id:
      description: The file system ID.
      type: str
      sample: fs-0123456789abcdef0
    name:
      description: The value of its Name tag, or null.
      type: str
      sample: production-shared-volumes
    dns_name:
      description: The regional DNS name of the file system.
      type: str
      sample: fs-0123456789abcdef0.efs.us-east-1.amazonaws.com
    life_cycle_state:
      description: The state of the file system.
      type: str
      sample: available
    region:
      description: Its region.
      type: str
      sample: us-east-1
    tags:
      description: Its tags as a mapping.
      type: dict
      sample: {Rack: production}
mount_targets:
  description: Every mount target of the file system, sorted by AZ, usable or not.
  returned: always
  type: list
  elements: dict
  sample:
    - mount_target_id: fsmt-0123456789abcdef0
      availability_zone_name: us-east-1a
      availability_zone_id: use1-az1
      subnet_id: subnet-0123456789abcdef0
      ip_address: 10.0.1.25
      life_cycle_state: available
  contains:
    mount_target_id:
      description: The mount target ID.
      type: str
      sample: fsmt-0123456789abcdef0
    availability_zone_name:
      description: The name of its AZ.
      type: str
      sample: us-east-1a
    availability_zone_id:
      description: The ID of its AZ.
      type: str
      sample: use1-az1
    subnet_id:
      description: Its subnet.
      type: str
      sample: subnet-0123456789abcdef0
    ip_address:
      description: Its IP address (null while it has none).
      type: str
      sample: 10.0.1.25
    life_cycle_state:
      description: Its state; only V(available) targets are usable.
      type: str
      sample: available
mount_targets_by_az:
  description: AZ name to the IP address of its usable mount target.
  returned: always
  type: dict
  sample: {us-east-1a: 10.0.1.25, us-east-1b: 10.0.2.25}
"""

import typing as t

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.convox.volumes.plugins.module_utils import _aws, _efs


def main() -> None:
    argument_spec: dict[str, t.Any] = dict(
        file_system_id=dict(type="str"),
        rack=dict(type="str"),
        tag_key=dict(type="str", default="Rack", no_log=False),
    )
    argument_spec.update(_aws.AWS_ARGUMENT_SPEC)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=[("file_system_id", "rack")],
                           required_one_of=[("file_system_id", "rack")])
    if not _aws.HAS_BOTO3:
        module.fail_json(msg=missing_required_lib("boto3"), exception=_aws.BOTO3_IMPORT_ERROR)

    params = module.params
    if params["rack"] is not None and not params["rack"].strip():
        module.fail_json(msg="rack is empty: give the rack's name, or 'file_system_id'.")
    if params["file_system_id"] is not None and not params["file_system_id"].startswith("fs-"):
        module.fail_json(msg=f"file_system_id {params['file_system_id']!r} is not an EFS file "
                             f"system ID: they look like 'fs-0123456789abcdef0'.")

    result: dict[str, t.Any] = dict(changed=False, supported=False, region=None,
                                    file_system={}, mount_targets=[], mount_targets_by_az={})
    try:
        session = _aws.make_session(params)
        region = _aws.resolve_region(session, params)
        result["region"] = region
        result["supported"] = _aws.region_supports(session, region, "efs")
        if not result["supported"]:
            module.warn(f"EFS is not available in {region}: no file system was looked up, so "
                        f"volumes on this rack's instances are instance-local.")
            module.exit_json(**result)

        client = _aws.make_client(session, "efs", region, params["endpoint_url"])
        file_system = _efs.find_file_system(client, region,
                                            file_system_id=params["file_system_id"],
                                            rack=params["rack"], tag_key=params["tag_key"])
        targets = _efs.describe_mount_targets(client, file_system["id"])
    except (_aws.AwsError, _efs.EfsError) as exc:
        module.fail_json(msg=str(exc), **result)

    by_az = _efs.mount_targets_by_az(targets)
    unusable = [f"{target['availability_zone_name']} ({target['life_cycle_state']})"
                for target in targets if target not in _efs.usable_mount_targets(targets)]
    module.log(f"file system {file_system['id']} in {region}: usable mount targets in "
               f"{', '.join(sorted(by_az)) or 'no AZ'}"
               + (f"; not usable: {', '.join(unusable)}" if unusable else ""))
    result.update(file_system=file_system, mount_targets=targets, mount_targets_by_az=by_az)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
