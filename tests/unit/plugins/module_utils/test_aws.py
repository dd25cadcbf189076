# SPDX-License-Identifier: GPL-3.0-or-later
"""AWS errors as messages: each names the call, and a denied call names its permission.

The exceptions are botocore's own classes with the error bodies AWS sends; no client is made.
"""
from __future__ import annotations

import pytest

botocore_exceptions = pytest.importorskip("botocore.exceptions")

# imported after importorskip so a missing botocore skips instead of erroring
from ansible_collections.convox.volumes.plugins.module_utils import _aws  # noqa: E402


def client_error(code: str, message: str, operation: str) -> Exception:
    return botocore_exceptions.ClientError(
        {"Error": {"Code": code, "Message": message}}, operation)


@pytest.mark.parametrize("operation, code, expected", [
    pytest.param("DescribeMountTargets", "AccessDeniedException",
                 "DescribeMountTargets was denied (AccessDeniedException: User: arn:aws:iam::1:"
                 "user/ci is not authorized). The credentials in use need "
                 "elasticfilesystem:DescribeMountTargets; add it to their IAM policy.",
                 id="efs-denied"),
    pytest.param("DescribeInstances", "UnauthorizedOperation",
                 "DescribeInstances was denied (UnauthorizedOperation: User: arn:aws:iam::1:"
                 "user/ci is not authorized). The credentials in use need "
                 "ec2:DescribeInstances; add it to their IAM policy.", id="ec2-denied"),
])
def test_a_denied_call_names_the_call_and_the_permission(operation: str, code: str,
                                                         expected: str) -> None:
    error = client_error(code, "User: arn:aws:iam::1:user/ci is not authorized", operation)
    assert _aws.describe_error(error, operation) == expected


@pytest.mark.parametrize("code", ["InvalidClientTokenId", "UnrecognizedClientException",
                                  "AuthFailure", "ExpiredToken", "SignatureDoesNotMatch"])
def test_rejected_credentials_are_not_reported_as_a_missing_permission(code: str) -> None:
    message = _aws.describe_error(client_error(code, "no", "DescribeFileSystems"),
                                  "DescribeFileSystems")
    assert message.startswith(f"DescribeFileSystems was refused: the credentials are not valid "
                              f"({code}: no)")
    assert "IAM policy" not in message


@pytest.mark.parametrize("error, expected", [
    pytest.param(botocore_exceptions.NoCredentialsError(),
                 "DescribeFileSystems failed: no AWS credentials found.", id="no-credentials"),
    pytest.param(botocore_exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:9"),
                 "DescribeFileSystems failed: cannot reach the AWS endpoint", id="unreachable"),
    pytest.param(client_error("FileSystemNotFound", "File system 'fs-1' does not exist.",
                              "DescribeFileSystems"),
                 "DescribeFileSystems failed (FileSystemNotFound): File system 'fs-1' does "
                 "not exist.", id="other-error"),
])
def test_other_failures_name_the_call(error: Exception, expected: str) -> None:
    assert _aws.describe_error(error, "DescribeFileSystems").startswith(expected)
