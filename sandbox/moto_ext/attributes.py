"""Fn::GetAtt attributes and Ref values AWS documents and moto's own resource types lack."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.apigateway.models import RestAPI
from moto.awslambda.models import LambdaVersion, LayerVersion, Permission
from moto.awslambda.utils import get_backend as get_lambda_backend
from moto.events.models import Archive, EventBus
from moto.kms.models import Key
from moto.stepfunctions.models import StateMachine

# type -> attribute -> how to read it from moto's object
EXTRA_ATTRIBUTES: dict[type, dict[str, Callable[[Any], Any]]] = {
    StateMachine: {"Arn": lambda sm: sm.arn},
    Key: {"KeyId": lambda key: key.id},
    RestAPI: {"RestApiId": lambda api: api.id},
}


def _extend(model: type, extra: dict[str, Callable[[Any], Any]]) -> None:
    original_get = model.get_cfn_attribute
    original_has = model.has_cfn_attr

    def get_cfn_attribute(self: Any, attribute_name: str) -> Any:
        if attribute_name in extra:
            return extra[attribute_name](self)
        return original_get(self, attribute_name)

    def has_cfn_attr(cls: type, attr: str) -> bool:
        return attr in extra or original_has(attr)

    model.get_cfn_attribute = get_cfn_attribute  # type: ignore[attr-defined]
    model.has_cfn_attr = classmethod(has_cfn_attr)  # type: ignore[attr-defined]


# --- Ref: what moto's types without a physical_resource_id return -------------------------
# Without one, moto's Ref returns the Python object itself and a property set from it
# (a rule's EventBusName, a stage's DeploymentId...) breaks.


def _remember_name(model: type) -> None:
    """Wrap create_from_cloudformation_json so the object keeps the physical ID."""
    original = model.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_from_cloudformation_json(
        cls: type,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        resource = original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        physical_id = resource_name
        if model is LambdaVersion:
            function = get_lambda_backend(account_id, region_name).get_function(
                cloudformation_json["Properties"]["FunctionName"]
            )
            physical_id = f"{function.function_arn}:{resource.version}"
        resource.sandbox_physical_id = physical_id
        return resource

    model.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)  # type: ignore[attr-defined]
    model.physical_resource_id = property(lambda self: getattr(self, "sandbox_physical_id", None))  # type: ignore[attr-defined]


def _install_physical_ids() -> None:
    EventBus.physical_resource_id = property(lambda self: self.name)  # type: ignore[attr-defined]
    Archive.physical_resource_id = property(lambda self: self.name)  # type: ignore[attr-defined]
    LayerVersion.physical_resource_id = property(lambda self: self.arn)  # type: ignore[attr-defined]
    _remember_name(Permission)
    _remember_name(LambdaVersion)


def install() -> None:
    for model, extra in EXTRA_ATTRIBUTES.items():
        _extend(model, extra)
    _install_physical_ids()
