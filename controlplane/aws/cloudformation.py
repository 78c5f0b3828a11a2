"""AWS CloudFormation: change sets and stacks."""

from __future__ import annotations

from dataclasses import dataclass, field

from controlplane.aws.clients import AwsTarget, client
from controlplane.aws.errors import AwsError, translated

SERVICE = "cloudformation"
# CloudFormation's limit for an inline TemplateBody (bytes); larger templates go through S3.
TEMPLATE_BODY_MAX = 51_200
NO_CHANGES_REASONS = ("didn't contain changes", "No updates are to be performed")


@dataclass(frozen=True)
class ResourceChange:
    action: str  # Add | Modify | Remove | Import | Dynamic
    logical_id: str
    resource_type: str
    physical_id: str
    replacement: str  # True | False | Conditional | ""


@dataclass(frozen=True)
class ChangeSet:
    id: str
    status: str  # CREATE_PENDING | CREATE_IN_PROGRESS | CREATE_COMPLETE | FAILED | ...
    execution_status: str
    status_reason: str
    changes: list[ResourceChange] = field(default_factory=list)

    @property
    def has_no_changes(self) -> bool:
        return self.status == "FAILED" and any(r in self.status_reason for r in NO_CHANGES_REASONS)


@dataclass(frozen=True)
class Stack:
    name: str
    id: str
    status: str
    status_reason: str
    outputs: dict[str, str]

    @property
    def exists(self) -> bool:
        return self.status != "REVIEW_IN_PROGRESS" and not self.status.startswith("DELETE_COMPLETE")


def stack_describe(*, target: AwsTarget, name: str) -> Stack | None:
    """The stack, or None when there is none by that name."""
    try:
        with translated(SERVICE, "DescribeStacks"):
            stacks = client(SERVICE, target).describe_stacks(StackName=name)["Stacks"]
    except AwsError as exc:
        if exc.code == "ValidationError" and "does not exist" in exc.message:
            return None
        raise
    if not stacks:
        return None
    s = stacks[0]
    return Stack(
        name=s["StackName"],
        id=s["StackId"],
        status=s["StackStatus"],
        status_reason=s.get("StackStatusReason", "") or "",
        outputs={o["OutputKey"]: o["OutputValue"] for o in s.get("Outputs", [])},
    )


def change_set_create(
    *,
    target: AwsTarget,
    stack_name: str,
    change_set_name: str,
    template_body: str,
    parameters: dict[str, str],
    change_set_type: str,
    description: str = "",
) -> str:
    if len(template_body.encode()) > TEMPLATE_BODY_MAX:
        raise AwsError(
            f"template for {stack_name} is {len(template_body.encode())} bytes; CloudFormation takes at most "
            f"{TEMPLATE_BODY_MAX} inline",
            code="TemplateTooLarge",
            permanent=True,
            service=SERVICE,
            operation="CreateChangeSet",
        )
    with translated(SERVICE, "CreateChangeSet"):
        return client(SERVICE, target).create_change_set(
            StackName=stack_name,
            ChangeSetName=change_set_name,
            TemplateBody=template_body,
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(parameters.items())],
            Capabilities=["CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
            ChangeSetType=change_set_type,
            Description=description[:1024],
        )["Id"]


def change_set_describe(*, target: AwsTarget, change_set_id: str) -> ChangeSet:
    with translated(SERVICE, "DescribeChangeSet"):
        resp = client(SERVICE, target).describe_change_set(ChangeSetName=change_set_id)
    changes = []
    for change in resp.get("Changes", []):
        rc = change.get("ResourceChange", {})
        changes.append(
            ResourceChange(
                action=rc.get("Action", ""),
                logical_id=rc.get("LogicalResourceId", ""),
                resource_type=rc.get("ResourceType", ""),
                physical_id=rc.get("PhysicalResourceId", "") or "",
                replacement=str(rc.get("Replacement", "") or ""),
            )
        )
    return ChangeSet(
        id=resp.get("ChangeSetId", change_set_id),
        status=resp.get("Status", ""),
        execution_status=resp.get("ExecutionStatus", ""),
        status_reason=resp.get("StatusReason", "") or "",
        changes=changes,
    )


def change_set_execute(*, target: AwsTarget, change_set_id: str) -> None:
    with translated(SERVICE, "ExecuteChangeSet"):
        client(SERVICE, target).execute_change_set(ChangeSetName=change_set_id)


def change_set_delete(*, target: AwsTarget, change_set_id: str) -> None:
    with translated(SERVICE, "DeleteChangeSet"):
        client(SERVICE, target).delete_change_set(ChangeSetName=change_set_id)


def stack_failure_reasons(*, target: AwsTarget, name: str, limit: int = 5) -> list[str]:
    """The stack's own reasons for failing: the newest FAILED events, oldest first."""
    with translated(SERVICE, "DescribeStackEvents"):
        events = client(SERVICE, target).describe_stack_events(StackName=name).get("StackEvents", [])
    failed = [
        f"{e.get('LogicalResourceId', '')}: {e.get('ResourceStatusReason', '')}"
        for e in events
        if str(e.get("ResourceStatus", "")).endswith("FAILED") and e.get("ResourceStatusReason")
    ]
    return list(reversed(failed[:limit]))
