# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: contributors to the convox.volumes collection
from __future__ import annotations

DOCUMENTATION = r"""
name: rack
short_description: The running EC2 instances of one or more Convox racks
version_added: 0.1.0
description:
  - Lists the running EC2 instances whose rack tag (O(tag_key), V(Rack) by default) holds one
    of the names in O(racks), in every region of O(regions), the way C(convox instances) lists
    a rack's instances.
  - Stopped, stopping, pending and terminated instances, untagged instances and the instances
    of other racks are left out. EC2 does the filtering, so one C(DescribeInstances) call (or
    one per result page) per region is made, however many instances the racks have.
  - Each host gets the variables C(convox_rack), C(ec2_instance_id), C(ec2_availability_zone),
    C(ec2_region), C(ec2_private_ip), C(ec2_private_dns_name), C(ec2_public_ip),
    C(ec2_instance_type), C(ec2_tags) and C(ansible_host), and is put in the groups
    C(rack_<rack>) and C(az_<availability zone>), with hyphens turned into underscores
    (C(rack_prod), C(az_us_east_1a)).
  - The configuration file's name must end in C(convox_rack.yml) or C(convox_rack.yaml).
  - Any configuration error (no racks, an unknown option, credentials AWS refuses) fails the
    inventory source with one message that names the option and the fix.
author:
  - convox.volumes contributors (@convox-volumes)
extends_documentation_fragment:
  - constructed
  - inventory_cache
requirements:
  - boto3 >= 1.34 (on the controller)
options:
  plugin:
    description: Marks the file as a configuration of this plugin.
    type: str
    required: true
    choices: [convox.volumes.rack]
  racks:
    description:
      - The names of the racks whose instances to list. At least one is needed.
      - Each is a Convox rack name (lowercase letters, digits and hyphens).
    type: list
    elements: str
    default: []
  regions:
    description:
      - The AWS regions to search, for example V([us-east-1]).
      - When empty, the region of the AWS configuration is used (E(AWS_REGION),
        E(AWS_DEFAULT_REGION) or the profile's region).
    type: list
    elements: str
    default: []
  tag_key:
    description:
      - The EC2 tag whose value is the rack name. Convox tags a rack's instances with V(Rack).
    type: str
    default: Rack
  hostnames:
    description:
      - What names the hosts of the inventory.
      - V(instance_id) is unique; V(private_dns_name) and V(private_ip_address) read better but
        must not repeat across the listed regions (two instances with the same name are an
        error). An instance without the chosen attribute is listed under its instance ID, with
        a warning.
    type: str
    choices: [instance_id, private_dns_name, private_ip_address]
    default: instance_id
  use_public_ip:
    description:
      - Set C(ansible_host) to the instance's public IP address instead of its private one.
      - An instance without a public IP keeps its private IP, with a warning.
    type: bool
    default: false
  access_key:
    description:
      - AWS access key ID.
    type: str
    aliases: [aws_access_key_id, aws_access_key, ec2_access_key]
    env:
      - name: AWS_ACCESS_KEY_ID
      - name: AWS_ACCESS_KEY
      - name: EC2_ACCESS_KEY
  secret_key:
    description:
      - AWS secret access key.
    type: str
    aliases: [aws_secret_access_key, aws_secret_key, ec2_secret_key]
    env:
      - name: AWS_SECRET_ACCESS_KEY
      - name: AWS_SECRET_KEY
      - name: EC2_SECRET_KEY
  session_token:
    description:
      - AWS session token for temporary credentials.
    type: str
    aliases: [aws_session_token, security_token, aws_security_token]
    env:
      - name: AWS_SESSION_TOKEN
      - name: AWS_SECURITY_TOKEN
      - name: EC2_SECURITY_TOKEN
  profile:
    description:
      - A named profile of the AWS configuration files.
      - Keys given with O(access_key) and O(secret_key) take precedence over the profile.
    type: str
    aliases: [aws_profile]
    env:
      - name: AWS_PROFILE
      - name: AWS_DEFAULT_PROFILE
  endpoint_url:
    description:
      - Send EC2 requests to this URL instead of the default endpoint, for example a test
        server such as moto.
    type: str
    aliases: [aws_endpoint_url, ec2_url]
    env:
      - name: AWS_URL
      - name: EC2_URL
notes:
  - The credentials need C(ec2:DescribeInstances) in every listed region.
  - With O(cache=true) the instances found are kept by the cache plugin for O(cache_timeout)
    seconds; C(ansible-inventory --flush-cache) asks EC2 again.
"""

EXAMPLES = r"""
---
# production.convox_rack.yml: the running instances of rack "production"
plugin: convox.volumes.rack
racks: [production]
regions: [us-east-1]

---
# staging.convox_rack.yml: two racks by private DNS name, cached for 10 minutes, with a group
# per instance type and a variable for the rack's volumes root
plugin: convox.volumes.rack
racks: [staging, staging-eu]
regions: [us-east-1, eu-west-1]
hostnames: private_dns_name
profile: staging
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/convox-rack-inventory
cache_timeout: 600
keyed_groups:
  - key: ec2_instance_type
    prefix: type
compose:
  convox_volumes_root: "'/volumes'"
"""

import difflib
import os
import typing as t
from collections.abc import Mapping

from ansible.errors import AnsibleError, AnsibleParserError
from ansible.module_utils.parsing.convert_bool import BOOLEANS
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable

from ansible_collections.convox.volumes.plugins.module_utils import _aws
from ansible_collections.convox.volumes.plugins.module_utils._rack_inventory import (
    RackInventoryError,
    instance_filters,
    instance_record,
    plan_hosts,
    validate_racks,
    validate_tag_key,
)

CONFIG_SUFFIXES = ("convox_rack.yml", "convox_rack.yaml")


def _is_boolean(value: t.Any) -> bool:
    if isinstance(value, str):
        value = value.lower()
    return isinstance(value, (bool, str, int)) and value in BOOLEANS


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    NAME = "convox.volumes.rack"

    def verify_file(self, path: str) -> bool:
        return super().verify_file(path) and path.endswith(CONFIG_SUFFIXES)

    def parse(self, inventory: t.Any, loader: t.Any, path: str, cache: bool = True) -> None:
        super().parse(inventory, loader, path, cache)
        try:
            self._check_raw_config(path)
            self._read_config_data(path)
            racks = validate_racks(self.get_option("racks"))
            tag_key = validate_tag_key(self.get_option("tag_key"))
            records = self._records(path, cache, racks, tag_key)
            hosts, warnings = plan_hosts(records, self.get_option("hostnames"),
                                         self.get_option("use_public_ip"))
        except (AnsibleError, RackInventoryError, _aws.AwsError) as exc:
            raise AnsibleParserError(f"{self.NAME} inventory {path}: {exc}") from None
        for warning in warnings:
            self.display.warning(f"{self.NAME} inventory {path}: {warning}")
        self._populate(path, hosts)

    # Configuration

    def _check_raw_config(self, path: str) -> None:
        """Check the file as written, before ansible-core reads it: ansible-core ignores
        unknown keys (a typo such as `rack:` for `racks:` would go unnoticed), reads any
        unrecognised word as false for a boolean, and names no choices when a value is not
        one of them."""
        config = self.loader.load_from_file(path, cache="none")
        if not isinstance(config, Mapping) or config.get("plugin") != self.NAME:
            return  # ansible-core's own message says what is wrong with such a file
        definitions = self._option_definitions()
        names = {alias: name for name, definition in definitions.items()
                 for alias in [name, *(definition.get("aliases") or [])]}

        unknown = sorted(str(key) for key in config if key not in names)
        if unknown:
            hints = []
            for key in unknown:
                close = difflib.get_close_matches(key, sorted(names), n=1)
                hints.append(f"{key!r} (did you mean {close[0]!r}?)" if close else repr(key))
            raise RackInventoryError(
                f"unknown option {', '.join(hints)}; the options are "
                f"{', '.join(sorted(definitions))}")

        for key, value in config.items():
            definition = definitions[names[key]]
            choices = definition.get("choices")
            if choices and value not in choices:
                raise RackInventoryError(
                    f"{key!r} is {value!r}: use one of {', '.join(map(str, choices))}")
            if definition.get("type") == "bool" and not _is_boolean(value):
                raise RackInventoryError(
                    f"{key!r} is {value!r}, which is not a boolean: use true or false")

    def _option_definitions(self) -> dict[str, dict[str, t.Any]]:
        from ansible import constants as C

        return C.config.get_configuration_definitions("inventory", self._load_name) or {}

    def _aws_params(self) -> dict[str, t.Any]:
        params = {name: self.get_option(name) for name in
                  ("access_key", "secret_key", "session_token", "profile", "endpoint_url")}
        params["region"] = os.environ.get("AWS_REGION")
        return params

    # Finding the instances

    def _records(self, path: str, cache: bool, racks: list[str],
                 tag_key: str) -> list[dict[str, t.Any]]:
        """The rack's instances from the cache when it is on, fresh and was filled by the same
        query (racks, regions, tag key, endpoint, profile), else from EC2."""
        cache_key = self.get_cache_key(path)
        query = {"racks": sorted(racks), "tag_key": tag_key,
                 "regions": sorted(self.get_option("regions") or []),
                 "endpoint_url": self.get_option("endpoint_url"),
                 "profile": self.get_option("profile")}
        use_cache = bool(self.get_option("cache")) and cache
        update_cache = bool(self.get_option("cache")) and not cache
        if use_cache:
            try:
                cached = self._cache[cache_key]
            except KeyError:
                cached = None
            if isinstance(cached, Mapping) and cached.get("query") == query:
                return cached["records"]
            # Missing, or written for another configuration of this file: ask EC2 again.
            update_cache = True
        records = self._describe_instances(racks, tag_key)
        if update_cache:
            self._cache[cache_key] = {"query": query, "records": records}
        return records

    def _describe_instances(self, racks: list[str], tag_key: str) -> list[dict[str, t.Any]]:
        if not _aws.HAS_BOTO3:
            raise RackInventoryError(
                f"boto3 is needed on the controller to list rack instances "
                f"({_aws.BOTO3_IMPORT_ERROR}): install it with pip install boto3")
        params = self._aws_params()
        self._check_credential_pair(params)
        session = _aws.make_session(params)
        records: list[dict[str, t.Any]] = []
        for region in self._regions(session, params):
            try:
                client = _aws.make_client(session, "ec2", region, params.get("endpoint_url"))
            except (_aws.botocore.exceptions.BotoCoreError, ValueError) as exc:
                raise RackInventoryError(
                    f"cannot make an EC2 client for region {region!r}: {exc}. Check "
                    f"'endpoint_url' and the credentials options") from None
            reservations = _aws.paginate(client, "DescribeInstances", "Reservations",
                                         Filters=instance_filters(tag_key, racks))
            for reservation in reservations:
                for instance in reservation.get("Instances", []):
                    record = instance_record(instance, region, tag_key, racks)
                    if record:
                        records.append(record)
        return records

    def _check_credential_pair(self, params: dict[str, t.Any]) -> None:
        if bool(params.get("access_key")) != bool(params.get("secret_key")):
            missing = "secret_key" if params.get("access_key") else "access_key"
            raise RackInventoryError(
                f"'access_key' and 'secret_key' go together, but {missing!r} is not set (nor "
                f"its environment variable): set both, or neither to use a profile or an "
                f"instance role")

    def _regions(self, session: t.Any, params: dict[str, t.Any]) -> list[str]:
        regions = self.get_option("regions")
        if not regions:
            try:
                regions = [_aws.resolve_region(session, params)]
            except _aws.AwsError:
                raise RackInventoryError(
                    "no AWS region: list the regions of the racks in 'regions' (or set "
                    "AWS_REGION or AWS_DEFAULT_REGION in the environment)") from None
        known = _aws.known_regions(session, "ec2")
        unique: list[str] = []
        for region in regions:
            if region not in known:
                raise RackInventoryError(
                    f"'regions': {region!r} is not an AWS region botocore knows; check the "
                    f"spelling, for example us-east-1")
            if region not in unique:
                unique.append(region)
        return unique

    # Filling the inventory

    def _populate(self, path: str, hosts: list[dict[str, t.Any]]) -> None:
        strict = self.get_option("strict")
        for host in hosts:
            name = host["name"]
            self.inventory.add_host(name)
            for group in host["groups"]:
                self.inventory.add_group(group)
                self.inventory.add_child(group, name)
            for key, value in host["variables"].items():
                self.inventory.set_variable(name, key, value)
            variables = self.inventory.get_host(name).get_vars()
            try:
                self._set_composite_vars(self.get_option("compose"), variables, name,
                                         strict=strict)
                self._add_host_to_composed_groups(self.get_option("groups"), variables, name,
                                                  strict=strict)
                self._add_host_to_keyed_groups(self.get_option("keyed_groups"), variables,
                                               name, strict=strict)
            except AnsibleError as exc:
                raise AnsibleParserError(
                    f"{self.NAME} inventory {path}: host {name}: {exc}") from None
