"""Turning infra_templates/ into what CloudFormation receives: template bodies, parameters,
Lambda artifacts. Pure functions of the environment and earlier stacks' outputs (no AWS calls).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from migrations_app import statemachine
from migrations_app.stacks import StackSpec

TEMPLATES_DIR = Path(settings.BASE_DIR) / "infra_templates"
LAMBDA_DIR = TEMPLATES_DIR / "lambda"
LAMBDA_FUNCTIONS = ("transaction", "webhook", "aggregates")
_ZIP_EPOCH = (2020, 1, 1, 0, 0, 0)  # fixed timestamps: the same sources give the same zip and key


class RenderError(Exception):
    """A template or parameter cannot be produced; the message says which and why."""


@dataclass(frozen=True)
class LambdaArtifact:
    function: str
    key: str
    body: bytes


def template_load(name: str) -> dict:
    from cfnlint.decode import decode

    path = TEMPLATES_DIR / name
    if not path.exists():
        raise RenderError(f"template {name} is missing from infra_templates/")
    template, matches = decode(str(path))
    if template is None or matches:
        raise RenderError(f"template {name} does not parse: {'; '.join(str(m) for m in matches) or 'empty'}")
    return json.loads(json.dumps(template))  # plain dicts and strings, no cfn-lint node types


def lambda_artifact(function: str) -> LambdaArtifact:
    """A deterministic zip of ``lambda/<function>/`` plus ``lambda/common/`` at the zip root."""
    roots = [LAMBDA_DIR / function, LAMBDA_DIR / "common"]
    if not roots[0].is_dir():
        raise RenderError(f"Lambda source infra_templates/lambda/{function}/ is missing")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for root in roots:
            if not root.is_dir():
                continue
            base = root if root.name == function else root.parent
            for path in sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts):
                info = zipfile.ZipInfo(str(path.relative_to(base)), date_time=_ZIP_EPOCH)
                info.external_attr = 0o644 << 16
                zf.writestr(info, path.read_bytes(), compress_type=zipfile.ZIP_DEFLATED)
    body = buffer.getvalue()
    digest = hashlib.sha256(body).hexdigest()[:20]
    return LambdaArtifact(function=function, key=f"lambda/{function}-{digest}.zip", body=body)


def _out(outputs: dict[str, dict], stack_key: str, name: str) -> str:
    try:
        return str(outputs[stack_key][name])
    except KeyError:
        raise RenderError(f"output {name} of stack {stack_key} is not known yet: deploy {stack_key} first") from None


def stack_parameters(
    *,
    spec: StackSpec,
    environment,
    outputs: dict[str, dict],
    artifacts: dict[str, LambdaArtifact] | None = None,
    current_weights: dict[str, int] | None = None,
    hosted_zone_id: str = "",
    transactions_stream_arn: str = "",
) -> dict[str, str]:
    region = environment.region_for(spec.region_role)
    peer_role = "target" if spec.region_role == "source" else "source"
    base = {"EnvironmentName": environment.name}
    stem = spec.template.removesuffix(".yaml")
    if stem == "events":
        return base | {"PeerRegion": environment.peer_of(region), "PeerAccountId": ""}
    if stem == "storage":
        replica = _out(outputs, "storage-target", "DocumentBucketName") if spec.region_role == "source" else ""
        return base | {
            "RegionRole": spec.region_role,
            "PeerRegion": environment.peer_of(region),
            "ReplicaBucketName": replica,
        }
    if stem == "data":
        return base | {"SourceRegion": environment.source_region, "TargetRegion": environment.target_region}
    if stem == "regional":
        if not artifacts:
            raise RenderError("the regional stack needs its Lambda artifacts uploaded first")
        return base | {
            "PeerRegion": environment.peer_of(region),
            "PeerAccountId": "",
            "TransactionsTableName": _out(outputs, "data", "TransactionsTableName"),
            "EventBusName": _out(outputs, f"events-{spec.region_role}", "EventBusName"),
            "PeerEventBusArn": _out(outputs, f"events-{peer_role}", "EventBusArn"),
            "ArtifactsBucketName": _out(outputs, f"storage-{spec.region_role}", "ArtifactsBucketName"),
            "TransactionCodeKey": artifacts["transaction"].key,
            "WebhookCodeKey": artifacts["webhook"].key,
            "AggregatesCodeKey": artifacts["aggregates"].key,
            "AggregatesTableName": _out(outputs, f"storage-{spec.region_role}", "AggregatesTableName"),
            # This region's replica stream (empty until the table exists: no mapping then).
            "TransactionsStreamArn": transactions_stream_arn,
            # Stamped on every item by the Lambdas; the reconciliation reads with the same values.
            "WindowSeconds": str(settings.RECONCILIATION_WINDOW_SECONDS),
            "Shards": str(settings.RECONCILIATION_BUCKETS),
        }
    if stem == "routing":
        if not hosted_zone_id:
            raise RenderError(f"hosted zone {environment.hosted_zone_name} was not found in the account")
        # A redeploy keeps the weights the state machine set: it is their only writer.
        weights = current_weights or {environment.source_region: 100, environment.target_region: 0}
        return base | {
            "HostedZoneId": hosted_zone_id,
            "RecordName": environment.record_name,
            "SourceRegion": environment.source_region,
            "TargetRegion": environment.target_region,
            "SourceApiDomain": _out(outputs, "regional-source", "ApiDomain"),
            "TargetApiDomain": _out(outputs, "regional-target", "ApiDomain"),
            "SourceWeight": str(weights.get(environment.source_region, 100)),
            "TargetWeight": str(weights.get(environment.target_region, 0)),
        }
    if stem == "orchestration":
        return base | {
            "SourceRegion": environment.source_region,
            "TargetRegion": environment.target_region,
            "HostedZoneId": hosted_zone_id,
            "RecordName": environment.record_name,
            "ControlPlanePrincipalArn": environment.control_plane_principal_arn,
        }
    raise RenderError(f"no parameters known for template {spec.template}")


def template_body(
    *, spec: StackSpec, environment, outputs: dict[str, dict], plan: statemachine.Plan, plan_version: int = 0
) -> str:
    """The template as CloudFormation receives it (JSON). The orchestration template gets the
    state machine generated from the plan; ${...} in it are resolved by CloudFormation (Fn::Sub)."""
    template = template_load(spec.template)
    if spec.template == "orchestration.yaml":
        try:
            definition = statemachine.definition_for(
                environment=environment,
                plan=plan,
                gate_timeout_seconds=settings.GATE_TIMEOUT_SECONDS,
                gate_queue_url="${GateQueue}",
                hosted_zone_id="${HostedZoneId}",
                source_value=_out(outputs, "regional-source", "ApiDomain"),
                target_value=_out(outputs, "regional-target", "ApiDomain"),
                health_check_ids={
                    environment.source_region: _out(outputs, "routing", "SourceHealthCheckId"),
                    environment.target_region: _out(outputs, "routing", "TargetHealthCheckId"),
                },
            )
        except statemachine.PlanInvalid as exc:
            raise RenderError(f"the cutover plan is not valid: {exc}") from None
        try:
            props = template["Resources"]["StateMachine"]["Properties"]
        except KeyError:
            raise RenderError("orchestration.yaml has no StateMachine resource to put the definition in") from None
        props.pop("Definition", None)
        props["DefinitionString"] = {"Fn::Sub": json.dumps(definition, indent=1)}
        # A plan change changes the template, so the change set shows it.
        template.setdefault("Metadata", {})["CutoverPlanVersion"] = plan_version
    return json.dumps(template, indent=1, sort_keys=False)
