"""AWS IAM: the execution role of the minimal sandbox state machine (templates replace it)."""

from __future__ import annotations

import json

from controlplane.aws.clients import AwsTarget, client
from controlplane.aws.errors import AwsError, translated

SERVICE = "iam"


def role_ensure(*, target: AwsTarget, name: str, service_principal: str) -> str:
    iam = client(SERVICE, target)
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service_principal}, "Action": "sts:AssumeRole"}],
    }
    try:
        with translated(SERVICE, "GetRole"):
            return iam.get_role(RoleName=name)["Role"]["Arn"]
    except AwsError as exc:
        if exc.code != "NoSuchEntity":
            raise
    with translated(SERVICE, "CreateRole"):
        return iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
