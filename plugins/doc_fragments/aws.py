# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: contributors to the convox.volumes collection
from __future__ import annotations


class ModuleDocFragment:
    """The AWS connection options shared by the AWS-facing plugins."""

    DOCUMENTATION = r"""
options:
  region:
    description:
      - The AWS region, for example V(us-east-1).
      - Falls back to E(AWS_REGION), E(AWS_DEFAULT_REGION) or E(EC2_REGION), then to the
        profile's region.
    type: str
    aliases: [aws_region, ec2_region]
  profile:
    description:
      - A named profile of the AWS configuration files.
      - Falls back to E(AWS_PROFILE) or E(AWS_DEFAULT_PROFILE).
    type: str
    aliases: [aws_profile]
  access_key:
    description:
      - AWS access key ID.
      - Falls back to E(AWS_ACCESS_KEY_ID), E(AWS_ACCESS_KEY) or E(EC2_ACCESS_KEY).
    type: str
    aliases: [aws_access_key_id, aws_access_key, ec2_access_key]
  secret_key:
    description:
      - AWS secret access key.
      - Falls back to E(AWS_SECRET_ACCESS_KEY), E(AWS_SECRET_KEY) or E(EC2_SECRET_KEY).
    type: str
    aliases: [aws_secret_access_key, aws_secret_key, ec2_secret_key]
  session_token:
    description:
      - AWS session token for temporary credentials.
      - Falls back to E(AWS_SESSION_TOKEN), E(AWS_SECURITY_TOKEN) or E(EC2_SECURITY_TOKEN).
    type: str
    aliases: [aws_session_token, security_token, aws_security_token]
  endpoint_url:
    description:
      - Send AWS requests to this URL instead of the default endpoint, for example a test
        server such as moto.
      - Falls back to E(AWS_URL) or E(EC2_URL).
    type: str
    aliases: [aws_endpoint_url, ec2_url]
requirements:
  - boto3 >= 1.34 (on the controller)
"""
