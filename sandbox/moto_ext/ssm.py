"""AWS::SSM::Parameter as AWS creates and updates it.

moto's ignores the name CloudFormation generates when ``Name`` is left out (and fails), and
updates by deleting the parameter and creating it again, which throws away its version history;
AWS writes a new version.
"""

from __future__ import annotations

from typing import Any

from moto.ssm.models import Parameter, ssm_backends

from .cfn_resource import cfn_tags

_original_create = Parameter.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]


def parameter_create_from_cloudformation_json(
    cls: type[Parameter],
    resource_name: str,
    cloudformation_json: dict[str, Any],
    account_id: str,
    region_name: str,
    **kwargs: Any,
) -> Parameter:
    properties = dict(cloudformation_json["Properties"])
    properties["Name"] = properties.get("Name") or resource_name
    if isinstance(properties.get("Tags"), dict):  # CloudFormation writes Tags as a map for this type
        properties["Tags"] = [{"Key": k, "Value": str(v)} for k, v in properties["Tags"].items()]
    cloudformation_json = {**cloudformation_json, "Properties": properties}
    return _original_create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)


def parameter_update_from_cloudformation_json(
    cls: type[Parameter],
    original_resource: Parameter,
    new_resource_name: str,
    cloudformation_json: dict[str, Any],
    account_id: str,
    region_name: str,
) -> Parameter:
    properties = cloudformation_json["Properties"]
    name = properties.get("Name") or new_resource_name
    backend = ssm_backends[account_id][region_name]
    if name != original_resource.name:
        replacement = Parameter.create_from_cloudformation_json(name, cloudformation_json, account_id, region_name)
        backend.delete_parameter(original_resource.name)
        return replacement
    parameter = backend.put_parameter(
        name=name,
        description=properties.get("Description"),
        value=properties.get("Value"),
        parameter_type=properties.get("Type"),
        allowed_pattern=properties.get("AllowedPattern"),
        keyid=properties.get("KeyId"),
        overwrite=True,
        tags=[],
        data_type=properties.get("DataType", "text"),
        tier=properties.get("Tier"),
        policies=properties.get("Policies"),
    )
    tags = properties.get("Tags")
    if tags is not None:
        pairs = [{"Key": k, "Value": v} for k, v in tags.items()] if isinstance(tags, dict) else cfn_tags(tags)
        backend.add_tags_to_resource("Parameter", name, {p["Key"]: p["Value"] for p in pairs})
    return parameter


def install() -> None:
    Parameter.create_from_cloudformation_json = classmethod(parameter_create_from_cloudformation_json)  # type: ignore[method-assign,assignment]
    Parameter.update_from_cloudformation_json = classmethod(parameter_update_from_cloudformation_json)  # type: ignore[method-assign,assignment]
