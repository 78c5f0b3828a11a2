"""AWS::Lambda::Url, which moto's CloudFormation skips: CreateFunctionUrlConfig on the function.

``Ref`` and ``FunctionArn`` give the function's ARN, ``FunctionUrl`` the URL moto makes up
(moto does not serve function URLs: invoking one fails).
"""

from __future__ import annotations

from typing import Any

from moto.awslambda.exceptions import UnknownFunctionException
from moto.awslambda.models import LambdaBackend
from moto.awslambda.utils import get_backend
from moto.core.common_models import CloudFormationModel

from .cfn_resource import SandboxResource, region_of_arn


def _backend(account_id: str, region: str) -> LambdaBackend:
    # moto keeps Lambda in another backend once {"lambda": {"use_docker": false}} is configured.
    return get_backend(account_id, region)


class FunctionUrl(SandboxResource, CloudFormationModel):
    ATTRIBUTES = ("FunctionArn", "FunctionUrl")

    def __init__(self, function_arn: str, url: str, region_name: str):
        self.function_arn = function_arn
        self.url = url
        self.region_name = region_name

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Lambda::Url"

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @property
    def physical_resource_id(self) -> str:
        return self.function_arn

    def attributes(self) -> dict[str, Any]:
        return {"FunctionArn": self.function_arn, "FunctionUrl": self.url}

    @staticmethod
    def _config(props: dict[str, Any]) -> dict[str, Any]:
        config: dict[str, Any] = {"AuthType": props.get("AuthType", "AWS_IAM")}
        if props.get("Cors"):
            config["Cors"] = props["Cors"]
        if props.get("InvokeMode"):
            config["InvokeMode"] = props["InvokeMode"]
        return config

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> FunctionUrl:
        props = cloudformation_json["Properties"]
        target = props["TargetFunctionArn"]
        region = region_of_arn(target, region_name)
        url_config = _backend(account_id, region).create_function_url_config(target, cls._config(props))
        return cls(url_config.function.function_arn, url_config.url, region)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: FunctionUrl,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> FunctionUrl:
        props = cloudformation_json["Properties"]
        backend = _backend(account_id, original_resource.region_name)
        if props["TargetFunctionArn"] not in (
            original_resource.function_arn,
            original_resource.function_arn.split(":")[-1],
        ):
            original_resource.delete(account_id, region_name)
            return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)
        url_config = backend.get_function_url_config(original_resource.function_arn)
        url_config.config = cls._config(props)
        return original_resource

    def delete(self, account_id: str, region_name: str) -> None:
        try:
            _backend(account_id, self.region_name).delete_function_url_config(self.function_arn)
        except UnknownFunctionException:
            pass  # the function went first

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        cls(resource_name, "", region_of_arn(resource_name, region_name)).delete(account_id, region_name)


def install() -> None:
    """Nothing to patch: defining FunctionUrl registers it."""
