"""AWS::XRay::Group, which moto's CloudFormation skips and moto's X-Ray does not model.

The group exists only in the stack: ``Ref`` and ``GroupArn`` give an ARN shaped like AWS's, and
nothing can be read back through the X-Ray API.
"""

from __future__ import annotations

import uuid
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.utilities.utils import get_partition

from .cfn_resource import SandboxResource


class XRayGroup(SandboxResource, CloudFormationModel):
    ATTRIBUTES = ("GroupArn",)

    def __init__(self, name: str, arn: str, props: dict[str, Any]):
        self.name = name
        self.arn = arn
        self.properties = props

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::XRay::Group"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "GroupName"

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    def attributes(self) -> dict[str, Any]:
        return {"GroupArn": self.arn}

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> XRayGroup:
        group_id = uuid.uuid4().hex[:26].upper()
        arn = f"arn:{get_partition(region_name)}:xray:{region_name}:{account_id}:group/{resource_name}/{group_id}"
        return cls(resource_name, arn, dict(cloudformation_json.get("Properties") or {}))

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: XRayGroup,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> XRayGroup:
        if new_resource_name != original_resource.name:
            return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)
        original_resource.properties = dict(cloudformation_json.get("Properties") or {})
        return original_resource

    def delete(self, account_id: str, region_name: str) -> None:
        pass

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        pass
