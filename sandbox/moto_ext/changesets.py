"""CloudFormation change sets and stack updates that behave like AWS's.

moto 5.2.5 executes change sets by applying a resource diff to the stack's resource map and
nothing else, so a stack made or updated through a change set has no Outputs or Exports, its
parameters are never recorded, Fn::ImportValue cannot see other stacks' exports, a failing
resource is an HTTP 500 (the stack stays "complete"), and FAILED change sets can be executed.
Its diff lists Modify only for template text changes and fills no Replacement or Details.
Its update replaces a resource whose type has no update handler (DynamoDB tables, log groups,
API Gateway methods...) by ``None``, so later Refs to it resolve to nothing, and deletes
removed resources even with ``DeletionPolicy: Retain``.

Here, executing a CREATE change set builds the stack exactly as create_stack does, executing an
UPDATE one runs the same update as update_stack, and both register exports, record resource
events, and roll back (ROLLBACK_COMPLETE / UPDATE_ROLLBACK_COMPLETE with a StackStatusReason)
instead of failing the API call. The diff is computed once, from the resolved parameters and
conditions, and both DescribeChangeSet and the update use it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from moto.cloudformation import parsing
from moto.cloudformation.exceptions import (
    AlreadyExistsException,
    CloudFormationError,
    ValidationError,
)
from moto.cloudformation.models import (
    Change,
    ChangeSet,
    CloudFormationBackend,
    Event,
    Stack,
)
from moto.cloudformation.parsing import ResourceMap
from moto.cloudformation.responses import CloudFormationResponse, transform_dict
from moto.cloudformation.utils import generate_changeset_id, generate_stack_id, validate_create_change_set
from moto.core.common_models import CloudFormationModel
from moto.core.responses import ActionResult, EmptyResult

log = logging.getLogger("sandbox.moto_ext")

NO_CHANGES = "The submitted information didn't contain changes. Submit different information to create a change set."
PSEUDO_PARAMETERS = frozenset(
    {
        "AWS::AccountId",
        "AWS::NotificationARNs",
        "AWS::NoValue",
        "AWS::Partition",
        "AWS::Region",
        "AWS::StackId",
        "AWS::StackName",
        "AWS::URLSuffix",
    }
)
# DeletionPolicy values that keep a resource when it leaves the stack.
RETAINED = ("Retain", "RetainExceptOnCreate")
# Properties whose change replaces the resource ("Update requires: Replacement" in the
# CloudFormation resource reference), besides each type's name property. "*" = every property.
REPLACEMENT_PROPERTIES: dict[str, frozenset[str]] = {
    "AWS::DynamoDB::Table": frozenset({"TableName", "KeySchema", "LocalSecondaryIndexes"}),
    "AWS::DynamoDB::GlobalTable": frozenset({"TableName", "KeySchema", "LocalSecondaryIndexes"}),
    "AWS::SQS::Queue": frozenset({"QueueName", "FifoQueue"}),
    "AWS::SNS::Topic": frozenset({"TopicName", "FifoTopic"}),
    "AWS::SNS::Subscription": frozenset({"TopicArn", "Endpoint", "Protocol", "Region"}),
    "AWS::S3::Bucket": frozenset({"BucketName", "ObjectLockEnabled"}),
    "AWS::S3::BucketPolicy": frozenset({"Bucket"}),
    "AWS::Events::EventBus": frozenset({"Name", "EventSourceName"}),
    "AWS::Events::Rule": frozenset({"Name", "EventBusName"}),
    "AWS::Events::EventBusPolicy": frozenset({"EventBusName", "StatementId"}),
    "AWS::Lambda::Function": frozenset({"FunctionName", "PackageType"}),
    "AWS::Lambda::Url": frozenset({"TargetFunctionArn", "Qualifier"}),
    "AWS::Lambda::Permission": frozenset({"*"}),
    "AWS::Lambda::Version": frozenset({"*"}),
    "AWS::IAM::Role": frozenset({"RoleName", "Path"}),
    "AWS::IAM::ManagedPolicy": frozenset({"ManagedPolicyName", "Path", "Description"}),
    "AWS::Logs::LogGroup": frozenset({"LogGroupName", "LogGroupClass"}),
    "AWS::CloudWatch::Alarm": frozenset({"AlarmName"}),
    "AWS::ApiGateway::Stage": frozenset({"RestApiId", "StageName"}),
    "AWS::ApiGateway::Deployment": frozenset({"RestApiId", "DeploymentCanarySettings"}),
    "AWS::ApiGateway::Method": frozenset({"RestApiId", "ResourceId", "HttpMethod"}),
    "AWS::ApiGateway::Resource": frozenset({"RestApiId", "ParentId", "PathPart"}),
    "AWS::Route53::RecordSet": frozenset({"Name", "HostedZoneId", "HostedZoneName", "SetIdentifier"}),
    "AWS::Route53::HostedZone": frozenset({"Name"}),
    "AWS::StepFunctions::StateMachine": frozenset({"StateMachineName", "StateMachineType"}),
    "AWS::SSM::Parameter": frozenset({"Name"}),
    "AWS::XRay::Group": frozenset(),
}


class ChangeSetNotFound(CloudFormationError):
    code = "ChangeSetNotFoundException"

    def __init__(self, name: str):
        super().__init__(f"ChangeSet [{name}] does not exist")


class InvalidChangeSetStatus(CloudFormationError):
    code = "InvalidChangeSetStatusException"


# --- the plan: what an update adds, modifies and removes -------------------------------------


@dataclass
class UpdatePlan:
    add: list[str] = field(default_factory=list)
    modify: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    new_parameters: dict[str, Any] = field(default_factory=dict)
    parameters_changed: bool = False


def scratch_resource_map(like: ResourceMap, template: dict[str, Any], parameters: dict[str, Any]) -> ResourceMap:
    """A resource map for ``template`` with parameters and conditions resolved and no resource
    created: enough to validate parameters and evaluate conditions."""
    scratch = ResourceMap(
        like.stack_id,
        like["AWS::StackName"],
        dict(parameters),
        like.tags,
        region_name=like._region_name,
        account_id=like._account_id,
        template=template,
        cross_stack_resources=like.cross_stack_resources,
    )
    scratch.load_mapping()
    scratch.transform_mapping()
    scratch.load_parameters()
    scratch.load_conditions()
    return scratch


def _active_resources(resource_map: ResourceMap, resources: dict[str, Any]) -> dict[str, Any]:
    conditions = getattr(resource_map, "lazy_condition_map", {})
    return {
        name: body
        for name, body in resources.items()
        if not body.get("Condition") or conditions.get(body["Condition"], True)
    }


def _references(node: Any) -> tuple[set[str], set[str]]:
    """The parameter/resource names (Ref, Fn::Sub, Fn::GetAtt) and condition names (Fn::If)
    a template fragment mentions."""
    names: set[str] = set()
    conditions: set[str] = set()

    def walk(item: Any) -> None:
        if isinstance(item, dict):
            for key, value in item.items():
                if key == "Ref" and isinstance(value, str):
                    names.add(value)
                elif key == "Fn::GetAtt":
                    target = value[0] if isinstance(value, list) else str(value).split(".")[0]
                    names.add(target)
                elif key == "Fn::Sub":
                    text, variables = (value[0], value[1]) if isinstance(value, list) else (value, {})
                    if isinstance(text, str):
                        for token in re.findall(r"\$\{([^!}][^}]*)\}", text):
                            token = token.split(".")[0]
                            if token not in variables:
                                names.add(token)
                    walk(variables)
                elif key == "Fn::If" and isinstance(value, list) and value:
                    conditions.add(value[0])
                    walk(value[1:])
                elif key == "Condition" and isinstance(value, str):
                    conditions.add(value)
                else:
                    walk(value)
        elif isinstance(item, list):
            for element in item:
                walk(element)

    walk(node)
    return names, conditions


def _name_property(resource_type: str) -> str:
    model = parsing.get_model_map().get(resource_type)
    return model.cloudformation_name_type() if model is not None else ""


def _requires_replacement(resource_type: str, prop: str) -> bool:
    replaced = REPLACEMENT_PROPERTIES.get(resource_type, frozenset())
    return "*" in replaced or prop in replaced or prop == _name_property(resource_type)


def _change(
    action: str, logical_id: str, resource_type: str, *, physical_id: str | None = None, **extra: Any
) -> Change:
    change = Change(action=action, logical_resource_id=logical_id, resource_type=resource_type)
    change.physical_resource_id = physical_id
    change.replacement = extra.get("replacement")
    change.scope = extra.get("scope", [])
    change.details = extra.get("details", [])
    change.policy_action = extra.get("policy_action")
    return change


def _physical_id(resource_map: ResourceMap, logical_id: str) -> str | None:
    resource = resource_map._parsed_resources.get(logical_id)
    value = getattr(resource, "physical_resource_id", None)
    return str(value) if value is not None else None


def plan_update(old_map: ResourceMap, template: dict[str, Any], parameters: dict[str, Any]) -> UpdatePlan:
    """What updating the stack behind ``old_map`` to ``template`` with ``parameters`` does.

    Raises ValidationError (as CreateChangeSet does) for a template whose parameters or
    references cannot be resolved.
    """
    validate_template_references(template)
    validate_parameters(template, parameters)
    new_map = scratch_resource_map(old_map, template, parameters)

    old_resources = _active_resources(old_map, old_map._resource_json_map)
    new_resources = _active_resources(new_map, template.get("Resources") or {})
    old_params = {
        k: v for k, v in old_map.resolved_parameters.items() if k in (old_map._template.get("Parameters") or {})
    }
    new_params = dict(new_map.resolved_parameters)
    changed_params = {p for p in set(old_params) | set(new_params) if old_params.get(p) != new_params.get(p)}
    old_conditions = dict(getattr(old_map, "lazy_condition_map", {}))
    new_conditions = dict(new_map.lazy_condition_map)
    changed_conditions = {
        c for c in set(old_conditions) | set(new_conditions) if old_conditions.get(c) != new_conditions.get(c)
    }

    plan = UpdatePlan(new_parameters=new_params, parameters_changed=bool(changed_params))
    for name, body in new_resources.items():
        if name not in old_resources:
            plan.add.append(name)
            plan.changes.append(_change("Add", name, body["Type"]))

    for name, body in new_resources.items():
        if name not in old_resources:
            continue
        old_body = old_resources[name]
        details: list[dict[str, Any]] = []
        scope: set[str] = set()
        if old_body.get("Type") != body.get("Type"):
            # A new type under the same logical ID is a new resource (AWS refuses this; moto did it).
            plan.remove.append(name)
            plan.add.append(name)
            plan.changes.append(_change("Remove", name, old_body["Type"], physical_id=_physical_id(old_map, name)))
            plan.changes.append(_change("Add", name, body["Type"]))
            continue
        old_props = old_body.get("Properties") or {}
        new_props = body.get("Properties") or {}
        for prop in sorted(set(old_props) | set(new_props)):
            target_attribute = "Tags" if prop == "Tags" else "Properties"
            if old_props.get(prop) != new_props.get(prop):
                source, causing = "DirectModification", None
            else:
                names, conds = _references(new_props.get(prop))
                hits = sorted((names & changed_params) | (conds & changed_conditions))
                if not hits:
                    continue
                source, causing = "ParameterReference", hits[0]
            scope.add(target_attribute)
            detail: dict[str, Any] = {
                "Target": {
                    "Attribute": target_attribute,
                    "RequiresRecreation": "Always" if _requires_replacement(body["Type"], prop) else "Never",
                },
                "Evaluation": "Static",
                "ChangeSource": source,
            }
            if target_attribute == "Properties":
                detail["Target"]["Name"] = prop
            if causing:
                detail["CausingEntity"] = causing
            details.append(detail)
        if not details:
            continue
        replace = any(d["Target"]["RequiresRecreation"] == "Always" for d in details)
        policy_action = None
        if replace:
            policy_action = "ReplaceAndRetain" if body.get("UpdateReplacePolicy") == "Retain" else "ReplaceAndDelete"
        plan.modify.append(name)
        plan.changes.append(
            _change(
                "Modify",
                name,
                body["Type"],
                physical_id=_physical_id(old_map, name),
                replacement="True" if replace else "False",
                scope=sorted(scope),
                details=details,
                policy_action=policy_action,
            )
        )

    for name, body in old_resources.items():
        if name not in new_resources:
            plan.remove.append(name)
            plan.changes.append(
                _change(
                    "Remove",
                    name,
                    body["Type"],
                    physical_id=_physical_id(old_map, name),
                    policy_action="Retain" if body.get("DeletionPolicy") in RETAINED else "Delete",
                )
            )
    return plan


def validate_template_references(template: dict[str, Any]) -> None:
    """AWS rejects a template whose Ref/GetAtt/Sub/DependsOn name nothing it declares."""
    if not isinstance(template, dict) or "Resources" not in template:
        raise ValidationError(message="Template format error: At least one Resources member must be defined.")
    parameters = set(template.get("Parameters") or {})
    resources = set(template.get("Resources") or {})
    known = parameters | resources | PSEUDO_PARAMETERS
    for block in ("Resources", "Outputs"):
        unresolved: set[str] = set()
        for body in (template.get(block) or {}).values():
            names, _ = _references(body)
            unresolved |= names - known
            if block == "Resources":
                depends = body.get("DependsOn") or []
                depends = [depends] if isinstance(depends, str) else depends
                unresolved |= set(depends) - resources
        if unresolved:
            raise ValidationError(
                message=f"Template format error: Unresolved resource dependencies [{', '.join(sorted(unresolved))}] "
                f"in the {block} block of the template"
            )


def validate_parameters(template: dict[str, Any], given: dict[str, Any]) -> None:
    declared = template.get("Parameters") or {}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise ValidationError(message=f"Parameters: [{', '.join(unknown)}] do not exist in the template")
    missing = sorted(name for name, spec in declared.items() if name not in given and "Default" not in spec)
    if missing:
        raise ValidationError(message=f"Parameters: [{', '.join(missing)}] must have values")
    for name, spec in declared.items():
        value = given.get(name, spec.get("Default"))
        if value is None:
            continue
        allowed = spec.get("AllowedValues")
        values = (
            str(value).split(",") if str(spec.get("Type", "")).startswith(("List", "CommaDelimitedList")) else [value]
        )
        if allowed and any(str(v) not in [str(a) for a in allowed] for v in values):
            raise ValidationError(message=f"Parameter '{name}' must be one of AllowedValues")
        pattern = spec.get("AllowedPattern")
        if pattern and any(re.fullmatch(pattern, str(v)) is None for v in values):
            raise ValidationError(
                message=spec.get("ConstraintDescription") or f"Parameter '{name}' must match pattern {pattern}"
            )


# --- updating a resource map -----------------------------------------------------------------


def _dependency_order(resource_map: ResourceMap) -> list[str]:
    return resource_map._ResourceMap__get_resources_in_dependency_order()  # type: ignore[attr-defined]


def _retrying(names: list[str], action: Any) -> None:
    """Run ``action`` on every name, retrying the failures (dependencies) as moto does."""
    pending = list(names)
    last: Exception | None = None
    for _ in range(parsing.MAX_UPDATE_ATTEMPTS):
        if not pending:
            return
        failed = []
        for name in pending:
            try:
                action(name)
            except Exception as exc:  # noqa: BLE001 - retried, then re-raised
                if getattr(exc, "sandbox_logical_id", None) is None:
                    exc.sandbox_logical_id = name  # type: ignore[attr-defined]
                last = exc
                failed.append(name)
        pending = failed
    if pending and last is not None:
        raise last


def _delete_one(resource_map: ResourceMap, name: str, body: dict[str, Any]) -> None:
    resource = resource_map._parsed_resources.get(name)
    if resource is not None and not isinstance(resource, str | int | float | list | dict):
        resource_map._delete_resource(resource, body)


def update_resource(
    logical_id: str,
    new_body: dict[str, Any],
    old_body: dict[str, Any],
    resource_map: ResourceMap,
    account_id: str,
    region_name: str,
    change: Change | None,
) -> Any:
    """Update one resource as the plan's change says.

    A change that requires replacement creates the new resource, then deletes the old one
    (unless UpdateReplacePolicy is Retain), whatever moto's update handler for the type would
    have done (SQS's ignores a new QueueName). Otherwise moto's handler runs, keeping a
    generated name; where moto has none, the resource is kept and the change is not applied.
    """
    resource_type = new_body["Type"]
    model = parsing.resource_class_from_type(resource_type)
    original = resource_map._parsed_resources.get(logical_id)
    if model is None:
        return original
    if original is None:
        return parsing.parse_and_create_resource(logical_id, new_body, resource_map, account_id, region_name)
    details = change.details if change is not None else []
    changed = {d["Target"].get("Name") for d in details}
    if change is not None and change.replacement == "True":
        name_property = model.cloudformation_name_type()
        if name_property and name_property in (new_body.get("Properties") or {}) and name_property not in changed:
            name = (new_body.get("Properties") or {})[name_property]
            raise ValidationError(
                message="CloudFormation cannot update a stack when a custom-named resource requires replacing. "
                f"Rename {name} and update the stack again."
            )
        replacement = parsing.parse_and_create_resource(logical_id, new_body, resource_map, account_id, region_name)
        if new_body.get("UpdateReplacePolicy") != "Retain":
            resource_map._delete_resource(original, old_body)
        return replacement
    if not hasattr(model.update_from_cloudformation_json, "__isabstractmethod__"):
        _, cleaned, new_name = parsing.parse_resource_and_generate_name(logical_id, new_body, resource_map)
        name_property = model.cloudformation_name_type()
        if name_property and name_property not in (cleaned.get("Properties") or {}):
            # Keep the generated name: moto would generate a new one, and its delete-and-create
            # updates (rules, parameters...) would then rename the resource on every update.
            original_name = getattr(original, "name", None)
            if isinstance(original_name, str):
                new_name = original_name
        return model.update_from_cloudformation_json(
            original_resource=original,
            new_resource_name=new_name,
            cloudformation_json=cleaned,
            account_id=account_id,
            region_name=region_name,
        )
    if changed:
        log.warning(
            "sandbox: moto cannot update %s %s in place; changes to %s are not applied",
            resource_type,
            logical_id,
            ", ".join(sorted(str(c) for c in changed)),
        )
    return original


# moto's ResourceMap creates a resource whenever one it has not made yet is looked up, so
# DescribeStacks (Outputs) or DescribeStackResources after a rollback or a deletion made the
# deleted resources again. A map is "frozen" outside create/update: lookups then only find.
_original_getitem = ResourceMap.__getitem__
_original_create = ResourceMap.create


def resource_map_getitem(self: ResourceMap, key: str) -> Any:
    if getattr(self, "sandbox_frozen", False) and key not in self._parsed_resources:
        if key in self._resource_json_map:
            return None
        raise KeyError(key)
    return _original_getitem(self, key)


def resource_map_create(self: ResourceMap, template: dict[str, Any]) -> bool:
    try:
        return _original_create(self, template)
    finally:
        self.sandbox_frozen = True


def resource_map_delete(self: ResourceMap, *, rolling_back_create: bool = False) -> None:
    """moto's ResourceMap.delete, also keeping ``RetainExceptOnCreate`` resources (unless the
    stack that made them is rolling back) and marking the failure with the resource."""
    self.sandbox_frozen = True
    retained = ("Retain",) if rolling_back_create else RETAINED
    remaining = [name for name, body in self._resource_json_map.items() if body.get("DeletionPolicy") not in retained]

    def delete(name: str) -> None:
        resource = self._parsed_resources.get(name)
        if resource is not None and not isinstance(resource, str | int | float | list | dict):
            self._delete_resource(resource, self._resource_json_map[name])
            self._parsed_resources.pop(name)

    _retrying(list(reversed(remaining)), delete)


def resource_map_update(self: ResourceMap, template: dict[str, Any], parameters: dict[str, Any] | None = None) -> None:
    self.sandbox_frozen = False
    try:
        _update(self, template, parameters)
    finally:
        self.sandbox_frozen = True


def _update(self: ResourceMap, template: dict[str, Any], parameters: dict[str, Any] | None = None) -> None:
    """ResourceMap.update, the AWS way round: add, then modify, then remove (honouring
    DeletionPolicy Retain); parameters not given take their defaults.

    If an add or a modification fails, what was done is undone before the error is re-raised
    (``exc.sandbox_rolled_back`` tells whether that worked). A removal that fails is logged and
    the update goes on, as AWS's cleanup phase does.
    """
    plan = plan_update(self, template, dict(parameters or {}))
    previous = {
        "template": self._template,
        "parameters": dict(self.input_parameters or {}),
        "bodies": dict(self._resource_json_map),
    }
    old_bodies = previous["bodies"]
    _load_template(self, template, parameters)

    order = _dependency_order(self)
    changes = {c.logical_resource_id: c for c in plan.changes if c.action == "Modify"}
    added: list[str] = []
    modified: list[str] = []

    def modify(name: str) -> None:
        _apply_modify(self, name, self._resource_json_map[name], old_bodies[name], changes.get(name))
        modified.append(name)

    try:
        for name in order:
            if name in plan.add and name not in plan.remove:
                _ = self[name]
                added.append(name)
        _retrying([n for n in order if n in plan.modify], modify)
    except Exception as exc:
        exc.sandbox_rolled_back = _undo(self, previous, template, added, modified)  # type: ignore[attr-defined]
        raise

    def remove(name: str) -> None:
        body = old_bodies[name]
        try:
            if body.get("DeletionPolicy") not in RETAINED:
                _delete_one(self, name, body)
        except Exception as exc:  # noqa: BLE001 - AWS leaves it and completes the update
            log.warning("sandbox: could not delete %s while updating: %s", name, _failure_reason(exc))
        self._parsed_resources.pop(name, None)

    retyped = [n for n in plan.remove if n in plan.add]
    for name in reversed(list(old_bodies)):
        if name in plan.remove and name not in retyped:
            remove(name)
    for name in retyped:  # the old resource of a changed type goes, then the new one is made
        remove(name)
        _ = self[name]


def _load_template(self: ResourceMap, template: dict[str, Any], parameters: dict[str, Any] | None) -> None:
    old_parameter_names = set((self._template or {}).get("Parameters") or {})
    self._template = template
    self.input_parameters = dict(parameters or {})
    self.resolved_parameters = {}
    for name in old_parameter_names - set(template.get("Parameters") or {}):
        self._parsed_resources.pop(name, None)
    self.load_mapping()
    self.transform_mapping()
    self.load_parameters()
    self.load_conditions()
    self._resource_json_map = template["Resources"]


def _apply_modify(
    self: ResourceMap, name: str, new_body: dict[str, Any], old_body: dict[str, Any], change: Change | None
) -> None:
    updated = update_resource(name, new_body, old_body, self, self._account_id, self._region_name, change)
    if updated is not None:
        updated.cf_resource_type = new_body["Type"]
        updated.logical_resource_id = name
    self._parsed_resources[name] = updated


def _undo(
    self: ResourceMap, previous: dict[str, Any], template: dict[str, Any], added: list[str], modified: list[str]
) -> bool:
    """Put back the template, parameters and resources an update had changed when it failed."""
    try:
        reverse = plan_update(self, previous["template"], previous["parameters"])
        reverse_changes = {c.logical_resource_id: c for c in reverse.changes if c.action == "Modify"}
        new_bodies = dict(template["Resources"])
        _load_template(self, previous["template"], previous["parameters"])
        for name in reversed(modified):
            _apply_modify(self, name, previous["bodies"][name], new_bodies[name], reverse_changes.get(name))
        for name in reversed(added):
            _delete_one(self, name, new_bodies[name])
            self._parsed_resources.pop(name, None)
        return True
    except Exception as exc:  # noqa: BLE001
        log.warning("sandbox: undoing a failed update failed: %s", _failure_reason(exc))
        return False


def resource_map_build_resource_diff(
    self: ResourceMap, other_template: dict[str, Any], parameters: dict[str, Any] | None = None
) -> dict[str, Any]:
    plan = plan_update(self, other_template, dict(parameters or {}))
    return {"Add": plan.add, "Modify": plan.modify, "Remove": plan.remove}


def resource_map_validate_outputs(self: ResourceMap) -> None:
    """moto's check, without the crash (AttributeError → HTTP 500) on GetAtt of a type it lacks."""
    for value in (self._template.get("Outputs") or {}).values():
        if "Condition" in value and not self.lazy_condition_map[value["Condition"]]:
            continue
        getatt = (value.get("Value") or {}).get("Fn::GetAtt") if isinstance(value.get("Value"), dict) else None
        if not getatt:
            continue
        resource_name, attr = getatt.split(".", 1) if isinstance(getatt, str) else (getatt[0], getatt[1])
        resource = self._resource_json_map.get(resource_name)
        if resource is None:
            raise ValidationError(
                message=f"Template format error: Unresolved resource dependencies [{resource_name}] "
                "in the Outputs block of the template"
            )
        if "Condition" in resource and not self.lazy_condition_map[resource["Condition"]]:
            raise ValidationError(
                message=f"Unresolved resource dependencies [{resource_name}] in the Outputs block of the template"
            )
        model = parsing.resource_class_from_type(resource["Type"])
        if model is not None and not model.has_cfn_attr(attr):
            short_type = resource["Type"].rsplit(":", 1)[-1]
            raise ValidationError(
                message=f"Template error: resource {short_type} does not support attribute type {attr} in Fn::GetAtt"
            )


_original_parse_and_create_resource = parsing.parse_and_create_resource


def parse_and_create_resource(logical_id: str, *args: Any, **kwargs: Any) -> Any:
    """moto's, marking an exception with the (innermost) resource that failed."""
    try:
        return _original_parse_and_create_resource(logical_id, *args, **kwargs)
    except Exception as exc:
        if getattr(exc, "sandbox_logical_id", None) is None:
            exc.sandbox_logical_id = logical_id  # type: ignore[attr-defined]
        raise


def stack_resources(self: Stack) -> list[Any]:
    """The resources the stack made, without making any (moto's made the missing ones)."""
    parsed = self.resource_map._parsed_resources
    return [
        parsed[name]
        for name in self.resource_map._resource_json_map
        if isinstance(parsed.get(name), CloudFormationModel)
    ]


_original_outputs = Stack.outputs.fget
NO_OUTPUT_STATUSES = frozenset(
    {"REVIEW_IN_PROGRESS", "CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_COMPLETE"}
)


def stack_outputs(self: Stack) -> list[dict[str, Any]] | None:
    if self.status in NO_OUTPUT_STATUSES:
        return None
    return _original_outputs(self)


# --- change sets ---------------------------------------------------------------------------


def change_set_diff(self: ChangeSet) -> list[Change]:
    plan = plan_update(self.stack.resource_map, self.template_dict, dict(self.parameters or {}))
    self.sandbox_plan = plan
    return plan.changes


def _find_stack(backend: CloudFormationBackend, name_or_id: str) -> Stack | None:
    if name_or_id in backend.stacks:
        return backend.stacks[name_or_id]
    for stack in backend.stacks.values():
        if stack.name == name_or_id:
            return stack
    return None


def _find_change_set(backend: CloudFormationBackend, change_set_name: str, stack_name: str | None) -> ChangeSet:
    if change_set_name in backend.change_sets:
        return backend.change_sets[change_set_name]
    for change_set in reversed(list(backend.change_sets.values())):
        if change_set.change_set_name != change_set_name:
            continue
        if stack_name and stack_name not in (change_set.stack_name, change_set.stack_id):
            continue
        return change_set
    raise ChangeSetNotFound(change_set_name)


def _parse_template(body: str) -> dict[str, Any]:
    try:
        return Stack.parse_template(body)
    except Exception as exc:  # noqa: BLE001 - any parse failure is a template format error
        raise ValidationError(message=f"Template format error: {exc}")


NOT_UPDATABLE = frozenset(
    {
        "REVIEW_IN_PROGRESS",
        "CREATE_FAILED",
        "ROLLBACK_COMPLETE",
        "ROLLBACK_FAILED",
        "DELETE_FAILED",
        "UPDATE_ROLLBACK_FAILED",
    }
)


def backend_create_change_set(
    self: CloudFormationBackend,
    stack_name: str,
    change_set_name: str,
    template: str,
    parameters: dict[str, str],
    description: str,
    change_set_type: str,
    notification_arns: list[str] | None = None,
    tags: dict[str, str] | None = None,
    role_arn: str | None = None,
) -> tuple[str, str]:
    validate_create_change_set(change_set_name)
    template_dict = _parse_template(template)
    # UsePreviousValue hands over the resolved value, a list for a list parameter.
    parameters = {k: ",".join(map(str, v)) if isinstance(v, list) else v for k, v in (parameters or {}).items()}
    stack = _find_stack(self, stack_name)
    if change_set_type == "UPDATE":
        if stack is None:
            raise ValidationError(stack_name, message=f"Stack [{stack_name}] does not exist")
        if stack.status in NOT_UPDATABLE:
            raise ValidationError(message=f"Stack:{stack.stack_id} is in {stack.status} state and can not be updated.")
    elif change_set_type == "CREATE":
        if stack is not None and stack.status != "REVIEW_IN_PROGRESS":
            raise AlreadyExistsException(
                f"Stack [{stack_name}] already exists and cannot be created again with the changeSet [{change_set_name}]."
            )
    else:
        raise ValidationError(message=f"ChangeSetType {change_set_type} is not supported by the sandbox")

    if stack is None:
        stack = Stack(
            stack_id=generate_stack_id(stack_name, self.region_name, self.account_id),
            name=stack_name,
            template={},
            parameters={},
            account_id=self.account_id,
            region_name=self.region_name,
            notification_arns=notification_arns,
            tags=tags,
            role_arn=role_arn,
            cross_stack_resources=self.exports,
        )
        stack.status = "REVIEW_IN_PROGRESS"
        plan_update(stack.resource_map, template_dict, parameters)  # reject a bad template before the stack exists
        self.stacks[stack.stack_id] = stack
        stack._add_stack_event("REVIEW_IN_PROGRESS", resource_status_reason="User Initiated")

    change_set = ChangeSet(
        change_set_type=change_set_type,
        change_set_id=generate_changeset_id(change_set_name, self.region_name, self.account_id),
        change_set_name=change_set_name,
        stack=stack,
        template=template,
        parameters=parameters,
        description=description,
        notification_arns=notification_arns,
        tags=tags,
        role_arn=role_arn,
    )
    plan: UpdatePlan = change_set.sandbox_plan
    unchanged = (
        change_set_type == "UPDATE"
        and stack.template_dict == template_dict
        and not plan.parameters_changed
        and (not tags or tags == stack.tags)
    )
    if unchanged:
        change_set.status = "FAILED"
        change_set.execution_status = "UNAVAILABLE"
        change_set.status_reason = NO_CHANGES
    else:
        change_set.status = "CREATE_COMPLETE"
        change_set.execution_status = "AVAILABLE"
    self.change_sets[change_set.change_set_id] = change_set
    return change_set.change_set_id, stack.stack_id


def _resource_events(stack: Stack, logical_ids: list[str], status: str) -> None:
    """Events for resources that completed, placed before the stack's own last event."""
    last = stack.events.pop() if stack.events and stack.events[-1].logical_resource_id == stack.name else None
    for logical_id in logical_ids:
        _resource_event(stack, logical_id, status)
    if last is not None:
        stack.events.append(last)


def _resource_event(stack: Stack, logical_id: str, status: str, reason: str | None = None) -> None:
    resource = stack.resource_map._parsed_resources.get(logical_id)
    body = (stack.template_dict.get("Resources") or {}).get(logical_id) or {}
    stack.events.append(
        Event(
            stack_id=stack.stack_id,
            stack_name=stack.name,
            logical_resource_id=logical_id,
            physical_resource_id=getattr(resource, "physical_resource_id", None) or "",
            resource_type=body.get("Type", ""),
            resource_status=status,
            resource_status_reason=reason,
            resource_properties=None,
        )
    )


def _failure_reason(exc: Exception) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {message}" if not isinstance(exc, CloudFormationError) else str(message)


def _register_exports(backend: CloudFormationBackend, stack: Stack) -> None:
    old = {name for name, export in backend.exports.items() if export.exporting_stack_id == stack.stack_id}
    new = stack.exports
    for export in new:
        owner = backend.exports.get(export.name)
        if owner is not None and owner.exporting_stack_id != stack.stack_id:
            raise ValidationError(
                stack.stack_id,
                message=f"Export with name {export.name} is already exported by stack {owner.exporting_stack_id}",
            )
    for name in old - {e.name for e in new}:
        backend.exports.pop(name, None)
    for export in new:
        backend.exports[export.name] = export


def _execute_create(
    backend: CloudFormationBackend, change_set: ChangeSet, stack: Stack, disable_rollback: bool
) -> None:
    stack.template = change_set.template
    stack._parse_template()
    stack.description = stack.template_dict.get("Description")
    stack.parameters = dict(change_set.parameters or {})
    stack.tags = dict(change_set.tags or stack.tags or {})
    stack.role_arn = change_set.role_arn or stack.role_arn
    stack.cross_stack_resources = backend.exports
    stack._add_stack_event("CREATE_IN_PROGRESS", resource_status_reason="User Initiated")
    stack.status = "CREATE_IN_PROGRESS"
    try:
        stack.resource_map = stack._create_resource_map()
        stack.output_map = stack._create_output_map()
        _register_exports(backend, stack)
        stack.create_resources()  # as create_stack: sets CREATE_COMPLETE once every resource is ready
        _ = stack.outputs  # an output that cannot be resolved fails the stack, not DescribeStacks
    except Exception as exc:  # noqa: BLE001 - any failure is a failed stack, as on AWS
        failed = getattr(exc, "sandbox_logical_id", None)
        reason = _failure_reason(exc)
        log.warning("sandbox: creating stack %s failed at %s: %s", stack.name, failed, reason)
        if failed:
            _resource_event(stack, failed, "CREATE_FAILED", reason)
            stack.status_reason = f"The following resource(s) failed to create: [{failed}]. "
        else:
            stack.status_reason = reason
        for name in [n for n, e in backend.exports.items() if e.exporting_stack_id == stack.stack_id]:
            backend.exports.pop(name)
        if disable_rollback:
            stack.status = "CREATE_FAILED"
            stack._add_stack_event("CREATE_FAILED", resource_status_reason=stack.status_reason)
            return
        stack.status_reason += "Rollback requested by user." if failed else ""
        stack._add_stack_event("ROLLBACK_IN_PROGRESS", resource_status_reason=stack.status_reason)
        try:
            stack.resource_map.delete(rolling_back_create=True)
            stack.status = "ROLLBACK_COMPLETE"
        except Exception as rollback_exc:  # noqa: BLE001
            log.warning("sandbox: rolling back %s failed: %s", stack.name, rollback_exc)
            stack.status = "ROLLBACK_FAILED"
        stack._add_stack_event(stack.status)
        return
    stack.status_reason = None
    made = [n for n in stack.resource_map._resource_json_map if n in stack.resource_map._parsed_resources]
    _resource_events(stack, made, "CREATE_COMPLETE")


def _execute_update(
    backend: CloudFormationBackend, change_set: ChangeSet, stack: Stack, disable_rollback: bool
) -> None:
    previous_template = stack.template
    previous_template_dict = stack.template_dict
    previous_parameters = dict(stack.parameters or {})
    plan: UpdatePlan = change_set.sandbox_plan
    try:
        stack.update(
            change_set.template,
            role_arn=change_set.role_arn or stack.role_arn,
            parameters=dict(change_set.parameters or {}),
            tags=dict(change_set.tags) if change_set.tags else None,
        )
        stack.parameters = dict(change_set.parameters or {})
        stack.description = stack.template_dict.get("Description")
        _ = stack.outputs
        _register_exports(backend, stack)
    except Exception as exc:  # noqa: BLE001 - any failure is a failed update, as on AWS
        failed = getattr(exc, "sandbox_logical_id", None)
        reason = _failure_reason(exc)
        log.warning("sandbox: updating stack %s failed at %s: %s", stack.name, failed, reason)
        if failed:
            _resource_event(stack, failed, "UPDATE_FAILED", reason)
            stack.status_reason = f"The following resource(s) failed to update: [{failed}]. "
        else:
            stack.status_reason = reason
        if disable_rollback:
            stack.status = "UPDATE_FAILED"
            stack._add_stack_event("UPDATE_FAILED", resource_status_reason=stack.status_reason)
            return
        stack._add_stack_event("UPDATE_ROLLBACK_IN_PROGRESS", resource_status_reason=stack.status_reason)
        # A failing resource has had the resource map undo its part (sandbox_rolled_back); after
        # a complete resource update (an export clash...) the resources are updated back.
        rolled_back = getattr(exc, "sandbox_rolled_back", None)
        if rolled_back is None:
            rolled_back = True
            if stack.resource_map._template is not previous_template_dict:
                try:
                    stack.resource_map.update(previous_template_dict, previous_parameters)
                except Exception as undo_exc:  # noqa: BLE001
                    log.warning("sandbox: rolling back %s failed: %s", stack.name, _failure_reason(undo_exc))
                    rolled_back = False
        stack.template = previous_template
        stack._parse_template()
        stack.parameters = previous_parameters
        stack.output_map = stack._create_output_map()
        stack.status = "UPDATE_ROLLBACK_COMPLETE" if rolled_back else "UPDATE_ROLLBACK_FAILED"
        stack._add_stack_event(stack.status)
        return
    stack.status_reason = None
    parsed = stack.resource_map._parsed_resources
    for action, status in (("Add", "CREATE_COMPLETE"), ("Modify", "UPDATE_COMPLETE")):
        done = [c.logical_resource_id for c in plan.changes if c.action == action and c.logical_resource_id in parsed]
        _resource_events(stack, done, status)


def backend_execute_change_set(
    self: CloudFormationBackend,
    change_set_name: str,
    stack_name: str | None = None,
    disable_rollback: bool = False,
) -> None:
    change_set = _find_change_set(self, change_set_name, stack_name)
    if change_set.execution_status != "AVAILABLE":
        raise InvalidChangeSetStatus(
            f"ChangeSet [{change_set.change_set_id}] cannot be executed in its current status of "
            f"[{change_set.status if change_set.status != 'CREATE_COMPLETE' else change_set.execution_status}]"
        )
    stack = self.stacks[change_set.stack_id]
    if change_set.change_set_type == "CREATE":
        _execute_create(self, change_set, stack, disable_rollback)
    else:
        _execute_update(self, change_set, stack, disable_rollback)
    change_set.execution_status = (
        "EXECUTE_COMPLETE" if stack.status in ("CREATE_COMPLETE", "UPDATE_COMPLETE") else "EXECUTE_FAILED"
    )
    # AWS removes the stack's other change sets once one is executed.
    for change_set_id, other in list(self.change_sets.items()):
        if other.stack_id == stack.stack_id and other is not change_set:
            del self.change_sets[change_set_id]


def backend_describe_change_set(
    self: CloudFormationBackend, change_set_name: str, stack_name: str | None = None
) -> ChangeSet:
    return _find_change_set(self, change_set_name, stack_name)


def backend_delete_change_set(self: CloudFormationBackend, change_set_name: str, stack_name: str | None = None) -> None:
    change_set = _find_change_set(self, change_set_name, stack_name)
    del self.change_sets[change_set.change_set_id]


def backend_delete_stack(self: CloudFormationBackend, name_or_stack_id: str) -> None:
    """moto's, tolerating exports that were never registered and dropping the change sets."""
    stack = _find_stack(self, name_or_stack_id)
    if stack is None:
        return
    try:
        stack.delete()
    except Exception as exc:  # noqa: BLE001 - the stack stays, as DELETE_FAILED, as on AWS
        failed = getattr(exc, "sandbox_logical_id", None)
        stack.status = "DELETE_FAILED"
        stack.status_reason = (
            f"The following resource(s) failed to delete: [{failed}]. " if failed else _failure_reason(exc)
        )
        stack._add_stack_event("DELETE_FAILED", resource_status_reason=stack.status_reason)
        log.warning("sandbox: deleting stack %s failed: %s", stack.name, _failure_reason(exc))
        return
    self.stacks.pop(stack.stack_id)
    self.deleted_stacks[stack.stack_id] = stack
    for name in [n for n, e in self.exports.items() if e.exporting_stack_id == stack.stack_id]:
        self.exports.pop(name)
    for change_set_id in [i for i, c in self.change_sets.items() if c.stack_id == stack.stack_id]:
        del self.change_sets[change_set_id]


# --- the API layer ---------------------------------------------------------------------------

_original_create_change_set = CloudFormationResponse.create_change_set


_original_update_stack = CloudFormationBackend.update_stack


def backend_update_stack(self: CloudFormationBackend, *args: Any, **kwargs: Any) -> Stack:
    """moto's, also re-registering the stack's exports (moto registers them only on create)."""
    stack = _original_update_stack(self, *args, **kwargs)
    _register_exports(self, stack)
    return stack


def response_create_change_set(self: CloudFormationResponse) -> ActionResult:
    # moto refuses an identical update with "No updates are to be performed." (UpdateStack's
    # error); CreateChangeSet instead succeeds with a FAILED change set.
    self._validate_different_update = lambda *args, **kwargs: None  # type: ignore[method-assign]
    return _original_create_change_set(self)


def response_describe_change_set(self: CloudFormationResponse) -> ActionResult:
    change_set = self.cloudformation_backend.describe_change_set(
        change_set_name=self._get_param("ChangeSetName"), stack_name=self._get_param("StackName")
    )
    return ActionResult(change_set)


def response_execute_change_set(self: CloudFormationResponse) -> ActionResult:
    self.cloudformation_backend.execute_change_set(
        change_set_name=self._get_param("ChangeSetName"),
        stack_name=self._get_param("StackName"),
        disable_rollback=self._get_bool_param("DisableRollback", False),
    )
    return EmptyResult()


def response_delete_change_set(self: CloudFormationResponse) -> ActionResult:
    self.cloudformation_backend.delete_change_set(
        change_set_name=self._get_param("ChangeSetName"), stack_name=self._get_param("StackName")
    )
    return EmptyResult()


def response_list_change_sets(self: CloudFormationResponse) -> ActionResult:
    stack_name = self._get_param("StackName")
    summaries = [
        c
        for c in self.cloudformation_backend.list_change_sets()
        if not stack_name or stack_name in (c.stack_name, c.stack_id)
    ]
    return ActionResult({"Summaries": summaries})


def install() -> None:
    parsing.parse_and_create_resource = parse_and_create_resource
    ResourceMap.__getitem__ = resource_map_getitem
    ResourceMap.create = resource_map_create
    ResourceMap.delete = resource_map_delete
    ResourceMap.update = resource_map_update
    Stack.stack_resources = property(stack_resources)
    Stack.outputs = property(stack_outputs)
    ResourceMap.build_resource_diff = resource_map_build_resource_diff
    ResourceMap.validate_outputs = resource_map_validate_outputs
    ChangeSet.diff = change_set_diff
    CloudFormationBackend.create_change_set = backend_create_change_set
    CloudFormationBackend.execute_change_set = backend_execute_change_set
    CloudFormationBackend.describe_change_set = backend_describe_change_set
    CloudFormationBackend.delete_change_set = backend_delete_change_set
    CloudFormationBackend.delete_stack = backend_delete_stack
    CloudFormationBackend.update_stack = backend_update_stack
    CloudFormationResponse.create_change_set = response_create_change_set
    CloudFormationResponse.describe_change_set = response_describe_change_set
    CloudFormationResponse.execute_change_set = response_execute_change_set
    CloudFormationResponse.delete_change_set = response_delete_change_set
    CloudFormationResponse.list_change_sets = response_list_change_sets
    CloudFormationResponse.RESPONSE_KEY_PATH_TO_TRANSFORMER = {
        **CloudFormationResponse.RESPONSE_KEY_PATH_TO_TRANSFORMER,
        "DescribeChangeSetOutput.Tags": transform_dict,
    }
