"""Policy checks on the CloudFormation templates in infra_templates/.

cfn-lint says whether a template is valid; these checks say whether it is safe for the
cutover: stateful resources survive a stack deletion, tables can be restored, weighted
records move traffic within a minute, no event is dropped silently, the peer region may
deliver to the bus, traces are kept, and ledger responses are never cached.

Pure Python (no Django, no AWS): the environment page shows the findings, and the tests
fail on any. Each Finding names the template, the resource and the fix in plain words.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cfnlint.decode import decode

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "infra_templates"

# Managed cache policy "CachingDisabled" (CloudFront developer guide, managed cache policies).
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
# Paths that must never be served from a cache, checked the way CloudFront picks a
# behaviour: the first path pattern that matches, else the default behaviour.
UNCACHED_API_PATHS = (
    "/api/v1/transactions",
    "/api/v1/transactions/4b1f0c1e-2f6a-4d7e-9c1a-0f3b5e7d9a21",
    "/api/v1/payments/webhook",
)
WEIGHTED_RECORD_TTL = "60"

STATEFUL_TYPES = ("AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable", "AWS::S3::Bucket")

# Check names, as shown on the environment page and in the tests.
RETAIN = "retain-stateful"
PITR = "point-in-time-recovery"
WEIGHTED_TTL = "weighted-record-ttl"
RULE_DLQ = "rule-target-dlq"
DLQ_ALARM = "dlq-alarm"
BUS_POLICY = "bus-policy-grants-peer"
TRACING = "tracing"
API_UNCACHED = "api-paths-uncached"
PARSE = "template-parse"

CHECKS = (RETAIN, PITR, WEIGHTED_TTL, RULE_DLQ, DLQ_ALARM, BUS_POLICY, TRACING, API_UNCACHED)


@dataclass(frozen=True)
class Finding:
    check: str  # one of CHECKS (or PARSE when the template cannot be read)
    template: str  # file name under infra_templates/, e.g. "data.yaml"
    resource: str  # logical id in the template
    message: str  # what is wrong
    fix: str  # what to change, in plain words

    def __str__(self) -> str:
        return f"{self.template} {self.resource} [{self.check}]: {self.message} Fix: {self.fix}"


# --- reading templates ---------------------------------------------------------------------------


def _resources(template: dict) -> dict[str, dict]:
    resources = template.get("Resources") or {}
    return {name: body for name, body in resources.items() if isinstance(body, dict)}


def _props(resource: dict) -> dict:
    props = resource.get("Properties")
    return props if isinstance(props, dict) else {}


def _of_type(template: dict, *types: str) -> Iterator[tuple[str, dict]]:
    for name, body in _resources(template).items():
        if body.get("Type") in types:
            yield name, body


def _walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def _refers_to(value: Any, logical_id: str, attribute: str | None = None) -> bool:
    """Whether ``value`` refers to resource or parameter ``logical_id`` (Ref, GetAtt or Sub).

    With ``attribute``, only GetAtt/Sub references to that attribute count (and Ref never).
    """
    sub_names = {f"{logical_id}.{attribute}"} if attribute else {logical_id}
    for node in _walk(value):
        if not isinstance(node, dict) or len(node) != 1:
            continue
        ((function, argument),) = node.items()
        if function == "Ref" and attribute is None and argument == logical_id:
            return True
        if function == "Fn::GetAtt":
            parts = argument.split(".", 1) if isinstance(argument, str) else list(argument)
            if parts and parts[0] == logical_id and (attribute is None or parts[1:] == [attribute]):
                return True
        if function == "Fn::Sub":
            text = argument[0] if isinstance(argument, list) else argument
            if isinstance(text, str) and sub_names & set(re.findall(r"\$\{([^!}][^}]*)\}", text)):
                return True
    return False


def _true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _as_list(value: Any) -> list:
    if isinstance(value, list):
        return value
    return [] if value is None else [value]


# --- checks ------------------------------------------------------------------------------------------


def _check_retain(name: str, template: dict) -> Iterator[Finding]:
    for logical_id, body in _of_type(template, *STATEFUL_TYPES):
        missing = [key for key in ("DeletionPolicy", "UpdateReplacePolicy") if body.get(key) != "Retain"]
        if missing:
            yield Finding(
                check=RETAIN,
                template=name,
                resource=logical_id,
                message=f"{body['Type']} without {' and '.join(f'{k}: Retain' for k in missing)}: deleting the "
                "stack, or an update that replaces the resource, would delete its data"
                + (" in every replica region" if body["Type"] == "AWS::DynamoDB::GlobalTable" else "")
                + ".",
                fix="Set both DeletionPolicy: Retain and UpdateReplacePolicy: Retain on the resource.",
            )


def _check_pitr(name: str, template: dict) -> Iterator[Finding]:
    for logical_id, body in _of_type(template, "AWS::DynamoDB::Table"):
        spec = _props(body).get("PointInTimeRecoverySpecification") or {}
        if not isinstance(spec, dict) or not _true(spec.get("PointInTimeRecoveryEnabled")):
            yield Finding(
                check=PITR,
                template=name,
                resource=logical_id,
                message="point-in-time recovery is off: the table cannot be restored to a moment before a bad write.",
                fix="Set PointInTimeRecoverySpecification: {PointInTimeRecoveryEnabled: true}.",
            )
    for logical_id, body in _of_type(template, "AWS::DynamoDB::GlobalTable"):
        replicas = _as_list(_props(body).get("Replicas"))
        off = []
        for index, replica in enumerate(replicas):
            replica = replica if isinstance(replica, dict) else {}
            spec = replica.get("PointInTimeRecoverySpecification") or {}
            if not isinstance(spec, dict) or not _true(spec.get("PointInTimeRecoveryEnabled")):
                region = replica.get("Region")
                off.append(_describe(region) if region is not None else f"replica {index + 1}")
        if off or not replicas:
            yield Finding(
                check=PITR,
                template=name,
                resource=logical_id,
                message=f"point-in-time recovery is off for the replica(s) in {', '.join(off) or 'no region'}: "
                "PITR is set per replica, and a replica without it cannot be restored.",
                fix="Give every entry of Replicas PointInTimeRecoverySpecification: {PointInTimeRecoveryEnabled: true}.",
            )


def _describe(value: Any) -> str:
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref":
            return f"the {argument} region"
        return f"{function} {argument}"
    return str(value)


def _weighted_records(template: dict) -> Iterator[tuple[str, dict]]:
    for logical_id, body in _of_type(template, "AWS::Route53::RecordSet"):
        yield logical_id, _props(body)
    for logical_id, body in _of_type(template, "AWS::Route53::RecordSetGroup"):
        for record in _as_list(_props(body).get("RecordSets")):
            if isinstance(record, dict):
                yield logical_id, record


def _check_weighted_ttl(name: str, template: dict) -> Iterator[Finding]:
    for logical_id, record in _weighted_records(template):
        if "Weight" not in record:
            continue
        ttl = record.get("TTL")
        if str(ttl) != WEIGHTED_RECORD_TTL:
            yield Finding(
                check=WEIGHTED_TTL,
                template=name,
                resource=logical_id,
                message=f"weighted record with TTL {ttl!r}: resolvers keep the old weights until the TTL runs out, "
                "so each cutover step would take effect that much later (and all records of a weighted set must "
                "share one TTL).",
                fix='Set TTL: "60" on every weighted record.',
            )


def _check_rule_dlq(name: str, template: dict) -> Iterator[Finding]:
    for logical_id, body in _of_type(template, "AWS::Events::Rule"):
        for index, target in enumerate(_as_list(_props(body).get("Targets"))):
            target = target if isinstance(target, dict) else {}
            dlq = target.get("DeadLetterConfig")
            if not isinstance(dlq, dict) or not dlq.get("Arn"):
                yield Finding(
                    check=RULE_DLQ,
                    template=name,
                    resource=logical_id,
                    message=f"target {target.get('Id', index + 1)!s} has no DeadLetterConfig: an event that cannot "
                    "be delivered after the retries is dropped without a trace.",
                    fix="Give the target DeadLetterConfig: {Arn: <an SQS queue's Arn>}, with a queue policy letting "
                    "events.amazonaws.com send to it, and an alarm on that queue's depth.",
                )


def _dead_letter_queues(template: dict) -> Iterator[str]:
    """Logical ids of the template's queues used as dead-letter queues."""
    queues = [logical_id for logical_id, _ in _of_type(template, "AWS::SQS::Queue")]
    arns = []
    for _, body in _of_type(template, "AWS::Events::Rule"):
        for target in _as_list(_props(body).get("Targets")):
            if isinstance(target, dict) and isinstance(target.get("DeadLetterConfig"), dict):
                arns.append(target["DeadLetterConfig"].get("Arn"))
    for _, body in _of_type(template, "AWS::SQS::Queue"):
        redrive = _props(body).get("RedrivePolicy")
        if isinstance(redrive, dict):
            arns.append(redrive.get("deadLetterTargetArn"))
    for queue in queues:
        if any(_refers_to(arn, queue) for arn in arns):
            yield queue


def _alarm_dimensions(alarm: dict) -> Iterator[dict]:
    props = _props(alarm)
    yield from _as_list(props.get("Dimensions"))
    for metric in _as_list(props.get("Metrics")):
        if isinstance(metric, dict):
            stat = metric.get("MetricStat") or {}
            yield from _as_list(((stat.get("Metric") or {}) if isinstance(stat, dict) else {}).get("Dimensions"))


def _check_dlq_alarm(name: str, template: dict) -> Iterator[Finding]:
    alarms = [body for _, body in _of_type(template, "AWS::CloudWatch::Alarm")]
    for queue in _dead_letter_queues(template):
        queue_name = _props(_resources(template)[queue]).get("QueueName")
        watched = any(
            isinstance(dim, dict)
            and dim.get("Name") == "QueueName"
            and (_refers_to(dim.get("Value"), queue, "QueueName") or (queue_name and dim.get("Value") == queue_name))
            for alarm in alarms
            for dim in _alarm_dimensions(alarm)
        )
        if not watched:
            yield Finding(
                check=DLQ_ALARM,
                template=name,
                resource=queue,
                message="dead-letter queue without an alarm: failed deliveries would pile up unnoticed.",
                fix="Add an AWS::CloudWatch::Alarm on AWS/SQS ApproximateNumberOfMessagesVisible > 0 with "
                f"Dimensions [{{Name: QueueName, Value: !GetAtt {queue}.QueueName}}].",
            )


def _check_bus_policy(name: str, template: dict) -> Iterator[Finding]:
    policies = [body for _, body in _of_type(template, "AWS::Events::EventBusPolicy")]
    for logical_id, body in _of_type(template, "AWS::Events::EventBus"):
        bus_name = _props(body).get("Name")
        mine = [
            _props(p)
            for p in policies
            if _refers_to(_props(p).get("EventBusName"), logical_id)
            or (bus_name and _props(p).get("EventBusName") == bus_name)
        ]
        if not any(_grants_peer(policy) for policy in mine):
            yield Finding(
                check=BUS_POLICY,
                template=name,
                resource=logical_id,
                message="no EventBusPolicy on this bus allows events:PutEvents from the peer region's forwarder "
                "role: the peer's forwarding rule fails with an access error and its events go to its DLQ.",
                fix="Add an AWS::Events::EventBusPolicy on the bus with Effect Allow, Action events:PutEvents, for the "
                "role <env>-events-forwarder-<PeerRegion> of the peer account (as principal or aws:PrincipalArn).",
            )


def _grants_peer(policy: dict) -> bool:
    statements = _as_list(policy.get("Statement")) if "Statement" in policy else [policy]
    for statement in statements:
        if not isinstance(statement, dict) or statement.get("Effect", "Allow") != "Allow":
            continue
        actions = [a.lower() for a in _as_list(statement.get("Action")) if isinstance(a, str)]
        if not ({"events:putevents", "events:*", "*"} & set(actions)):
            continue
        # "The peer": the principal or the condition is built from the PeerRegion parameter.
        if _refers_to(statement.get("Principal"), "PeerRegion") or _refers_to(statement.get("Condition"), "PeerRegion"):
            return True
    return False


def _check_tracing(name: str, template: dict) -> Iterator[Finding]:
    for logical_id, body in _of_type(template, "AWS::Lambda::Function"):
        tracing = _props(body).get("TracingConfig") or {}
        if not isinstance(tracing, dict) or tracing.get("Mode") != "Active":
            yield Finding(
                check=TRACING,
                template=name,
                resource=logical_id,
                message="X-Ray tracing is not Active: requests through this function leave no trace.",
                fix="Set TracingConfig: {Mode: Active} (and allow xray:PutTraceSegments in its role).",
            )
    for logical_id, body in _of_type(template, "AWS::StepFunctions::StateMachine"):
        tracing = _props(body).get("TracingConfiguration") or {}
        if not isinstance(tracing, dict) or not _true(tracing.get("Enabled")):
            yield Finding(
                check=TRACING,
                template=name,
                resource=logical_id,
                message="X-Ray tracing is off for the state machine.",
                fix="Set TracingConfiguration: {Enabled: true} (and allow the X-Ray actions in its role).",
            )


def _cloudfront_pattern(pattern: str) -> re.Pattern:
    # CloudFront path patterns: * matches any characters (including /), ? exactly one; case-sensitive.
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{regex}$")


def _behaviour_for(config: dict, path: str) -> tuple[str, dict]:
    for behaviour in _as_list(config.get("CacheBehaviors")):
        if isinstance(behaviour, dict) and isinstance(behaviour.get("PathPattern"), str):
            pattern = behaviour["PathPattern"]
            if _cloudfront_pattern(pattern if pattern.startswith("/") else "/" + pattern).match(path):
                return f"the behaviour for {pattern}", behaviour
    default = config.get("DefaultCacheBehavior")
    return "the default behaviour", default if isinstance(default, dict) else {}


def _never_caches(behaviour: dict) -> bool:
    if behaviour.get("CachePolicyId") == CACHING_DISABLED:
        return True
    if "CachePolicyId" in behaviour:
        return False
    # Legacy cache settings: caching is off only when every TTL is 0.
    return all(str(behaviour.get(key, "")) == "0" for key in ("MinTTL", "DefaultTTL", "MaxTTL"))


def _check_api_uncached(name: str, template: dict) -> Iterator[Finding]:
    for logical_id, body in _of_type(template, "AWS::CloudFront::Distribution"):
        config = _props(body).get("DistributionConfig") or {}
        if not isinstance(config, dict):
            continue
        for path in UNCACHED_API_PATHS:
            which, behaviour = _behaviour_for(config, path)
            if not _never_caches(behaviour):
                yield Finding(
                    check=API_UNCACHED,
                    template=name,
                    resource=logical_id,
                    message=f"{path} is served by {which}, which may cache: a cached transaction or payment "
                    "response would be replayed to other callers.",
                    fix="Give /api/v1/transactions, /api/v1/transactions/* and /api/v1/payments/* cache behaviours "
                    f"with the managed CachingDisabled policy ({CACHING_DISABLED}), placed before any pattern that "
                    "also matches them.",
                )


CHECK_FUNCTIONS: dict[str, Callable[[str, dict], Iterator[Finding]]] = {
    RETAIN: _check_retain,
    PITR: _check_pitr,
    WEIGHTED_TTL: _check_weighted_ttl,
    RULE_DLQ: _check_rule_dlq,
    DLQ_ALARM: _check_dlq_alarm,
    BUS_POLICY: _check_bus_policy,
    TRACING: _check_tracing,
    API_UNCACHED: _check_api_uncached,
}


# --- API ---------------------------------------------------------------------------------------------


def check_template(path: Path | str) -> list[Finding]:
    """All findings for one template file."""
    path = Path(path)
    template, problems = decode(str(path))
    if template is None or not isinstance(template, dict):
        detail = "; ".join(str(p.message) for p in problems or []) or "not a template"
        return [
            Finding(
                check=PARSE,
                template=path.name,
                resource="",
                message=f"the template cannot be read: {detail}",
                fix="Make it valid YAML or JSON with a Resources section (run cfn-lint on it).",
            )
        ]
    findings: list[Finding] = []
    for check in CHECK_FUNCTIONS.values():
        findings.extend(check(path.name, template))
    return findings


def template_policy_check(directory: Path = TEMPLATES_DIR) -> list[Finding]:
    """All findings for every template (``*.yaml``, ``*.yml``, ``*.json``) in ``directory``."""
    directory = Path(directory)
    paths = sorted(p for pattern in ("*.yaml", "*.yml", "*.json") for p in directory.glob(pattern))
    return [finding for path in paths for finding in check_template(path)]
