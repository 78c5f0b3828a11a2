"""AWS::StepFunctions::StateMachine in the backend the API uses.

With ``{"stepfunctions": {"execute_state_machine": true}}`` (the sandbox's setting) moto serves
Step Functions from a second backend, but its CloudFormation type still creates, updates and
deletes state machines in the first one, where no API call finds them. It also ignores
``Definition``, ``DefinitionSubstitutions``, ``StateMachineType`` and the logging and tracing
configuration.
"""

from __future__ import annotations

import json
from typing import Any

from moto.stepfunctions.models import StateMachine, StepFunctionBackend
from moto.stepfunctions.responses import get_backend
from moto.stepfunctions.utils import cfn_to_api_tags

from .cfn_resource import to_bool


def _definition(props: dict[str, Any]) -> str:
    definition = props.get("Definition")
    text = json.dumps(definition) if definition is not None else props.get("DefinitionString", "")
    for key, value in (props.get("DefinitionSubstitutions") or {}).items():
        text = text.replace("${" + key + "}", str(value))
    return text


def _tracing(props: dict[str, Any]) -> dict[str, Any] | None:
    tracing = props.get("TracingConfiguration")
    return {"enabled": to_bool(tracing.get("Enabled"))} if tracing else None


def _logging(props: dict[str, Any]) -> dict[str, Any] | None:
    logging = props.get("LoggingConfiguration")
    if not logging:
        return None
    return {
        "level": logging.get("Level", "OFF"),
        "includeExecutionData": to_bool(logging.get("IncludeExecutionData")),
        "destinations": [
            {"cloudWatchLogsLogGroup": {"logGroupArn": d.get("CloudWatchLogsLogGroup", {}).get("LogGroupArn")}}
            for d in logging.get("Destinations") or []
        ],
    }


def _backend(account_id: str, region: str) -> StepFunctionBackend:
    return get_backend(account_id, region)


def state_machine_create_from_cloudformation_json(
    cls: type[StateMachine],
    resource_name: str,
    cloudformation_json: dict[str, Any],
    account_id: str,
    region_name: str,
    **kwargs: Any,
) -> StateMachine:
    props = cloudformation_json["Properties"]
    return _backend(account_id, region_name).create_state_machine(
        props.get("StateMachineName", resource_name),
        _definition(props),
        props.get("RoleArn", ""),
        tags=cfn_to_api_tags(props.get("Tags", [])),
        loggingConfiguration=_logging(props),
        tracingConfiguration=_tracing(props),
        sm_type=props.get("StateMachineType", "STANDARD"),
    )


def state_machine_update_from_cloudformation_json(
    cls: type[StateMachine],
    original_resource: StateMachine,
    new_resource_name: str,
    cloudformation_json: dict[str, Any],
    account_id: str,
    region_name: str,
) -> StateMachine:
    props = cloudformation_json["Properties"]
    name = props.get("StateMachineName", original_resource.name)
    backend = _backend(account_id, region_name)
    if name != original_resource.name:
        replacement = state_machine_create_from_cloudformation_json(
            cls, name, cloudformation_json, account_id, region_name
        )
        backend.delete_state_machine(original_resource.arn)
        return replacement
    state_machine = backend.update_state_machine(
        original_resource.arn,
        definition=_definition(props),
        role_arn=props.get("RoleArn"),
        logging_configuration=_logging(props),
        tracing_configuration=_tracing(props),
    )
    tags = cfn_to_api_tags(props.get("Tags", []))
    if tags:
        backend.tagger.tag_resource(state_machine.arn, tags)
    return state_machine


def state_machine_delete(self: StateMachine, account_id: str, region_name: str) -> None:
    _backend(account_id, region_name).delete_state_machine(self.arn)


def state_machine_delete_from_cloudformation_json(
    cls: type[StateMachine], resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
) -> None:
    _backend(account_id, region_name).delete_state_machine(resource_name)


def install() -> None:
    StateMachine.create_from_cloudformation_json = classmethod(state_machine_create_from_cloudformation_json)  # type: ignore[method-assign,assignment]
    StateMachine.update_from_cloudformation_json = classmethod(state_machine_update_from_cloudformation_json)  # type: ignore[method-assign,assignment]
    StateMachine.delete_from_cloudformation_json = classmethod(state_machine_delete_from_cloudformation_json)  # type: ignore[method-assign,assignment]
    StateMachine.delete = state_machine_delete  # type: ignore[attr-defined]
