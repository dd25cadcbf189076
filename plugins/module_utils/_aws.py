# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: contributors to the convox.volumes collection
"""Connecting to AWS with boto3, shared by every AWS-facing plugin of this collection.

Private to this collection: the option names follow the amazon.aws modules so that
playbooks can pass the same values, but nothing here is a public API.
"""
from __future__ import annotations

import typing as t

try:
    import boto3
    import botocore.exceptions
    from botocore.config import Config
    HAS_BOTO3 = True
    BOTO3_IMPORT_ERROR = None
except ImportError as exc:  # the module reports missing_required_lib('boto3')
    HAS_BOTO3 = False
    BOTO3_IMPORT_ERROR = exc

from ansible.module_utils.basic import env_fallback

# Option names, aliases and environment fallbacks as the amazon.aws modules use them.
AWS_ARGUMENT_SPEC: dict[str, dict[str, t.Any]] = dict(
    region=dict(type="str", aliases=["aws_region", "ec2_region"],
                fallback=(env_fallback, ["AWS_REGION", "AWS_DEFAULT_REGION", "EC2_REGION"])),
    profile=dict(type="str", aliases=["aws_profile"],
                 fallback=(env_fallback, ["AWS_PROFILE", "AWS_DEFAULT_PROFILE"])),
    access_key=dict(type="str", aliases=["aws_access_key_id", "aws_access_key", "ec2_access_key"],
                    no_log=False,
                    fallback=(env_fallback, ["AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY",
                                             "EC2_ACCESS_KEY"])),
    secret_key=dict(type="str", no_log=True,
                    aliases=["aws_secret_access_key", "aws_secret_key", "ec2_secret_key"],
                    fallback=(env_fallback, ["AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY",
                                             "EC2_SECRET_KEY"])),
    session_token=dict(type="str", no_log=True,
                       aliases=["aws_session_token", "security_token", "aws_security_token"],
                       fallback=(env_fallback, ["AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
                                                "EC2_SECURITY_TOKEN"])),
    endpoint_url=dict(type="str", aliases=["aws_endpoint_url", "ec2_url"],
                      fallback=(env_fallback, ["AWS_URL", "EC2_URL"])),
)

# The IAM permission each call needs, for error messages.
PERMISSIONS = {
    "DescribeFileSystems": "elasticfilesystem:DescribeFileSystems",
    "DescribeMountTargets": "elasticfilesystem:DescribeMountTargets",
    "DescribeInstances": "ec2:DescribeInstances",
}

# Codes AWS gives when it does not accept the credentials themselves (unknown or expired key,
# wrong secret): checked before _DENIED_CODES, because no IAM permission fixes these.
_REJECTED_CREDENTIAL_CODES = {"AuthFailure", "InvalidClientTokenId", "UnrecognizedClientException",
                              "SignatureDoesNotMatch", "InvalidAccessKeyId", "ExpiredToken",
                              "ExpiredTokenException", "RequestExpired"}

_DENIED_CODES = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}


class AwsError(Exception):
    """An AWS call failed; the message names the call, the reason and the fix."""


def make_session(params: dict[str, t.Any]) -> "boto3.session.Session":
    """A boto3 session from the options of AWS_ARGUMENT_SPEC (unset ones left to boto3)."""
    kwargs = {
        "aws_access_key_id": params.get("access_key"),
        "aws_secret_access_key": params.get("secret_key"),
        "aws_session_token": params.get("session_token"),
        "profile_name": params.get("profile"),
        "region_name": params.get("region"),
    }
    try:
        return boto3.session.Session(**{k: v for k, v in kwargs.items() if v})
    except botocore.exceptions.ProfileNotFound as exc:
        raise AwsError(f"profile {params.get('profile')!r} is not in the AWS configuration: "
                       f"{exc}. Set 'profile' to a configured profile, or leave it unset.")


def resolve_region(session: "boto3.session.Session", params: dict[str, t.Any]) -> str:
    region = params.get("region") or session.region_name
    if not region:
        raise AwsError("no AWS region: set 'region' (or AWS_REGION in the environment).")
    return region


def known_regions(session: "boto3.session.Session", service: str) -> set[str]:
    """Every region botocore's endpoint data lists for a service, in every partition."""
    regions: set[str] = set()
    for partition in session.get_available_partitions():
        regions.update(session.get_available_regions(service, partition_name=partition))
    return regions


def region_supports(session: "boto3.session.Session", region: str, service: str) -> bool:
    """True when botocore knows `service` in `region`; False when it knows the region for EC2
    only; an AwsError when it does not know the region at all (most likely a typo)."""
    if region in known_regions(session, service):
        return True
    if region in known_regions(session, "ec2"):
        return False
    raise AwsError(f"region {region!r} is not an AWS region botocore knows (check the spelling, "
                   f"for example 'us-east-1'); refusing to treat it as a region without EFS.")


def make_client(session: "boto3.session.Session", service: str, region: str,
                endpoint_url: str | None = None) -> t.Any:
    config = Config(retries={"max_attempts": 5, "mode": "standard"},
                    user_agent_extra="convox.volumes")
    return session.client(service, region_name=region, endpoint_url=endpoint_url or None,
                          config=config)


def describe_error(exc: Exception, operation: str) -> str:
    """A message for a failed call that names the call and, if denied, the missing permission."""
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return (f"{operation} failed: no AWS credentials found. Set 'access_key' and "
                f"'secret_key', a 'profile', or run where an instance role is available.")
    if isinstance(exc, botocore.exceptions.EndpointConnectionError):
        return f"{operation} failed: cannot reach the AWS endpoint ({exc}). Check 'endpoint_url'."
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "Unknown")
        message = error.get("Message", "")
        if code in _REJECTED_CREDENTIAL_CODES:
            return (f"{operation} was refused: the credentials are not valid ({code}: "
                    f"{message}). Check 'access_key', 'secret_key' and 'session_token' (or "
                    f"the 'profile'), and that temporary credentials have not expired.")
        if code in _DENIED_CODES:
            permission = PERMISSIONS.get(operation, f"the permission for {operation}")
            return (f"{operation} was denied ({code}: {message}). The credentials in use need "
                    f"{permission}; add it to their IAM policy.")
        return f"{operation} failed ({code}): {message}"
    return f"{operation} failed: {exc}"


def call(client: t.Any, operation: str, **kwargs: t.Any) -> dict[str, t.Any]:
    """One AWS call; every failure becomes an AwsError naming the call."""
    method = getattr(client, _snake(operation))
    try:
        return method(**kwargs)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise AwsError(describe_error(exc, operation)) from exc


def paginate(client: t.Any, operation: str, result_key: str,
             **kwargs: t.Any) -> list[dict[str, t.Any]]:
    """All items of a paginated call; failures become an AwsError naming the call."""
    items: list[dict[str, t.Any]] = []
    try:
        for page in client.get_paginator(_snake(operation)).paginate(**kwargs):
            items.extend(page.get(result_key, []))
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise AwsError(describe_error(exc, operation)) from exc
    return items


def _snake(operation: str) -> str:
    out = []
    for index, char in enumerate(operation):
        if char.isupper() and index:
            out.append("_")
        out.append(char.lower())
    return "".join(out)
