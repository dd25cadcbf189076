# SPDX-License-Identifier: GPL-3.0-or-later
"""The inventory plugin convox.volumes.rack, run by a real `ansible-inventory --list` against
EC2 instances made in moto: three racks, two AZs, a stopped and an untagged instance."""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import typing as t
import urllib.parse
import urllib.request
from pathlib import Path

import boto3
import pytest
import yaml

from local_moto import (FAKE_AWS, NAMESPACE_NEEDS, can_make_namespace, loopback_namespace,
                        moto_server)

CHECKOUT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
EXAMPLE = CHECKOUT / "examples" / "convox_rack.yml"
PLUGIN_PATH = "ansible_collections.convox.volumes.plugins.inventory.rack"


# The fleet in moto

@pytest.fixture
def ec2(moto: str) -> t.Iterator[t.Callable[..., t.Any]]:
    """EC2 clients on moto by region, closed afterwards: moto_server waits for open client
    connections before it stops."""
    clients: dict[str, t.Any] = {}

    def client(region: str = "us-east-1") -> t.Any:
        if region not in clients:
            clients[region] = boto3.client("ec2", region_name=region, endpoint_url=moto)
        return clients[region]

    yield client
    for opened in clients.values():
        opened.close()


# moto accepts any image ID; asking it for its image list costs seconds per call.
IMAGE_ID = "ami-0c55b159cbfafe1f0"


def _launch(ec2: t.Any, az: str, tags: dict[str, str], instance_type: str = "t3.small") -> dict:
    spec = [{"ResourceType": "instance",
             "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}] if tags else []
    instance_id = ec2.run_instances(
        ImageId=IMAGE_ID, MinCount=1, MaxCount=1, InstanceType=instance_type,
        Placement={"AvailabilityZone": az}, TagSpecifications=spec)["Instances"][0]["InstanceId"]
    return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]


@pytest.fixture
def fleet(ec2: t.Callable[..., t.Any]) -> dict[str, dict]:
    """Racks prod (two AZs, one instance stopped), staging and other, one untagged instance,
    and one prod-eu instance in another region. Keys name the instances."""
    east = ec2()
    instances = {
        "prod_a": _launch(east, "us-east-1a", {"Rack": "prod", "Name": "prod-a"}),
        "prod_b": _launch(east, "us-east-1b", {"Rack": "prod"}, "m5.large"),
        "prod_stopped": _launch(east, "us-east-1a", {"Rack": "prod"}),
        "staging_a": _launch(east, "us-east-1a", {"Rack": "staging"}),
        "other_b": _launch(east, "us-east-1b", {"Rack": "other"}),
        "untagged_b": _launch(east, "us-east-1b", {}),
        "prod_eu": _launch(ec2("eu-west-1"), "eu-west-1a", {"Rack": "prod-eu"}),
    }
    east.stop_instances(InstanceIds=[instances["prod_stopped"]["InstanceId"]])
    return instances


# Running ansible-inventory

def _env(**overrides: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(ANSIBLE_CONFIG=str(CHECKOUT / "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=str(CHECKOUT / ".collections"),
               ANSIBLE_INVENTORY_UNPARSED_FAILED="true",
               ANSIBLE_NOCOLOR="1")
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _unwrap(value: t.Any) -> t.Any:
    """ansible-inventory marks values that came from outside as {"__ansible_unsafe": v}."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {key: _unwrap(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unwrap(item) for item in value]
    return value


class Listing(t.NamedTuple):
    returncode: int
    hostvars: dict[str, dict[str, t.Any]]
    groups: dict[str, set[str]]
    stderr: str


def list_inventory(source: Path, *extra_args: str, **env: str | None) -> Listing:
    result = subprocess.run(
        [str(BIN / "ansible-inventory"), "-i", str(source), "--list", *extra_args],
        capture_output=True, text=True, env=_env(**env), cwd=CHECKOUT, timeout=120,
        check=False)
    if result.returncode != 0:
        return Listing(result.returncode, {}, {}, result.stderr)
    data = _unwrap(json.loads(result.stdout))
    hostvars = data.pop("_meta")["hostvars"]
    groups = {name: set(body.get("hosts", [])) for name, body in data.items()}
    return Listing(0, hostvars, groups, result.stderr)


def write_config(directory: Path, text: str, name: str = "test.convox_rack.yml") -> Path:
    path = directory / name
    path.write_text("plugin: convox.volumes.rack\n" + text)
    return path


def _ids(fleet: dict[str, dict], *keys: str) -> set[str]:
    return {fleet[key]["InstanceId"] for key in keys}


# Hosts, variables, groups

def test_running_instances_of_the_listed_racks(fleet: dict, moto: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, f"racks: [prod, staging]\nregions: [us-east-1]\n"
                                    f"endpoint_url: {moto}\n")

    listing = list_inventory(config)

    assert listing.returncode == 0, listing.stderr
    assert set(listing.hostvars) == _ids(fleet, "prod_a", "prod_b", "staging_a")
    assert listing.groups["rack_prod"] == _ids(fleet, "prod_a", "prod_b")
    assert listing.groups["rack_staging"] == _ids(fleet, "staging_a")
    assert listing.groups["az_us_east_1a"] == _ids(fleet, "prod_a", "staging_a")
    assert listing.groups["az_us_east_1b"] == _ids(fleet, "prod_b")
    assert "rack_other" not in listing.groups


@pytest.mark.parametrize("key", ["prod_a", "prod_b", "staging_a"])
def test_host_variables_come_from_the_instance(fleet: dict, moto: str, tmp_path: Path,
                                               key: str) -> None:
    instance = fleet[key]
    config = write_config(tmp_path, f"racks: [prod, staging]\nregions: [us-east-1]\n"
                                    f"endpoint_url: {moto}\n")

    hostvars = list_inventory(config).hostvars[instance["InstanceId"]]

    tags = {tag["Key"]: tag["Value"] for tag in instance["Tags"]}
    assert hostvars == {
        "convox_rack": tags["Rack"],
        "ec2_instance_id": instance["InstanceId"],
        "ec2_availability_zone": instance["Placement"]["AvailabilityZone"],
        "ec2_region": "us-east-1",
        "ec2_private_ip": instance["PrivateIpAddress"],
        "ec2_private_dns_name": instance["PrivateDnsName"],
        "ec2_public_ip": instance["PublicIpAddress"],
        "ec2_instance_type": instance["InstanceType"],
        "ec2_tags": tags,
        "ansible_host": instance["PrivateIpAddress"],
    }


@pytest.mark.parametrize("hostnames, attribute", [
    ("instance_id", "InstanceId"),
    ("private_dns_name", "PrivateDnsName"),
    ("private_ip_address", "PrivateIpAddress"),
])
def test_hostnames(fleet: dict, moto: str, tmp_path: Path, hostnames: str,
                   attribute: str) -> None:
    config = write_config(tmp_path, f"racks: [prod]\nregions: [us-east-1]\n"
                                    f"hostnames: {hostnames}\nendpoint_url: {moto}\n")

    listing = list_inventory(config)

    assert set(listing.hostvars) == {fleet["prod_a"][attribute], fleet["prod_b"][attribute]}
    assert listing.groups["az_us_east_1b"] == {fleet["prod_b"][attribute]}


@pytest.mark.parametrize("use_public_ip, address", [
    ("false", "PrivateIpAddress"),
    ("true", "PublicIpAddress"),
])
def test_use_public_ip(fleet: dict, moto: str, tmp_path: Path, use_public_ip: str,
                       address: str) -> None:
    config = write_config(tmp_path, f"racks: [prod]\nregions: [us-east-1]\n"
                                    f"use_public_ip: {use_public_ip}\nendpoint_url: {moto}\n")

    hostvars = list_inventory(config).hostvars

    assert {name: host["ansible_host"] for name, host in hostvars.items()} == {
        fleet[key]["InstanceId"]: fleet[key][address] for key in ("prod_a", "prod_b")}


def test_tag_key_and_several_regions(moto: str, ec2: t.Callable[..., t.Any],
                                     tmp_path: Path) -> None:
    east = _launch(ec2(), "us-east-1b", {"convox:rack": "prod"})
    _launch(ec2(), "us-east-1a", {"Rack": "prod"})
    west = _launch(ec2("us-west-2"), "us-west-2c", {"convox:rack": "prod"})
    config = write_config(tmp_path, f"racks: [prod]\nregions: [us-east-1, us-west-2]\n"
                                    f"tag_key: 'convox:rack'\nendpoint_url: {moto}\n")

    listing = list_inventory(config)

    assert set(listing.hostvars) == {east["InstanceId"], west["InstanceId"]}
    assert listing.hostvars[west["InstanceId"]]["ec2_region"] == "us-west-2"
    assert listing.groups["az_us_west_2c"] == {west["InstanceId"]}


def test_region_from_the_environment(fleet: dict, moto: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, f"racks: [prod-eu]\nendpoint_url: {moto}\n")

    listing = list_inventory(config, AWS_REGION="eu-west-1")

    assert set(listing.hostvars) == _ids(fleet, "prod_eu")
    assert listing.groups["rack_prod_eu"] == _ids(fleet, "prod_eu")


def test_constructable_options(fleet: dict, moto: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, f"""racks: [prod, staging]
regions: [us-east-1]
endpoint_url: {moto}
strict: true
compose:
  volumes_root: "'/volumes/' ~ convox_rack"
groups:
  named: "'Name' in ec2_tags"
keyed_groups:
  - key: ec2_instance_type
    prefix: type
  - key: ec2_tags.Rack
    prefix: tag
""")

    listing = list_inventory(config)

    assert listing.returncode == 0, listing.stderr
    assert listing.groups["type_t3_small"] == _ids(fleet, "prod_a", "staging_a")
    assert listing.groups["type_m5_large"] == _ids(fleet, "prod_b")
    assert listing.groups["tag_staging"] == _ids(fleet, "staging_a")
    assert listing.groups["named"] == _ids(fleet, "prod_a")
    assert {name: host["volumes_root"] for name, host in listing.hostvars.items()} == {
        fleet["prod_a"]["InstanceId"]: "/volumes/prod",
        fleet["prod_b"]["InstanceId"]: "/volumes/prod",
        fleet["staging_a"]["InstanceId"]: "/volumes/staging",
    }


def test_strict_fails_on_an_expression_that_does_not_apply(fleet: dict, moto: str,
                                                           tmp_path: Path) -> None:
    """strict: true fails the source naming the file and the host; false leaves it out."""
    body = (f"racks: [staging]\nregions: [us-east-1]\nendpoint_url: {moto}\n"
            f"compose:\n  owner: ec2_tags.Owner.lower()\n")
    strict = write_config(tmp_path, body + "strict: true\n", "strict.convox_rack.yml")
    lenient = write_config(tmp_path, body + "strict: false\n", "lenient.convox_rack.yml")
    host = fleet["staging_a"]["InstanceId"]

    failed = list_inventory(strict, ANSIBLE_INVENTORY_ENABLED="convox.volumes.rack")
    listed = list_inventory(lenient)

    assert failed.returncode != 0
    assert f"convox.volumes.rack inventory {strict}: host {host}: " in failed.stderr
    assert listed.returncode == 0, listed.stderr
    assert set(listed.hostvars) == {host}
    assert "owner" not in listed.hostvars[host]


def test_cache_serves_the_last_listing_until_flushed(
        fleet: dict, moto: str, ec2: t.Callable[..., t.Any], tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    config = write_config(tmp_path, f"""racks: [prod]
regions: [us-east-1]
endpoint_url: {moto}
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: {cache_dir}
cache_timeout: 3600
""")
    both = _ids(fleet, "prod_a", "prod_b")

    first = list_inventory(config)
    ec2().terminate_instances(InstanceIds=[fleet["prod_b"]["InstanceId"]])
    cached = list_inventory(config)
    flushed = list_inventory(config, "--flush-cache")

    assert set(first.hostvars) == both
    assert len(list(cache_dir.iterdir())) == 1
    assert set(cached.hostvars) == both
    assert cached.hostvars == first.hostvars
    assert set(flushed.hostvars) == _ids(fleet, "prod_a")


def test_cache_is_not_served_to_a_changed_configuration(
        fleet: dict, moto: str, tmp_path: Path) -> None:
    cache = f"""endpoint_url: {moto}
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: {tmp_path / "cache"}
cache_timeout: 3600
"""
    config = write_config(tmp_path, "racks: [prod]\nregions: [us-east-1]\n" + cache)
    first = list_inventory(config)
    write_config(tmp_path, "racks: [staging, prod-eu]\nregions: [us-east-1, eu-west-1]\n"
                 + cache)

    changed = list_inventory(config)

    assert set(first.hostvars) == _ids(fleet, "prod_a", "prod_b")
    assert set(changed.hostvars) == _ids(fleet, "staging_a", "prod_eu")
    assert set(changed.groups) >= {"rack_staging", "rack_prod_eu"}
    assert "rack_prod" not in changed.groups


def test_the_example_file(moto: str, ec2: t.Callable[..., t.Any], tmp_path: Path) -> None:
    """examples/convox_rack.yml as a user writes it, pointed at moto through the environment."""
    production = [_launch(ec2(), az, {"Rack": "production"})
                  for az in ("us-east-1a", "us-east-1b")]
    _launch(ec2(), "us-east-1a", {"Rack": "staging"})

    listing = list_inventory(EXAMPLE, AWS_URL=moto)

    assert listing.returncode == 0, listing.stderr
    assert set(listing.hostvars) == {instance["InstanceId"] for instance in production}
    assert listing.groups["rack_production"] == set(listing.hostvars)
    assert {host["ansible_user"] for host in listing.hostvars.values()} == {"ec2-user"}


def test_the_example_file_is_picked_up_by_name_only(tmp_path: Path) -> None:
    """A file whose name does not end in convox_rack.yml is not this plugin's."""
    renamed = tmp_path / "rack.yml"
    shutil.copy(EXAMPLE, renamed)

    listing = list_inventory(renamed, ANSIBLE_INVENTORY_ENABLED="convox.volumes.rack")

    assert listing.returncode != 0
    assert "Unable to parse" in listing.stderr and "convox.volumes.rack inventory" not in (
        listing.stderr)


# Configuration errors: one message naming the option and the fix

@pytest.mark.parametrize("body, message", [
    ("regions: [us-east-1]\n",
     "no racks to list: set 'racks' to the names of one or more racks"),
    ("racks: []\n",
     "no racks to list: set 'racks' to the names of one or more racks"),
    ("rack: [prod]\nracks: [prod]\n",
     "unknown option 'rack' (did you mean 'racks'?)"),
    ("racks: [Prod_1]\n",
     "'racks': rack name 'Prod_1' is not a Convox name"),
    ("racks: [prod]\nhostnames: ip\n",
     "'hostnames' is 'ip': use one of instance_id, private_dns_name, private_ip_address"),
    ("racks: [prod]\nuse_public_ip: maybe\n",
     "'use_public_ip' is 'maybe', which is not a boolean: use true or false"),
    ("racks: [prod]\nregions: [us-east-9]\n",
     "'regions': 'us-east-9' is not an AWS region botocore knows"),
    ("racks: [prod]\nprofile: nowhere\n",
     "profile 'nowhere' is not in the AWS configuration"),
    ("racks: [prod]\naccess_key: AKIAEXAMPLE\nsecret_key: ''\n",
     "'access_key' and 'secret_key' go together, but 'secret_key' is not set"),
])
def test_configuration_errors(moto: str, tmp_path: Path, body: str, message: str) -> None:
    config = write_config(tmp_path, f"endpoint_url: {moto}\n{body}")

    listing = list_inventory(config, ANSIBLE_INVENTORY_ENABLED="convox.volumes.rack")

    assert listing.returncode != 0
    assert f"convox.volumes.rack inventory {config}: {message}" in listing.stderr
    failures = [line for line in listing.stderr.splitlines()
                if line.startswith("[WARNING]: Failed to parse")]
    assert len(failures) == 1
    assert failures[0].startswith(f"[WARNING]: Failed to parse inventory with '{PLUGIN_PATH}' "
                                  f"plugin: convox.volumes.rack inventory {config}: {message}")


def test_no_region(moto: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, f"endpoint_url: {moto}\nracks: [prod]\n")

    listing = list_inventory(config, ANSIBLE_INVENTORY_ENABLED="convox.volumes.rack",
                             AWS_REGION=None, AWS_DEFAULT_REGION=None)

    assert listing.returncode != 0
    assert (f"convox.volumes.rack inventory {config}: no AWS region: list the regions of the "
            f"racks in 'regions' (or set AWS_REGION or AWS_DEFAULT_REGION in the environment)"
            in listing.stderr)


def test_no_credentials(moto: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, f"racks: [prod]\nendpoint_url: {moto}\n")

    listing = list_inventory(config, ANSIBLE_INVENTORY_ENABLED="convox.volumes.rack",
                             AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None,
                             AWS_EC2_METADATA_DISABLED="true")

    assert listing.returncode != 0
    assert ("DescribeInstances failed: no AWS credentials found. Set 'access_key' and "
            "'secret_key', a 'profile'") in listing.stderr


@pytest.fixture(scope="module")
def moto_checking_credentials(tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[str]:
    """A second moto server that, like AWS, refuses access keys it does not know."""
    log = tmp_path_factory.mktemp("moto-auth") / "moto.log"
    with moto_server(log, env={"INITIAL_NO_AUTH_ACTION_COUNT": "0"}) as url:
        yield url


def test_credentials_aws_refuses(moto_checking_credentials: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, f"racks: [prod]\nregions: [us-east-1]\n"
                                    f"access_key: AKIAUNKNOWN\nsecret_key: wrong\n"
                                    f"endpoint_url: {moto_checking_credentials}\n")

    listing = list_inventory(config, ANSIBLE_INVENTORY_ENABLED="convox.volumes.rack")

    assert listing.returncode != 0
    assert (f"convox.volumes.rack inventory {config}: DescribeInstances was refused: the "
            f"credentials are not valid (AuthFailure") in listing.stderr


# What reaches EC2: a moto that records every request

class Recorded(t.NamedTuple):
    """One request moto received: the EC2 action, the access key it was signed with and its
    session token (None without one)."""
    action: str
    access_key: str
    session_token: str | None


class Recorder:
    """A moto server that records the requests made between start() and requests()."""

    def __init__(self, url: str) -> None:
        self.url = url

    def api(self, path: str, method: str = "POST") -> str:
        request = urllib.request.Request(f"{self.url}/moto-api/{path}", method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.read().decode()

    def start(self) -> None:
        self.api("recorder/reset-recording")
        self.api("recorder/start-recording")

    def requests(self) -> list[Recorded]:
        """The requests since start(); recording stops."""
        self.api("recorder/stop-recording")
        found: list[Recorded] = []
        for line in self.api("recorder/download-recording", "GET").splitlines():
            entry = json.loads(line)
            if "/moto-api/" in entry["url"]:
                continue
            headers = {key.lower(): value for key, value in entry["headers"].items()}
            body = entry.get("body") or ""
            if entry.get("body_encoded"):
                body = base64.b64decode(body).decode()
            credential = headers.get("authorization", "").split("Credential=")[-1]
            found.append(Recorded(urllib.parse.parse_qs(body).get("Action", ["?"])[0],
                                  credential.split("/")[0],
                                  headers.get("x-amz-security-token")))
        return found


@pytest.fixture(scope="module")
def recording_moto_server(tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[str]:
    directory = tmp_path_factory.mktemp("moto-recording")
    with moto_server(directory / "moto.log",
                     env={"MOTO_RECORDER_FILEPATH": str(directory / "recording")}) as url:
        yield url


@pytest.fixture
def recorder(recording_moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Recorder:
    """The recording moto, emptied of the resources of earlier tests; the fake credentials in
    the environment (which a test may take out for ansible-inventory)."""
    for key, value in FAKE_AWS.items():
        monkeypatch.setenv(key, value)
    recording = Recorder(recording_moto_server)
    recording.api("reset")
    return recording


def _launch_on(url: str, *azs: str, rack: str = "prod") -> set[str]:
    client = boto3.client("ec2", region_name="us-east-1", endpoint_url=url)
    try:
        return {_launch(client, az, {"Rack": rack})["InstanceId"] for az in azs}
    finally:
        client.close()


def test_cache_hit_makes_no_ec2_request(recorder: Recorder, tmp_path: Path) -> None:
    instances = _launch_on(recorder.url, "us-east-1a", "us-east-1b")
    config = write_config(tmp_path, f"""racks: [prod]
regions: [us-east-1, us-west-2]
endpoint_url: {recorder.url}
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: {tmp_path / "cache"}
cache_timeout: 3600
""")
    actions: list[list[str]] = []
    listings = []
    for extra in ([], [], ["--flush-cache"]):
        recorder.start()
        listings.append(list_inventory(config, *extra))
        actions.append([request.action for request in recorder.requests()])

    assert [set(listing.hostvars) for listing in listings] == [instances] * 3
    # One DescribeInstances per listed region when EC2 is asked; none on a cache hit.
    assert actions == [["DescribeInstances"] * 2, [], ["DescribeInstances"] * 2]


# The environment fallbacks botocore itself does not read (AWS_ACCESS_KEY, EC2_*, AWS_URL)
# are the plugin's own; the others are checked too, since the plugin passes them on.
@pytest.mark.parametrize("key_id, secret, token, endpoint", [
    ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_URL"),
    ("AWS_ACCESS_KEY", "AWS_SECRET_KEY", "AWS_SECURITY_TOKEN", "AWS_URL"),
    ("EC2_ACCESS_KEY", "EC2_SECRET_KEY", "EC2_SECURITY_TOKEN", "EC2_URL"),
])
def test_credentials_and_endpoint_from_the_environment(
        recorder: Recorder, tmp_path: Path, key_id: str, secret: str, token: str,
        endpoint: str) -> None:
    instances = _launch_on(recorder.url, "us-east-1a")
    config = write_config(tmp_path, "racks: [prod]\nregions: [us-east-1]\n")
    unset = dict.fromkeys(["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE",
                           "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_URL",
                           "AWS_ENDPOINT_URL"])

    recorder.start()
    listing = list_inventory(config, **{**unset, key_id: "AKIAFROMENVIRONMENT",
                                        secret: "secret", token: "token-from-environment",
                                        endpoint: recorder.url})

    assert listing.returncode == 0, listing.stderr
    assert set(listing.hostvars) == instances
    assert recorder.requests() == [
        Recorded("DescribeInstances", "AKIAFROMENVIRONMENT", "token-from-environment")]


@pytest.mark.parametrize("variable", ["AWS_PROFILE", "AWS_DEFAULT_PROFILE"])
def test_profile_from_the_environment(recorder: Recorder, tmp_path: Path,
                                      variable: str) -> None:
    instances = _launch_on(recorder.url, "us-east-1b")
    credentials = tmp_path / "credentials"
    credentials.write_text("[rackops]\naws_access_key_id = AKIAFROMPROFILE\n"
                           "aws_secret_access_key = secret\n")
    config = write_config(tmp_path, f"racks: [prod]\nregions: [us-east-1]\n"
                                    f"endpoint_url: {recorder.url}\n")

    recorder.start()
    environment = {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None,
                   "AWS_PROFILE": None, "AWS_DEFAULT_PROFILE": None,
                   "AWS_SHARED_CREDENTIALS_FILE": str(credentials), variable: "rackops"}
    listing = list_inventory(config, **environment)

    assert listing.returncode == 0, listing.stderr
    assert set(listing.hostvars) == instances
    assert recorder.requests() == [Recorded("DescribeInstances", "AKIAFROMPROFILE", None)]


def test_keys_in_the_file_win_over_the_environment(recorder: Recorder, tmp_path: Path) -> None:
    _launch_on(recorder.url, "us-east-1a")
    config = write_config(tmp_path, f"racks: [prod]\nregions: [us-east-1]\n"
                                    f"endpoint_url: {recorder.url}\n"
                                    f"aws_access_key_id: AKIAFROMFILE\nsecret_key: secret\n")

    recorder.start()
    listing = list_inventory(config, AWS_ACCESS_KEY_ID="AKIAFROMENVIRONMENT")

    assert listing.returncode == 0, listing.stderr
    assert recorder.requests() == [Recorded("DescribeInstances", "AKIAFROMFILE", None)]


# provision.yml over this inventory

SETUP_FLEET = """
import json, sys, boto3
endpoint, sizes = sys.argv[1], json.loads(sys.argv[2])
ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=endpoint)
efs = boto3.client("efs", region_name="us-east-1", endpoint_url=endpoint)
vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
subnets = {az: ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=az)["Subnet"]
           for az, cidr in (("us-east-1a", "10.0.1.0/24"), ("us-east-1b", "10.0.2.0/24"))}
for rack, last_octet in (("r1", 25), ("r2", 26)):
    fs = efs.create_file_system(CreationToken=rack, Tags=[{"Key": "Rack", "Value": rack}])
    for az, subnet in subnets.items():
        efs.create_mount_target(FileSystemId=fs["FileSystemId"], SubnetId=subnet["SubnetId"],
                                IpAddress=subnet["CidrBlock"].replace(".0/24", f".{last_octet}"))
fleet = {}
for rack, count in sizes.items():
    for index in range(count):
        az = ("us-east-1a", "us-east-1b")[index % 2]
        instance = ec2.run_instances(
            ImageId="ami-0c55b159cbfafe1f0", MinCount=1, MaxCount=1,
            SubnetId=subnets[az]["SubnetId"],
            TagSpecifications=[{"ResourceType": "instance",
                                "Tags": [{"Key": "Rack", "Value": rack}]}])["Instances"][0]
        fleet[instance["InstanceId"]] = {"rack": rack, "az": az}
print(json.dumps(fleet))
"""


@pytest.fixture
def namespace(tmp_path: Path) -> t.Iterator[dict[str, t.Any]]:
    """A network namespace with only loopback and a recording moto inside it: the DNS lookups
    of EFS names that the mount module tries fail at once instead of leaving the machine."""
    if not can_make_namespace():
        pytest.skip(NAMESPACE_NEEDS)
    recording = {"MOTO_RECORDER_FILEPATH": str(tmp_path / "moto-recording")}
    with loopback_namespace("convox-inv") as inside, \
            moto_server(tmp_path / "moto.log", inside, env=recording) as endpoint:
        yield {"inside": inside, "endpoint": endpoint}


def _moto_api(namespace: dict[str, t.Any], path: str) -> str:
    script = ("import sys, urllib.request; r = urllib.request.Request(sys.argv[1], "
              "method=sys.argv[2]); print(urllib.request.urlopen(r, timeout=30).read().decode())")
    method = "GET" if path.startswith("recorder/download") else "POST"
    return subprocess.run(namespace["inside"] + [sys.executable, "-c", script,
                                                 f"{namespace['endpoint']}/moto-api/{path}",
                                                 method],
                          check=True, capture_output=True, text=True).stdout


def _provision(namespace: dict[str, t.Any], directory: Path,
               sizes: dict[str, int]) -> tuple[dict[str, dict], int]:
    """A fresh fleet in moto, then provision.yml over the rack inventory; returns the fleet
    and the number of AWS requests the playbook run made."""
    _moto_api(namespace, "reset")
    setup = subprocess.run(namespace["inside"] + [sys.executable, "-c", SETUP_FLEET,
                                                  namespace["endpoint"], json.dumps(sizes)],
                           check=True, capture_output=True, text=True, env=_env(**FAKE_AWS))
    fleet = json.loads(setup.stdout)
    for instance_id in fleet:
        (directory / instance_id).mkdir(parents=True)
        (directory / instance_id / "fstab").write_text("UUID=0a1b / ext4 defaults 0 1\n")
    host_dir = f"'{directory}/' ~ inventory_hostname"
    config = write_config(directory, yaml.safe_dump({
        "racks": ["r1", "r2"], "regions": ["us-east-1"], "endpoint_url": namespace["endpoint"],
        "compose": {"ansible_connection": "'local'",
                    "ansible_python_interpreter": f"'{sys.executable}'",
                    "convox_volumes_root": f"{host_dir} ~ '/volumes'",
                    "efs_mount_path": f"{host_dir} ~ '/volumes'",
                    "efs_mount_fstab": f"{host_dir} ~ '/fstab'"}}))
    variables = directory / "vars.json"
    variables.write_text(json.dumps({
        "convox_efs_discover": True, "efs_mount_state": "unmounted",
        "efs_mount_region": "us-east-1", "efs_mount_endpoint_url": namespace["endpoint"],
        # Nothing listens here: the AZ must come from the inventory.
        "efs_mount_metadata_url": "http://127.0.0.1:9", "efs_mount_timeout": 5,
        "convox_apps": [{"name": "wordpress", "compose_file":
                         str(CHECKOUT / "examples" / "apps" / "wordpress" / "docker-compose.yml")}],
    }))

    _moto_api(namespace, "recorder/reset-recording")
    _moto_api(namespace, "recorder/start-recording")
    result = subprocess.run(
        namespace["inside"] + [str(BIN / "ansible-playbook"), "-i", str(config), "-f", "10",
                               "-e", f"@{variables}",
                               str(CHECKOUT / "playbooks" / "provision.yml")],
        capture_output=True, text=True, env=_env(**FAKE_AWS), cwd=CHECKOUT, timeout=900,
        check=False)
    _moto_api(namespace, "recorder/stop-recording")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    recording = _moto_api(namespace, "recorder/download-recording").splitlines()
    requests = [line for line in recording if line.strip() and "/moto-api/" not in line]
    return fleet, len(requests)


def test_provision_takes_each_az_from_the_inventory(namespace: dict[str, t.Any],
                                                    tmp_path: Path) -> None:
    small, small_requests = _provision(namespace, tmp_path / "small", {"r1": 2, "r2": 1})
    large, large_requests = _provision(namespace, tmp_path / "large", {"r1": 6, "r2": 3})

    # The inventory's DescribeInstances, then per rack DescribeFileSystems and
    # DescribeMountTargets: 5, however many instances.
    assert small_requests == large_requests == 5
    for directory, fleet in ((tmp_path / "small", small), (tmp_path / "large", large)):
        for instance_id, placement in fleet.items():
            octet = {"r1": 25, "r2": 26}[placement["rack"]]
            subnet = {"us-east-1a": "10.0.1", "us-east-1b": "10.0.2"}[placement["az"]]
            root = directory / instance_id / "volumes"
            assert (directory / instance_id / "fstab").read_text().splitlines()[1].startswith(
                f"{subnet}.{octet}:/ {root} nfs4 ")
            assert (root / f"{placement['rack']}-wordpress" / "wordpress" / "var" / "www"
                    / "html").is_dir()
