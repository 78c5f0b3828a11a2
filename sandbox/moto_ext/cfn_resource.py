"""What the sandbox's CloudFormation resource types share.

A resource type is a *direct* subclass of moto's ``CloudFormationModel`` (moto lists only
direct subclasses), with :class:`SandboxResource` mixed in first for the common parts.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from moto.cloudformation.exceptions import UnformattedGetAttTemplateException


class SandboxResource:
    """Defaults for the sandbox's resource types.

    ``ATTRIBUTES`` lists the ``Fn::GetAtt`` names; ``get_cfn_attribute`` reads them from
    ``self.attributes()``. ``physical_resource_id`` is what ``Ref`` returns.
    """

    ATTRIBUTES: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.ATTRIBUTES

    def attributes(self) -> dict[str, Any]:
        return {}

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        values = self.attributes()
        if attribute_name in self.ATTRIBUTES and attribute_name in values:
            return values[attribute_name]
        raise UnformattedGetAttTemplateException()

    def is_created(self) -> bool:
        return True


def to_bool(value: Any, default: bool = False) -> bool:
    """CloudFormation booleans arrive as bools or as the strings "true"/"false"."""
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def to_json_text(document: Any) -> str:
    """A policy document given as an object or as JSON text, as JSON text."""
    if isinstance(document, str):
        return document
    return json.dumps(document)


def region_of_arn(arn: str, default: str) -> str:
    parts = arn.split(":")
    if len(parts) > 3 and parts[0] == "arn" and parts[3]:
        return parts[3]
    return default


def cfn_tags(tags: list[dict[str, Any]] | None) -> list[dict[str, str]]:
    return [{"Key": str(t["Key"]), "Value": str(t["Value"])} for t in tags or []]
