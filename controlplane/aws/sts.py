"""AWS STS: assume a role with the approver as SourceIdentity, so CloudTrail names the person."""

from __future__ import annotations

import re

from controlplane.aws.clients import AwsTarget, Credentials, client
from controlplane.aws.errors import translated

SERVICE = "sts"
# SourceIdentity: 2-64 characters of [\w+=,.@-] (STS API reference, AssumeRole).
_SOURCE_IDENTITY_BAD = re.compile(r"[^\w+=,.@-]")


def source_identity_for(value: str) -> str:
    cleaned = _SOURCE_IDENTITY_BAD.sub("-", value)[:64]
    return cleaned if len(cleaned) >= 2 else f"{cleaned}--"


def role_assume(*, target: AwsTarget, role_arn: str, session_name: str, source_identity: str) -> Credentials:
    with translated(SERVICE, "AssumeRole"):
        creds = client(SERVICE, target).assume_role(
            RoleArn=role_arn,
            RoleSessionName=source_identity_for(session_name)[:64],
            SourceIdentity=source_identity_for(source_identity),
            DurationSeconds=900,
        )["Credentials"]
    return Credentials(
        access_key_id=creds["AccessKeyId"],
        secret_access_key=creds["SecretAccessKey"],
        session_token=creds["SessionToken"],
    )
