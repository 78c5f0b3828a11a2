"""EventBridge for CloudFormation: AWS::Events::EventBusPolicy, and AWS::Events::EventBus as AWS
updates it.

moto skips AWS::Events::EventBusPolicy; here it puts the statement on the bus, so
DescribeEventBus shows it in ``Policy``. moto's AWS::Events::EventBus ignores Description, Tags
and Policy, and on any update deletes the bus and creates it again — its rules and policy
statements go with it. Here the bus is created with those properties and updated in place.
"""

from __future__ import annotations

from typing import Any

from moto.cloudformation.exceptions import ValidationError
from moto.core.common_models import CloudFormationModel
from moto.events.models import EventBus, EventBusPolicyStatement, EventsBackend, events_backends
from moto.utilities.utils import get_partition

from .cfn_resource import SandboxResource, cfn_tags


def _backend(account_id: str, region: str) -> EventsBackend:
    return events_backends[account_id][region]


def _statement(bus: EventBus, statement_id: str, props: dict[str, Any]) -> EventBusPolicyStatement:
    statement = props.get("Statement")
    if statement:
        return EventBusPolicyStatement(
            sid=statement_id,
            principal=statement.get("Principal"),
            action=statement.get("Action"),
            resource=statement.get("Resource", bus.arn),
            effect=statement.get("Effect", "Allow"),
            condition=statement.get("Condition"),
        )
    principal = props.get("Principal")
    action = props.get("Action")
    if not principal or not action:
        raise ValidationError(message="EventBusPolicy needs either Statement, or Action and Principal")
    condition = props.get("Condition")
    return EventBusPolicyStatement(
        sid=statement_id,
        principal=("*" if principal == "*" else {"AWS": f"arn:{get_partition(bus.region)}:iam::{principal}:root"}),
        action=action,
        resource=bus.arn,
        condition={condition["Type"]: {condition["Key"]: condition["Value"]}} if condition else None,
    )


class EventBusPolicy(SandboxResource, CloudFormationModel):
    def __init__(self, bus_name: str, statement_id: str, region_name: str):
        self.bus_name = bus_name
        self.statement_id = statement_id
        self.region_name = region_name

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Events::EventBusPolicy"

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @property
    def physical_resource_id(self) -> str:
        return self.statement_id

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> EventBusPolicy:
        props = cloudformation_json["Properties"]
        bus = _backend(account_id, region_name).describe_event_bus(props.get("EventBusName") or "default")
        statement_id = props["StatementId"]
        bus._statements[statement_id] = _statement(bus, statement_id, props)
        return cls(bus.name, statement_id, region_name)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: EventBusPolicy,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> EventBusPolicy:
        original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        bus = _backend(account_id, self.region_name).event_buses.get(self.bus_name)
        if bus is not None:
            bus.remove_statement(self.statement_id)

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        props = cloudformation_json.get("Properties") or {}
        cls(props.get("EventBusName") or "default", props.get("StatementId", resource_name), region_name).delete(
            account_id, region_name
        )


# --- AWS::Events::EventBus -----------------------------------------------------------------


def _apply_bus_properties(bus: EventBus, backend: EventsBackend, props: dict[str, Any]) -> None:
    bus.description = props.get("Description")
    bus.kms_key_identifier = props.get("KmsKeyIdentifier")
    bus.dead_letter_config = props.get("DeadLetterConfig")
    tags = cfn_tags(props.get("Tags"))
    bus.tags = tags
    backend.tagger.delete_all_tags_for_resource(bus.arn)
    if tags:
        backend.tagger.tag_resource(bus.arn, tags)
    policy = props.get("Policy")
    if policy is not None:
        bus.remove_statements()
        for index, statement in enumerate((policy or {}).get("Statement") or []):
            sid = statement.get("Sid") or f"statement-{index}"
            bus._statements[sid] = EventBusPolicyStatement(
                sid=sid,
                principal=statement.get("Principal"),
                action=statement.get("Action"),
                resource=statement.get("Resource", bus.arn),
                effect=statement.get("Effect", "Allow"),
                condition=statement.get("Condition"),
            )


def event_bus_create_from_cloudformation_json(
    cls: type[EventBus],
    resource_name: str,
    cloudformation_json: dict[str, Any],
    account_id: str,
    region_name: str,
    **kwargs: Any,
) -> EventBus:
    props = cloudformation_json.get("Properties") or {}
    backend = _backend(account_id, region_name)
    bus = backend.create_event_bus(name=resource_name, event_source_name=props.get("EventSourceName"))
    _apply_bus_properties(bus, backend, props)
    return bus


def event_bus_update_from_cloudformation_json(
    cls: type[EventBus],
    original_resource: EventBus,
    new_resource_name: str,
    cloudformation_json: dict[str, Any],
    account_id: str,
    region_name: str,
) -> EventBus:
    if new_resource_name != original_resource.name:
        replacement = event_bus_create_from_cloudformation_json(
            cls, new_resource_name, cloudformation_json, account_id, region_name
        )
        original_resource.delete(account_id, region_name)
        return replacement
    _apply_bus_properties(
        original_resource, _backend(account_id, region_name), cloudformation_json.get("Properties") or {}
    )
    return original_resource


def install() -> None:
    EventBus.create_from_cloudformation_json = classmethod(event_bus_create_from_cloudformation_json)  # type: ignore[method-assign,assignment]
    EventBus.update_from_cloudformation_json = classmethod(event_bus_update_from_cloudformation_json)  # type: ignore[method-assign,assignment]
