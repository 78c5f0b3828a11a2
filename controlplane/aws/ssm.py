"""AWS Systems Manager Parameter Store: where the state machine records each gate decision."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from controlplane.aws.clients import AwsTarget, client
from controlplane.aws.errors import AwsError, translated

SERVICE = "ssm"


@dataclass(frozen=True)
class Parameter:
    name: str
    value: str
    version: int
    last_modified: datetime | None


def parameter_get(*, target: AwsTarget, name: str) -> Parameter | None:
    """The parameter, or None if it does not exist."""
    try:
        with translated(SERVICE, "GetParameter"):
            p = client(SERVICE, target).get_parameter(Name=name)["Parameter"]
    except AwsError as exc:
        if exc.code == "ParameterNotFound":
            return None
        raise
    return Parameter(
        name=p["Name"], value=p["Value"], version=int(p["Version"]), last_modified=p.get("LastModifiedDate")
    )


def parameters_by_path(*, target: AwsTarget, path: str) -> list[Parameter]:
    ssm = client(SERVICE, target)
    out: list[Parameter] = []
    with translated(SERVICE, "GetParametersByPath"):
        for page in ssm.get_paginator("get_parameters_by_path").paginate(Path=path, Recursive=True):
            for p in page["Parameters"]:
                out.append(
                    Parameter(
                        name=p["Name"],
                        value=p["Value"],
                        version=int(p["Version"]),
                        last_modified=p.get("LastModifiedDate"),
                    )
                )
    return out
