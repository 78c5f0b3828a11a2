"""Deploying an environment's stacks: change sets in bootstrap order, confirmed, followed.

The engine is ``deployment_advance``: each call moves the first unfinished stack one step
(create its change set, wait for it, wait for a person or auto-confirm, execute, wait for the
stack) and returns. A Celery task calls it again after a short delay while the deployment
runs; ``manage.py provision`` calls it in a loop. Every step is safe to repeat.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.models import Outcome
from audit.services import audit_record
from controlplane.accounts.models import Role
from controlplane.aws import AwsError, cloudformation, dynamodb, route53, s3
from migrations_app import plans, rendering
from migrations_app.errors import CutoverError, NotAllowed
from migrations_app.models import Deployment, Environment, StackDeployment
from migrations_app.stacks import BOOTSTRAP_ORDER, STACKS_BY_KEY

log = logging.getLogger(__name__)


def _check_engineer(actor) -> None:
    if actor is not None and not actor.has_role(Role.ENGINEER):
        raise NotAllowed("Only engineers may deploy stacks.")


def outputs_known(*, environment: Environment) -> dict[str, dict]:
    """The newest outputs of every stack of the environment."""
    known: dict[str, dict] = {}
    done = (
        StackDeployment.objects.filter(deployment__environment=environment, status__in=StackDeployment.DONE)
        .exclude(outputs={})
        .order_by("deployment__created_at", "order")
    )
    for stack in done:
        known[stack.stack_key] = stack.outputs
    return known


def missing_prerequisites(*, environment: Environment, stack_keys: list[str]) -> list[str]:
    """Plain-words reasons why deploying ``stack_keys`` (in bootstrap order) cannot start now."""
    deployed = set(outputs_known(environment=environment))
    reasons = []
    selected = [s.key for s in BOOTSTRAP_ORDER if s.key in stack_keys]
    for position, key in enumerate(selected):
        for need, why in STACKS_BY_KEY[key].needs.items():
            if need not in deployed and need not in selected[:position]:
                spec = STACKS_BY_KEY[key]
                reasons.append(
                    f"{key} ({environment.region_for(spec.region_role)}) needs {need} deployed first: {why}."
                )
    return reasons


def deployment_start(
    *,
    environment: Environment,
    actor,
    stack_keys: list[str] | None = None,
    auto_confirm: bool = False,
    enqueue: bool = True,
) -> Deployment:
    """Start deploying ``stack_keys`` (default: all, in bootstrap order)."""
    _check_engineer(actor)
    from migrations_app.template_policy import template_policy_check

    findings = template_policy_check()
    if findings:
        raise CutoverError(
            "The templates fail the policy checks, so nothing was deployed: "
            + "; ".join(f"{f.template} {f.resource}: {f.message}" for f in findings[:5])
        )
    keys = [s.key for s in BOOTSTRAP_ORDER] if not stack_keys else list(stack_keys)
    unknown = [k for k in keys if k not in STACKS_BY_KEY]
    if unknown:
        raise CutoverError(f"Unknown stack(s): {', '.join(unknown)}.")
    reasons = missing_prerequisites(environment=environment, stack_keys=keys)
    if reasons:
        raise CutoverError(" ".join(reasons))
    with transaction.atomic():
        env = Environment.objects.select_for_update().get(pk=environment.pk)
        if env.deployments.filter(status__in=Deployment.ACTIVE).exists():
            raise CutoverError(f"A deployment of {env.name} is already in progress.")
        deployment = Deployment.objects.create(environment=env, requested_by=actor, auto_confirm=auto_confirm)
        for order, spec in enumerate(s for s in BOOTSTRAP_ORDER if s.key in keys):
            StackDeployment.objects.create(
                deployment=deployment,
                order=order,
                stack_key=spec.key,
                template=spec.template,
                region=env.region_for(spec.region_role),
                stack_name=f"{env.name}-{spec.key}",
            )
        audit_record(
            actor=actor,
            event_type="deployment.start",
            target=deployment,
            environment=env.name,
            after={"stacks": [k for k in (s.key for s in BOOTSTRAP_ORDER) if k in keys], "auto_confirm": auto_confirm},
        )
        if enqueue:
            transaction.on_commit(lambda: _enqueue_advance(deployment.pk))
    return deployment


def stack_deployment_confirm(*, stack: StackDeployment, actor) -> StackDeployment:
    """A person confirms a change set they have seen: execute it.

    The confirmation is claimed by a conditional update (two clicks execute once); AWS is
    called outside any transaction; a refusal by AWS fails the stack with its reason.
    """
    _check_engineer(actor)
    claimed = StackDeployment.objects.filter(pk=stack.pk, status=StackDeployment.Status.AWAITING_CONFIRMATION).update(
        status=StackDeployment.Status.EXECUTING, confirmed_by=actor
    )
    stack = StackDeployment.objects.select_related("deployment__environment").get(pk=stack.pk)
    if not claimed:
        raise CutoverError(f"{stack.stack_name} is {stack.get_status_display().lower()}; there is nothing to confirm.")
    deployment, env = stack.deployment, stack.deployment.environment
    try:
        cloudformation.change_set_execute(target=env.aws_target(stack.region), change_set_id=stack.change_set_id)
    except AwsError as exc:
        with transaction.atomic():
            _stack_fail(deployment, stack, f"executing the change set failed: {exc}")
        raise CutoverError(f"AWS refused to execute the change set of {stack.stack_name}: {exc.message}") from exc
    with transaction.atomic():
        Deployment.objects.filter(pk=deployment.pk).update(status=Deployment.Status.RUNNING)
        audit_record(
            actor=actor,
            event_type="deployment.confirm",
            target=deployment,
            environment=env.name,
            region=stack.region,
            after={"stack": stack.stack_name, "region": stack.region, "changes": len(stack.changes)},
        )
        transaction.on_commit(lambda: _enqueue_advance(deployment.pk))
    return stack


def deployment_cancel(*, deployment: Deployment, actor, reason: str) -> Deployment:
    """Abandon a deployment that waits for a confirmation nobody will give, or whose driver
    died: the stacks not yet executed are not run; a stack executing in AWS carries on there
    (CloudFormation cannot be stopped mid-way) and shows in the next deployment."""
    _check_engineer(actor)
    reason = (reason or "").strip() or "cancelled"
    with transaction.atomic():
        deployment = Deployment.objects.select_for_update().select_related("environment").get(pk=deployment.pk)
        if not deployment.is_active:
            raise CutoverError(f"Deployment {deployment.pk} is {deployment.get_status_display().lower()} already.")
        now = timezone.now()
        deployment.stacks.exclude(status__in=(*StackDeployment.DONE, StackDeployment.Status.FAILED)).update(
            status=StackDeployment.Status.NOT_RUN, status_reason=f"cancelled: {reason}"[:4000], finished_at=now
        )
        deployment.status, deployment.finished_at = Deployment.Status.FAILED, now
        deployment.error = f"cancelled by {actor.username if actor else 'the command line'}: {reason}"[:4000]
        deployment.save()
        audit_record(
            actor=actor,
            event_type="deployment.cancel",
            target=deployment,
            environment=deployment.environment.name,
            after={"reason": reason},
        )
    return deployment


@dataclass(frozen=True)
class AdvanceResult:
    deployment: Deployment
    stack: StackDeployment | None  # the stack that moved, if any


# One advancer at a time per deployment: a lease claimed by conditional update, longer than
# one step's AWS calls. No database lock is held while AWS answers.
ADVANCE_LEASE_SECONDS = 120


def deployment_advance(*, deployment_id: int) -> AdvanceResult:
    """Move the deployment one step. Transient AWS errors propagate (the caller retries)."""
    now = timezone.now()
    claimed = (
        Deployment.objects.filter(pk=deployment_id, status__in=Deployment.ACTIVE)
        .filter(Q(advance_lease_until__isnull=True) | Q(advance_lease_until__lt=now))
        .update(advance_lease_until=now + timedelta(seconds=ADVANCE_LEASE_SECONDS), last_advanced_at=now)
    )
    deployment = Deployment.objects.select_related("environment").get(pk=deployment_id)
    if not claimed:
        return AdvanceResult(deployment, None)
    try:
        stack = deployment.stacks.exclude(status__in=StackDeployment.DONE).order_by("order").first()
        if stack is None:
            with transaction.atomic():
                _deployment_succeed(deployment)
            return AdvanceResult(deployment, None)
        try:
            _stack_step(deployment, stack)
        except (AwsError, rendering.RenderError) as exc:
            if isinstance(exc, AwsError) and not exc.permanent:
                raise
            with transaction.atomic():
                _stack_fail(deployment, stack, str(exc))
        deployment.refresh_from_db()
        return AdvanceResult(deployment, stack)
    finally:
        Deployment.objects.filter(pk=deployment_id).update(advance_lease_until=None)


def _stack_step(deployment: Deployment, stack: StackDeployment) -> None:
    env = deployment.environment
    target = env.aws_target(stack.region)
    status = StackDeployment.Status
    if stack.status == status.PENDING:
        _change_set_create(deployment, stack)
    elif stack.status == status.CREATING_CHANGE_SET:
        change_set = cloudformation.change_set_describe(target=target, change_set_id=stack.change_set_id)
        if change_set.has_no_changes:
            existing = cloudformation.stack_describe(target=target, name=stack.stack_name)
            stack.status, stack.outputs = status.NO_CHANGES, existing.outputs if existing else {}
            stack.status_reason, stack.finished_at = "No changes: the stack already matches.", timezone.now()
            stack.save()
            cloudformation.change_set_delete(target=target, change_set_id=stack.change_set_id)
        elif change_set.status == "FAILED":
            _stack_fail(deployment, stack, f"change set failed: {change_set.status_reason}")
        elif change_set.status == "CREATE_COMPLETE":
            stack.changes = [vars(c) for c in change_set.changes]
            if deployment.auto_confirm:
                cloudformation.change_set_execute(target=target, change_set_id=stack.change_set_id)
                stack.status = status.EXECUTING
            else:
                stack.status = status.AWAITING_CONFIRMATION
                deployment.status = Deployment.Status.AWAITING_CONFIRMATION
                deployment.save(update_fields=["status"])
            stack.save()
    elif stack.status == status.EXECUTING:
        current = cloudformation.stack_describe(target=target, name=stack.stack_name)
        if current is None:
            _stack_fail(deployment, stack, "the stack disappeared while it was being deployed")
        elif current.status in ("CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"):
            stack.status, stack.outputs, stack.finished_at = status.COMPLETE, current.outputs, timezone.now()
            stack.status_reason = current.status
            stack.save()
        elif current.status.endswith("FAILED") or current.status.endswith("ROLLBACK_COMPLETE"):
            reasons = cloudformation.stack_failure_reasons(target=target, name=stack.stack_name)
            detail = "; ".join(reasons) or current.status_reason or current.status
            _stack_fail(deployment, stack, f"{current.status}: {detail}")


def _change_set_create(deployment: Deployment, stack: StackDeployment) -> None:
    env = deployment.environment
    spec = STACKS_BY_KEY[stack.stack_key]
    target = env.aws_target(stack.region)
    outputs = outputs_known(environment=env)
    artifacts = None
    stream_arn = ""
    if spec.template == "regional.yaml":
        table = outputs.get("data", {}).get("TransactionsTableName")
        if table:
            stream_arn = dynamodb.table_stream_arn(target=target, table=table) or ""
        bucket = rendering._out(outputs, f"storage-{spec.region_role}", "ArtifactsBucketName")
        artifacts = {fn: rendering.lambda_artifact(fn) for fn in rendering.LAMBDA_FUNCTIONS}
        for artifact in artifacts.values():
            if not s3.object_exists(target=target, bucket=bucket, key=artifact.key):
                s3.object_put(target=target, bucket=bucket, key=artifact.key, body=artifact.body)
    zone_id, weights = "", None
    if spec.template in ("routing.yaml", "orchestration.yaml"):
        zone_id = route53.hosted_zone_find(target=env.aws_target(), name=env.hosted_zone_name) or ""
        if zone_id:
            records = route53.weighted_records_list(
                target=env.aws_target(), hosted_zone_id=zone_id, name=env.record_name
            )
            weights = {r.set_identifier: r.weight for r in records} or None
    parameters = rendering.stack_parameters(
        spec=spec,
        environment=env,
        outputs=outputs,
        artifacts=artifacts,
        current_weights=weights,
        hosted_zone_id=zone_id,
        transactions_stream_arn=stream_arn,
    )
    plan_row = env.plans.order_by("-version").first()
    if plan_row is None:
        raise rendering.RenderError(f"environment {env.name} has no cutover plan")
    body = rendering.template_body(
        spec=spec, environment=env, outputs=outputs, plan=plans.plan_from_row(plan_row), plan_version=plan_row.version
    )
    existing = cloudformation.stack_describe(target=target, name=stack.stack_name)
    if existing is not None and existing.status == "ROLLBACK_COMPLETE":
        raise rendering.RenderError(
            f"stack {stack.stack_name} is in ROLLBACK_COMPLETE after a failed first deploy; delete it in "
            f"{stack.region}, then deploy again"
        )
    change_set_type = "UPDATE" if existing is not None and existing.exists else "CREATE"
    stack.change_set_id = cloudformation.change_set_create(
        target=target,
        stack_name=stack.stack_name,
        change_set_name=f"cp-{deployment.pk}-{stack.order}-{timezone.now():%Y%m%d%H%M%S}",
        template_body=body,
        parameters=parameters,
        change_set_type=change_set_type,
        description=f"cutover control plane deployment {deployment.pk}",
    )
    stack.change_set_type, stack.parameters = change_set_type, parameters
    if spec.template == "orchestration.yaml":
        stack.parameters = {**parameters, "_plan_version": plan_row.version}
    stack.template_sha256 = hashlib.sha256(body.encode()).hexdigest()
    stack.status, stack.started_at = StackDeployment.Status.CREATING_CHANGE_SET, timezone.now()
    stack.save()


def _stack_fail(deployment: Deployment, stack: StackDeployment, reason: str) -> None:
    now = timezone.now()
    stack.status, stack.status_reason, stack.finished_at = StackDeployment.Status.FAILED, reason[:4000], now
    stack.save()
    deployment.stacks.filter(order__gt=stack.order).update(status=StackDeployment.Status.NOT_RUN)
    deployment.status, deployment.finished_at = Deployment.Status.FAILED, now
    deployment.error = f"{stack.stack_name} ({stack.region}): {reason}"[:4000]
    deployment.save()
    audit_record(
        actor=None,
        event_type="deployment.failed",
        target=deployment,
        environment=deployment.environment.name,
        region=stack.region,
        outcome=Outcome.FAILURE,
        after={"stack": stack.stack_name, "region": stack.region, "reason": reason[:1000]},
    )


def _deployment_succeed(deployment: Deployment) -> None:
    env = Environment.objects.select_for_update().get(pk=deployment.environment_id)
    outputs = outputs_known(environment=env)
    before = {"state_machine_arn": env.state_machine_arn, "gate_queue_url": env.gate_queue_url}
    orchestration = outputs.get("orchestration", {})
    if orchestration:
        env.state_machine_arn = orchestration.get("StateMachineArn", env.state_machine_arn)
        env.gate_queue_url = orchestration.get("GateQueueUrl", env.gate_queue_url)
        env.approval_role_arn = orchestration.get("ApprovalRoleArn", env.approval_role_arn)
    env.source_endpoint = outputs.get("regional-source", {}).get("ApiDomain", env.source_endpoint)
    env.target_endpoint = outputs.get("regional-target", {}).get("ApiDomain", env.target_endpoint)
    zone = (deployment.stacks.filter(stack_key="routing").values_list("parameters", flat=True).first() or {}).get(
        "HostedZoneId"
    )
    env.hosted_zone_id = zone or env.hosted_zone_id
    orchestration_stack = deployment.stacks.filter(stack_key="orchestration").first()
    if orchestration_stack is not None:
        version = orchestration_stack.parameters.get("_plan_version")
        env.deployed_plan = env.plans.filter(version=version).first() if version else env.deployed_plan
    env.provisioned_at = timezone.now()
    env.save()
    deployment.status, deployment.finished_at = Deployment.Status.SUCCEEDED, timezone.now()
    deployment.save()
    transaction.on_commit(lambda: _enqueue("s3_survey_task", env.pk))
    audit_record(
        actor=None,
        event_type="deployment.succeeded",
        target=deployment,
        environment=env.name,
        before=before,
        after={
            "state_machine_arn": env.state_machine_arn,
            "gate_queue_url": env.gate_queue_url,
            "stacks": {s.stack_name: s.status for s in deployment.stacks.all()},
        },
    )


def _enqueue(task_name: str, *args) -> None:
    """Queue after commit; a broker outage must not turn committed work into an error page
    (the beat safety net restarts stalled deployments)."""
    from migrations_app import tasks

    try:
        getattr(tasks, task_name).delay(*args)
    except Exception:  # noqa: BLE001 - kombu raises several types for an unreachable broker
        log.exception("could not queue %s%r; the periodic sweep will pick it up", task_name, args)


def _enqueue_advance(deployment_id: int) -> None:
    _enqueue("deployment_advance_task", deployment_id)
