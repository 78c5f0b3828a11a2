"""Every write of the cutover: environments, executions, gates, approvals, deliveries.

Each service is keyword-only, takes ``actor`` (a user, or None for a system job), runs in one
transaction, writes its AuditEvent in it, and queues AWS calls with ``transaction.on_commit``.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from audit.models import Outcome
from audit.services import audit_record
from controlplane.accounts.models import Role
from controlplane.aws import AwsError, route53, s3, sqs, stepfunctions, sts
from migrations_app import plans, statemachine
from migrations_app.errors import CutoverError, GateMessageInvalid, NotAllowed
from migrations_app.models import Approval, CutoverPlan, Environment, Execution, Gate, GateDelivery

log = logging.getLogger(__name__)


# --- environments -----------------------------------------------------------------------


def environment_create(*, actor, name: str, kind: str, create_hosted_zone: bool = False, **fields) -> Environment:
    """A new environment, with the default cutover plan as its version 1.

    ``create_hosted_zone`` makes the public hosted zone if the account lacks it (a new
    sandbox; on AWS the zone usually exists, delegated by the domain's registrar)."""
    with transaction.atomic():
        env = Environment(name=name, kind=kind, **fields)
        try:
            env.full_clean()
        except ValidationError as exc:
            raise CutoverError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from None
        env.save()
        plan = plans.plan_default()
        CutoverPlan.objects.create(
            environment=env,
            version=1,
            steps=plans.plan_steps_as_data(plan),
            window_seconds=plan.window_seconds,
            close_required_approvals=plan.close_required_approvals,
            created_by=actor,
        )
        audit_record(
            actor=actor,
            event_type="environment.create",
            target=env,
            environment=env.name,
            after={
                "kind": kind,
                "source_region": env.source_region,
                "target_region": env.target_region,
                "plan": plans.plan_steps_as_data(plan),
                "create_hosted_zone": create_hosted_zone,
            },
        )
        if create_hosted_zone:
            try:
                route53.hosted_zone_ensure(target=env.aws_target(), name=env.hosted_zone_name)
            except AwsError as exc:
                raise CutoverError(
                    f"The hosted zone {env.hosted_zone_name} could not be created: {exc.message}"
                ) from exc
    return env


def plan_update(*, environment: Environment, actor, plan: statemachine.Plan) -> CutoverPlan:
    """Record a new version of the environment's plan, then redeploy the state machine (the
    orchestration stack) so it takes effect. Refused while a cutover is running."""
    if actor is not None and not actor.has_role(Role.ENGINEER):
        raise NotAllowed("Only engineers may change the cutover plan.")
    try:
        statemachine.plan_validate(plan)
    except statemachine.PlanInvalid as exc:
        raise CutoverError(f"The plan is not valid: {exc}.") from None
    with transaction.atomic():
        env = Environment.objects.select_for_update().get(pk=environment.pk)
        if env.executions.filter(status__in=Execution.ACTIVE).exists():
            raise CutoverError("A cutover is running; its state machine cannot change under it. Stop it first.")
        current = env.plans.order_by("-version").first()
        row = CutoverPlan.objects.create(
            environment=env,
            version=(current.version + 1) if current else 1,
            steps=plans.plan_steps_as_data(plan),
            window_seconds=plan.window_seconds,
            close_required_approvals=plan.close_required_approvals,
            created_by=actor,
        )
        audit_record(
            actor=actor,
            event_type="plan.update",
            target=env,
            environment=env.name,
            before={"version": current.version, "steps": current.steps, "window_seconds": current.window_seconds}
            if current
            else {},
            after={"version": row.version, "steps": row.steps, "window_seconds": row.window_seconds},
        )
    if env.state_machine_arn:
        from migrations_app.deployments import deployment_start

        deployment_start(environment=env, actor=actor, stack_keys=["orchestration"])
    return row


# --- executions -------------------------------------------------------------------------


def execution_start(*, environment: Environment, actor) -> Execution:
    """Record the start of a cutover, then start the Step Functions execution after commit.

    The row exists before the execution does, so a gate message that arrives within
    milliseconds of StartExecution always finds its execution.
    """
    if not actor.has_role(Role.ENGINEER):
        raise NotAllowed("Only engineers may start a cutover.")
    if not environment.is_provisioned:
        raise CutoverError(f"Environment {environment.name} is not provisioned yet.")
    with transaction.atomic():
        env = Environment.objects.select_for_update().get(pk=environment.pk)
        if env.executions.filter(status__in=Execution.ACTIVE).exists():
            raise CutoverError(f"A cutover of {env.name} is already running; stop it or let it finish first.")
        name = f"{env.name}-{timezone.now():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
        deployed = env.deployed_plan
        execution = Execution.objects.create(
            environment=env,
            name=name,
            started_by=actor,
            plan={"version": deployed.version, "steps": deployed.steps, "window_seconds": deployed.window_seconds}
            if deployed
            else {},
        )
        audit_record(
            actor=actor,
            event_type="execution.start",
            target=execution,
            environment=env.name,
            after={"name": name, "state_machine_arn": env.state_machine_arn, "plan": execution.plan},
        )
        transaction.on_commit(lambda: _enqueue("execution_start_deliver_task", execution.pk))
    return execution


def execution_start_deliver(*, execution: Execution) -> Execution:
    """Call StartExecution for a STARTING row. Safe to repeat: the execution name is unique in
    Step Functions, and an existing one is looked up instead of started twice."""
    execution = Execution.objects.select_related("environment").get(pk=execution.pk)
    if execution.status != Execution.Status.STARTING:
        return execution
    env = execution.environment
    target = env.aws_target()
    try:
        ref = stepfunctions.execution_start(
            target=target,
            state_machine_arn=env.state_machine_arn,
            name=execution.name,
            input={"environment": env.name, "executionName": execution.name},
        )
        arn, started_at = ref.arn, ref.started_at
    except AwsError as exc:
        if exc.code == "ExecutionAlreadyExists":
            arn = env.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{execution.name}"
            started_at = stepfunctions.execution_describe(target=target, execution_arn=arn).started_at
        elif exc.permanent:
            with transaction.atomic():
                updated = Execution.objects.filter(pk=execution.pk, status=Execution.Status.STARTING).update(
                    status=Execution.Status.START_FAILED, error=exc.code[:256], cause=str(exc)
                )
                if updated:
                    audit_record(
                        actor=None,
                        event_type="execution.start_failed",
                        target=execution,
                        environment=env.name,
                        outcome=Outcome.FAILURE,
                        after={"error": str(exc)},
                    )
            execution.refresh_from_db()
            return execution
        else:
            raise
    with transaction.atomic():
        updated = Execution.objects.filter(pk=execution.pk, status=Execution.Status.STARTING).update(
            arn=arn, status=Execution.Status.RUNNING, started_at=started_at
        )
        if updated:
            audit_record(
                actor=None,
                event_type="execution.started",
                target=execution,
                environment=env.name,
                after={"arn": arn, "started_at": started_at.isoformat()},
            )
    execution.refresh_from_db()
    return execution


def execution_sync(*, execution: Execution) -> Execution:
    """Bring the row's status in line with Step Functions; audit the end of the execution."""
    execution = Execution.objects.select_related("environment").get(pk=execution.pk)
    if not execution.arn or not execution.is_active:
        return execution
    status = stepfunctions.execution_describe(target=execution.environment.aws_target(), execution_arn=execution.arn)
    with transaction.atomic():
        row = Execution.objects.select_for_update().get(pk=execution.pk)
        row.last_synced_at = timezone.now()
        if status.status != row.status and status.status in Execution.Status.values:
            before = row.status
            row.status = status.status
            row.stopped_at = status.stopped_at
            row.error, row.cause = status.error[:256], status.cause
            if status.status != Execution.Status.RUNNING:
                # Nothing can resume an ended execution: its waiting gates offer no buttons.
                Gate.objects.filter(execution=row, status=Gate.Status.WAITING).update(
                    status=Gate.Status.EXPIRED, expired_reason=f"execution {status.status.lower()}"
                )
            audit_record(
                actor=None,
                event_type="execution.finished" if status.status != Execution.Status.RUNNING else "execution.status",
                target=row,
                environment=row.environment.name,
                before={"status": before},
                after={"status": row.status, "error": row.error},
                outcome=Outcome.SUCCESS if status.status in ("RUNNING", "SUCCEEDED") else Outcome.FAILURE,
            )
        row.save()
    return row


def execution_stop(*, execution: Execution, actor, reason: str) -> Execution:
    """An engineer stops a running cutover with a reason. Step Functions aborts the execution;
    its open gate is failed too (on AWS that token is already dead; the sandbox needs it to
    let go), and the open gates offer no buttons any more. The weights stay where they are:
    a stop is not a rollback."""
    if not actor.has_role(Role.ENGINEER):
        raise NotAllowed("Only engineers may stop a cutover.")
    reason = (reason or "").strip()
    if not reason:
        raise CutoverError("Stopping a cutover needs a reason.")
    execution = Execution.objects.select_related("environment").get(pk=execution.pk)
    if not execution.is_active:
        raise CutoverError(f"This cutover is {execution.get_status_display().lower()}; there is nothing to stop.")
    target = execution.environment.aws_target()
    aws_state = "stopped"
    if execution.arn:
        try:
            stepfunctions.execution_stop(
                target=target,
                execution_arn=execution.arn,
                error="StoppedByEngineer",
                cause=f"{actor.username}: {reason}",
            )
        except AwsError as exc:
            if exc.code != "ExecutionDoesNotExist":
                raise  # nothing changed here; the page and the API say AWS failed, try again
            # Gone from AWS (a sandbox restart, or deleted by hand): nothing runs any more, so the
            # record is closed here and the audit entry says AWS no longer knew it.
            aws_state = "not found in Step Functions"
    open_gates = list(Gate.objects.filter(execution=execution, status=Gate.Status.WAITING))
    for gate in open_gates:
        try:
            stepfunctions.task_failure(target=target, task_token=gate.task_token, error="StoppedByEngineer", cause="")
        except AwsError as exc:
            log.info("stop %s: gate %s token already gone (%s)", execution.name, gate.pk, exc.code)
    with transaction.atomic():
        now = timezone.now()
        Execution.objects.filter(pk=execution.pk).update(
            stop_requested_by=actor, stop_reason=reason, status=Execution.Status.ABORTED, stopped_at=now
        )
        Gate.objects.filter(pk__in=[g.pk for g in open_gates], status=Gate.Status.WAITING).update(
            status=Gate.Status.EXPIRED, expired_reason=f"cutover stopped by {actor.username}"
        )
        audit_record(
            actor=actor,
            event_type="execution.stop",
            target=execution,
            environment=execution.environment.name,
            before={"status": execution.status},
            after={
                "status": Execution.Status.ABORTED,
                "reason": reason,
                "open_gates": len(open_gates),
                "aws": aws_state,
            },
        )
    execution.refresh_from_db()
    return execution


# --- gates: intake ----------------------------------------------------------------------

_REQUIRED_KEYS = ("taskToken", "executionArn", "executionName", "stateName", "enteredTime", "step", "targetWeights")


@dataclass(frozen=True)
class GateIntakeResult:
    gate: Gate | None
    created: bool


def gate_intake_message(*, environment: Environment, body: str) -> GateIntakeResult:
    """Turn one gate queue message into a Gate, once: a repeated message finds the existing gate.

    Raises GateMessageInvalid for a message that is not a gate of a known execution.
    """
    try:
        msg = json.loads(body)
    except (TypeError, ValueError):
        raise GateMessageInvalid("gate message is not JSON") from None
    if not isinstance(msg, dict) or any(k not in msg for k in _REQUIRED_KEYS):
        raise GateMessageInvalid("gate message lacks required fields")
    token = msg["taskToken"]
    if not isinstance(token, str) or not token or len(token) > 8192:
        raise GateMessageInvalid("gate message has no usable task token")
    try:
        step = int(msg["step"])
        weights = {str(k): int(v) for k, v in dict(msg["targetWeights"]).items()}
        required = max(1, int(msg.get("requiredApprovals", 1)))
    except (TypeError, ValueError):
        raise GateMessageInvalid("gate message has malformed step or weights") from None
    if not 0 <= step <= 10_000 or any(not 0 <= w <= 255 for w in weights.values()) or required > 10:
        raise GateMessageInvalid("gate message has a step, weight or approval count out of range")
    if not str(msg["stateName"]).strip() or not str(msg["enteredTime"]).strip():
        raise GateMessageInvalid("gate message has an empty state name or entered time")
    execution = Execution.objects.filter(environment=environment, name=str(msg["executionName"])).first()
    if execution is None:
        raise GateMessageInvalid(f"gate message names an unknown execution {str(msg['executionName'])[:80]!r}")
    state_name, entered = str(msg["stateName"])[:80], str(msg["enteredTime"])[:64]
    existing = Gate.objects.filter(execution=execution, state_name=state_name, entered_at=entered).first()
    if existing:
        return GateIntakeResult(gate=existing, created=False)
    try:
        with transaction.atomic():
            gate = Gate.objects.create(
                execution=execution,
                state_name=state_name,
                entered_at=entered,
                kind=Gate.KIND_CLOSE if msg.get("kind") == Gate.KIND_CLOSE else Gate.KIND_STEP,
                step=step,
                target_weights=weights,
                required_approvals=required,
                ssm_parameter=statemachine.ssm_parameter_name(
                    environment=environment, execution_name=execution.name, state_name=state_name
                ),
                task_token=token,
            )
            if not execution.arn and msg.get("executionArn"):
                Execution.objects.filter(pk=execution.pk, arn="").update(arn=str(msg["executionArn"]))
            audit_record(
                actor=None,
                event_type="gate.arrived",
                target=gate,
                environment=environment.name,
                after={"execution": execution.name, "state": state_name, "step": step, "target_weights": weights},
            )
            transaction.on_commit(lambda: _enqueue("gate_evidence_collect_task", gate.pk))
    except IntegrityError:
        # Another consumer created it between our lookup and insert.
        return GateIntakeResult(
            gate=Gate.objects.get(execution=execution, state_name=state_name, entered_at=entered), created=False
        )
    return GateIntakeResult(gate=gate, created=True)


@dataclass
class GatePollCounts:
    received: int = 0
    created: int = 0
    duplicates: int = 0
    invalid: int = 0


def gate_intake_poll(*, environment: Environment, wait_seconds: int = 0, max_batches: int = 10) -> GatePollCounts:
    """Drain the gate queue: create gates, then delete each message after its gate committed."""
    counts = GatePollCounts()
    target = environment.aws_target()
    for _ in range(max_batches):
        messages = sqs.messages_receive(target=target, queue_url=environment.gate_queue_url, wait_seconds=wait_seconds)
        if not messages:
            break
        for message in messages:
            counts.received += 1
            try:
                result = gate_intake_message(environment=environment, body=message.body)
            except GateMessageInvalid as exc:
                counts.invalid += 1
                gate_message_set_aside(environment=environment, message=message, reason=str(exc))
                continue
            if result.created:
                counts.created += 1
            else:
                counts.duplicates += 1
            sqs.message_delete(
                target=target, queue_url=environment.gate_queue_url, receipt_handle=message.receipt_handle
            )
        wait_seconds = 0
    return counts


def gate_message_set_aside(*, environment: Environment, message: sqs.QueueMessage, reason: str) -> None:
    """Keep a gate queue message that is not a gate of a known execution out of the way: copy
    it to the gate dead-letter queue (with the reason), delete it from the gate queue, record
    it and alert (ADR 0034). The body is not copied into the record or the alert: it may hold
    a task token. Without a dead-letter queue in the stack outputs the message stays on the
    queue, and the queue's own redrive policy moves it after five receives."""
    from migrations_app.deployments import outputs_known
    from migrations_app.watchdog import alert_raise

    target = environment.aws_target()
    dlq_url = outputs_known(environment=environment).get("orchestration", {}).get("GateDlqUrl", "")
    moved_to = ""
    if dlq_url:
        try:
            sqs.message_send(
                target=target,
                queue_url=dlq_url,
                body=message.body,
                attributes={"RejectedReason": reason[:256], "OriginalMessageId": message.message_id},
            )
            sqs.message_delete(
                target=target, queue_url=environment.gate_queue_url, receipt_handle=message.receipt_handle
            )
            moved_to = dlq_url
        except AwsError as exc:
            log.warning(
                "gate queue %s: could not dead-letter message %s: %s", environment.name, message.message_id, exc
            )
    log.warning(
        "gate queue %s: message %s set aside (%s): %s",
        environment.name,
        message.message_id,
        "moved to the dead-letter queue" if moved_to else "left for the redrive policy",
        reason,
    )
    with transaction.atomic():
        event = audit_record(
            actor=None,
            event_type="gate.message_rejected",
            target=environment,
            environment=environment.name,
            outcome=Outcome.FAILURE,
            after={
                "message_id": message.message_id,
                "reason": reason,
                "receive_count": message.receive_count,
                "dead_letter_queue": moved_to,
                "body_bytes": len(message.body.encode("utf-8", "replace")),
            },
        )
    where = "moved to the gate dead-letter queue" if moved_to else "left on the queue for its redrive policy"
    alert_raise(
        environment=environment,
        kind="gate_message_invalid",
        level="warning",
        subject=event,
        message=(
            f"A message on the gate queue of {environment.name} is not a gate of a known cutover ({reason}); "
            f"it was {where} (SQS message {message.message_id}). No gate was created from it."
        ),
        role=Role.ENGINEER,
    )


def gate_evidence_request(*, gate: Gate) -> None:
    """Queue a fresh collection of the gate's evidence (a worker calls AWS, not the page)."""
    _enqueue("gate_evidence_collect_task", gate.pk)


# --- gates: decisions -------------------------------------------------------------------


class ReauthenticationRequired(CutoverError):
    """The approver's IdP sign-in is older than the approval window: sign in again first."""


def _check_may_decide(*, gate: Gate, actor) -> None:
    if not actor.has_role(Role.APPROVER):
        raise NotAllowed("Only compliance approvers may decide a gate.")
    if gate.execution.started_by_id == actor.pk:
        raise NotAllowed("You started this cutover, so someone else must approve it (four-eyes rule).")
    if not gate.is_open:
        raise CutoverError(f"This gate is {gate.get_status_display().lower()}; there is nothing to decide.")
    if gate.approvals.filter(approver=actor).exists():
        raise CutoverError("You have already decided this gate; a second approver must be someone else.")
    fresh = timezone.now() - timedelta(seconds=settings.APPROVAL_FRESH_AUTH_SECONDS)
    if actor.idp_authenticated_at is None or actor.idp_authenticated_at < fresh:
        minutes = settings.APPROVAL_FRESH_AUTH_SECONDS // 60
        raise ReauthenticationRequired(
            f"Deciding a gate needs a sign-in at the identity provider in the last {minutes} minutes; sign in again."
        )


def _evidence_snapshot(gate: Gate) -> tuple[list[dict], list[str]]:
    """The gate's checks as the approver sees them, and the labels of failed hard checks."""
    rows = list(gate.checks.order_by("key"))
    snapshot = [
        {
            "key": c.key,
            "label": c.label,
            "hard": c.hard,
            "verdict": c.verdict,
            "value": c.value,
            "observedAt": c.observed_at.isoformat() if c.observed_at else None,
            "collectedAt": c.collected_at.isoformat(),
        }
        for c in rows
    ]
    return snapshot, [c.label for c in rows if c.blocks]


def gate_approve(*, gate: Gate, actor, comment: str = "", override_reason: str = "") -> Approval:
    """Record an approval. When the gate has all the approvals it needs, it closes and the
    decision is queued for delivery to Step Functions (outbox), in the same transaction.

    Evidence must have been collected. A failed hard check blocks approval unless the approver
    writes an override reason; an overridden gate needs at least two distinct approvers, each
    overriding. Open reconciliation findings can never be overridden on the close-window gate.
    """
    override_reason = (override_reason or "").strip()
    with transaction.atomic():
        gate = Gate.objects.select_for_update().select_related("execution__environment").get(pk=gate.pk)
        _check_may_decide(gate=gate, actor=actor)
        evidence, failing = _evidence_snapshot(gate)
        if not evidence:
            raise CutoverError("The evidence for this gate has not been collected yet; wait a few seconds and reload.")
        if gate.kind == Gate.KIND_CLOSE and gate.checks.filter(key="open_findings").exclude(verdict="pass").exists():
            raise CutoverError(
                "The post-cutover window cannot close while reconciliation findings are open: resolve them first."
            )
        if failing and not override_reason:
            raise CutoverError(
                f"Failed checks block this gate: {', '.join(failing)}. To approve anyway, write an override reason; "
                "an override needs a second approver."
            )
        approval = Approval.objects.create(
            gate=gate,
            approver=actor,
            decision=Approval.Decision.APPROVE,
            comment=comment.strip(),
            identity=actor.idp_identity(),
            override=bool(failing),
            override_reason=override_reason if failing else "",
            evidence=evidence,
        )
        approvals = list(gate.approvals.filter(decision=Approval.Decision.APPROVE).order_by("created_at"))
        overridden = any(a.override for a in approvals)
        required = max(gate.required_approvals, 2) if overridden else gate.required_approvals
        closing = len(approvals) >= required
        if closing:
            now = timezone.now()
            claimed = Gate.objects.filter(pk=gate.pk, status=Gate.Status.WAITING).update(
                status=Gate.Status.APPROVED, decided_at=now
            )
            if claimed != 1:  # pragma: no cover - the row lock makes this unreachable; kept as a guard
                raise CutoverError("This gate was decided by someone else a moment ago.")
            delivery = GateDelivery.objects.create(
                gate=gate,
                kind=GateDelivery.Kind.SUCCESS,
                payload={
                    "decision": "approved",
                    "gateId": gate.pk,
                    "kind": gate.kind,
                    "step": gate.step,
                    "targetWeights": gate.target_weights,
                    "decidedAt": now.isoformat(),
                    "override": overridden,
                    "approvers": [a.identity for a in approvals],
                },
            )
        audit_record(
            actor=actor,
            event_type="gate.approve",
            target=gate,
            environment=gate.execution.environment.name,
            before={"status": Gate.Status.WAITING, "approvals": len(approvals) - 1},
            after={
                "status": Gate.Status.APPROVED if closing else Gate.Status.WAITING,
                "approvals": len(approvals),
                "required": required,
                "comment": approval.comment,
                "override": approval.override,
                "override_reason": approval.override_reason,
                "failed_checks": failing,
                "identity": approval.identity,
            },
        )
        if closing:
            transaction.on_commit(lambda: _enqueue("gate_delivery_send_task", delivery.pk))
    return approval


def gate_reject(*, gate: Gate, actor, reason: str) -> Approval:
    """Reject a gate (needs a reason): the task fails and the state machine stops the cutover."""
    reason = (reason or "").strip()
    if not reason:
        raise CutoverError("A rejection needs a reason.")
    with transaction.atomic():
        gate = Gate.objects.select_for_update().select_related("execution__environment").get(pk=gate.pk)
        _check_may_decide(gate=gate, actor=actor)
        now = timezone.now()
        evidence, _failing = _evidence_snapshot(gate)
        approval = Approval.objects.create(
            gate=gate,
            approver=actor,
            decision=Approval.Decision.REJECT,
            comment=reason,
            identity=actor.idp_identity(),
            evidence=evidence,
        )
        Gate.objects.filter(pk=gate.pk, status=Gate.Status.WAITING).update(status=Gate.Status.REJECTED, decided_at=now)
        delivery = GateDelivery.objects.create(
            gate=gate,
            kind=GateDelivery.Kind.FAILURE,
            payload={"error": "Rejected", "cause": json.dumps({"reason": reason, "rejectedBy": approval.identity})},
        )
        audit_record(
            actor=actor,
            event_type="gate.reject",
            target=gate,
            environment=gate.execution.environment.name,
            before={"status": Gate.Status.WAITING},
            after={"status": Gate.Status.REJECTED, "reason": reason, "identity": approval.identity},
        )
        transaction.on_commit(lambda: _enqueue("gate_delivery_send_task", delivery.pk))
    return approval


def delivery_backoff_seconds(attempts: int) -> int:
    """Seconds before the next attempt after ``attempts`` failed ones: 2, 4, 8, ... capped."""
    return min(settings.GATE_DELIVERY_BACKOFF_MAX_SECONDS, 2 ** min(max(attempts, 1), 16))


@dataclass(frozen=True)
class GateTaskOutcome:
    """How Step Functions ended a gate's task, read from the execution history: ``ended_by``
    is TaskSucceeded, TaskFailed or TaskTimedOut, or "" while the task still waits."""

    ended_by: str
    found: bool


def gate_task_outcome(*, gate: Gate) -> GateTaskOutcome:
    """Read the execution history for the gate's own task (matched on the state name and the
    time it was entered, as the gate message gave them) and how it ended.

    The history is the truth about what Step Functions received (ADR 0016): a decision whose
    answer was lost (a worker killed after AWS accepted it, a timeout after sending) shows as
    TaskSucceeded / TaskFailed there, so it is confirmed, never sent twice (ADR 0034)."""
    from migrations_app.watchdog import GATE_TASK_RESOURCE, TASK_ENDS

    execution = gate.execution
    if not execution.arn:
        return GateTaskOutcome(ended_by="", found=False)
    history = stepfunctions.execution_history(target=execution.environment.aws_target(), execution_arn=execution.arn)
    found = False
    for event in history:
        if event.type == "TaskScheduled" and event.details.get("resource") == GATE_TASK_RESOURCE:
            try:
                body = json.loads(event.details.get("parameters") or "{}").get("MessageBody") or {}
            except ValueError:
                body = {}
            if not isinstance(body, dict):
                continue
            if found:
                break  # a later gate task began: ours ended before it (handled below) or never will
            found = str(body.get("stateName")) == gate.state_name and str(body.get("enteredTime")) == gate.entered_at
        elif found and event.type in TASK_ENDS and event.details.get("resourceType", "sqs") == "sqs":
            return GateTaskOutcome(ended_by=event.type, found=True)
    return GateTaskOutcome(ended_by="", found=found)


def gate_delivery_send(*, delivery_id: int) -> GateDelivery:
    """Send a committed decision to Step Functions, once.

    A worker first claims the outbox row with a conditional update (a lease), then calls AWS
    outside any transaction, then records the outcome; so no database lock is held while AWS
    answers, and two workers cannot send the same decision at once. A delivered row is never
    sent again. From the second attempt on, the execution history is read first: a decision an
    earlier attempt got through (its answer lost) is confirmed from there instead of being sent
    again, and a task that timed out meanwhile is reported as such. A token Step Functions no
    longer accepts marks the gate expired; another permanent error marks the delivery failed
    for a person to look at. A transient error is recorded on the row with the time of the
    next attempt (the page shows both) and raised, so the Celery task retries with backoff.
    """
    now = timezone.now()
    claimed = (
        GateDelivery.objects.filter(pk=delivery_id, status=GateDelivery.Status.PENDING)
        .filter(models.Q(lease_until__isnull=True) | models.Q(lease_until__lt=now))
        .update(
            lease_until=now + timedelta(seconds=settings.GATE_DELIVERY_LEASE_SECONDS),
            attempts=models.F("attempts") + 1,
            last_attempt_at=now,
        )
    )
    delivery = GateDelivery.objects.select_related("gate__execution__environment").get(pk=delivery_id)
    if not claimed:
        return delivery  # delivered, failed, or another worker holds the lease
    gate = delivery.gate
    env = gate.execution.environment
    try:
        if delivery.attempts > 1:
            outcome = gate_task_outcome(gate=gate)
            if outcome.ended_by:
                return _delivery_settle_from_history(delivery=delivery, ended_by=outcome.ended_by)
        target = _decision_target(environment=env, delivery=delivery)
        if delivery.kind == GateDelivery.Kind.SUCCESS:
            stepfunctions.task_success(target=target, task_token=gate.task_token, output=delivery.payload)
        else:
            stepfunctions.task_failure(
                target=target,
                task_token=gate.task_token,
                error=delivery.payload["error"],
                cause=delivery.payload.get("cause", ""),
            )
    except AwsError as exc:
        error = _scrub(f"{exc.code or 'error'}: {exc.message}", gate.task_token)[:2000]
        next_attempt = None
        with transaction.atomic():
            if exc.code in stepfunctions.TOKEN_GONE_CODES or exc.code == "ExecutionDoesNotExist":
                status = GateDelivery.Status.GONE
                error = f"{exc.code}: Step Functions no longer accepts this gate's token"
                Gate.objects.filter(pk=gate.pk).update(status=Gate.Status.EXPIRED, expired_reason=exc.code)
            elif exc.permanent:
                status = GateDelivery.Status.FAILED
            else:
                status = GateDelivery.Status.PENDING
                next_attempt = timezone.now() + timedelta(seconds=delivery_backoff_seconds(delivery.attempts))
            GateDelivery.objects.filter(pk=delivery.pk).update(
                status=status, last_error=error, lease_until=None, next_attempt_at=next_attempt
            )
            if status != GateDelivery.Status.PENDING:
                audit_record(
                    actor=None,
                    event_type="gate.delivery_failed",
                    target=gate,
                    environment=env.name,
                    outcome=Outcome.FAILURE,
                    after={"error": error, "kind": delivery.kind, "attempts": delivery.attempts},
                )
        delivery.refresh_from_db()
        if status == GateDelivery.Status.PENDING:
            raise
        return delivery
    return _delivery_mark_delivered(delivery=delivery, confirmed_from_history=False)


def _delivery_mark_delivered(*, delivery: GateDelivery, confirmed_from_history: bool) -> GateDelivery:
    gate = delivery.gate
    with transaction.atomic():
        GateDelivery.objects.filter(pk=delivery.pk).update(
            status=GateDelivery.Status.DELIVERED,
            delivered_at=timezone.now(),
            last_error="",
            lease_until=None,
            next_attempt_at=None,
        )
        after = {
            "kind": delivery.get_kind_display(),
            "attempts": delivery.attempts,
            "ssm_parameter": gate.ssm_parameter,
        }
        if confirmed_from_history:
            after["confirmed_from_history"] = True
        audit_record(
            actor=None,
            event_type="gate.delivered",
            target=gate,
            environment=gate.execution.environment.name,
            after=after,
        )
    delivery.refresh_from_db()
    return delivery


def _delivery_settle_from_history(*, delivery: GateDelivery, ended_by: str) -> GateDelivery:
    """The gate's task already ended in Step Functions: settle the outbox row without sending."""
    sent = {GateDelivery.Kind.SUCCESS: "TaskSucceeded", GateDelivery.Kind.FAILURE: "TaskFailed"}[delivery.kind]
    if ended_by == sent:
        log.info("gate delivery %s: an earlier attempt got through; confirmed from the history", delivery.pk)
        return _delivery_mark_delivered(delivery=delivery, confirmed_from_history=True)
    gate = delivery.gate
    reason = (
        "TaskTimedOut: the gate's task timed out in Step Functions before the decision arrived"
        if ended_by == "TaskTimedOut"
        else f"{ended_by}: the gate's task ended in Step Functions without this decision"
    )
    with transaction.atomic():
        GateDelivery.objects.filter(pk=delivery.pk).update(
            status=GateDelivery.Status.GONE, last_error=reason, lease_until=None, next_attempt_at=None
        )
        Gate.objects.filter(pk=gate.pk).update(status=Gate.Status.EXPIRED, expired_reason=ended_by)
        audit_record(
            actor=None,
            event_type="gate.delivery_failed",
            target=gate,
            environment=gate.execution.environment.name,
            outcome=Outcome.FAILURE,
            after={"error": reason, "kind": delivery.kind, "attempts": delivery.attempts},
        )
    delivery.refresh_from_db()
    return delivery


def gate_deliveries_stalled() -> list[int]:
    """Pending deliveries nobody has tried for a while (their task was lost) and whose backoff
    has passed, oldest first."""
    now = timezone.now()
    quiet = now - timedelta(seconds=settings.GATE_DELIVERY_STALLED_SECONDS)
    return list(
        GateDelivery.objects.filter(status=GateDelivery.Status.PENDING)
        .filter(models.Q(lease_until__isnull=True) | models.Q(lease_until__lt=now))
        .filter(models.Q(next_attempt_at__isnull=True) | models.Q(next_attempt_at__lte=now))
        .filter(models.Q(last_attempt_at__lt=quiet) | models.Q(last_attempt_at__isnull=True, created_at__lte=quiet))
        .order_by("created_at")
        .values_list("pk", flat=True)
    )


def _scrub(text: str, token: str) -> str:
    """AWS error messages may quote what they were sent; never store or show the token."""
    return text.replace(token, "[task token]") if token else text


def _decision_target(*, environment: Environment, delivery: GateDelivery):
    """Resume the execution as the approver: STS AssumeRole with SourceIdentity, so CloudTrail
    records the person, not only the control plane's role."""
    target = environment.aws_target()
    if not environment.approval_role_arn:
        return target
    if delivery.kind == GateDelivery.Kind.SUCCESS:
        person = delivery.payload["approvers"][-1]
    else:
        person = json.loads(delivery.payload.get("cause") or "{}").get("rejectedBy", {})
    who = person.get("email") or person.get("username") or "unknown"
    creds = sts.role_assume(
        target=target,
        role_arn=environment.approval_role_arn,
        session_name=f"gate-{delivery.gate_id}",
        source_identity=who,
    )
    return target.with_credentials(creds)


def _enqueue(task_name: str, *args) -> None:
    """Queue a task after commit. If the broker is down the committed work stays safe: the
    beat sweeps (outbox, deployments, executions) pick it up when the broker is back, so the
    person who clicked sees their decision recorded, not an error page."""
    from migrations_app import tasks

    try:
        getattr(tasks, task_name).delay(*args)
    except Exception:  # noqa: BLE001 - kombu raises several types for an unreachable broker
        log.exception("could not queue %s%r; the periodic sweep will pick it up", task_name, args)


# --- S3 replication backfill ------------------------------------------------------------


@dataclass(frozen=True)
class DocumentBuckets:
    source: str
    target: str


def _document_buckets(environment: Environment) -> DocumentBuckets:
    from migrations_app.deployments import outputs_known

    outputs = outputs_known(environment=environment)
    try:
        return DocumentBuckets(
            source=outputs["storage-source"]["DocumentBucketName"],
            target=outputs["storage-target"]["DocumentBucketName"],
        )
    except KeyError:
        raise CutoverError(
            "The storage stacks are not deployed yet, so there are no document buckets to compare."
        ) from None


def _missing_keys(environment: Environment, buckets: DocumentBuckets) -> list[str]:
    source = set(s3.object_keys(target=environment.aws_target(environment.source_region), bucket=buckets.source))
    target = set(s3.object_keys(target=environment.aws_target(environment.target_region), bucket=buckets.target))
    return sorted(source - target)


def environment_s3_survey(*, environment: Environment) -> int:
    """Snapshot how many documents exist in the source bucket but not in its replica (a
    Celery job; the environment page shows the snapshot). Live replication only copies new
    objects, so everything written before the replication rule shows up here."""
    missing = len(_missing_keys(environment, _document_buckets(environment)))
    Environment.objects.filter(pk=environment.pk).update(s3_missing_objects=missing, s3_surveyed_at=timezone.now())
    return missing


def environment_s3_backfill_request(*, environment: Environment, actor) -> None:
    if not actor.has_role(Role.ENGINEER):
        raise NotAllowed("Only engineers may start a backfill.")
    buckets = _document_buckets(environment)
    with transaction.atomic():
        audit_record(
            actor=actor,
            event_type="s3.backfill_requested",
            target=environment,
            environment=environment.name,
            region=environment.target_region,
            after={"source": buckets.source, "target": buckets.target, "missing": environment.s3_missing_objects},
        )
        transaction.on_commit(lambda: _enqueue("s3_backfill_task", environment.pk))


def environment_s3_backfill(*, environment: Environment) -> int:
    """Copy every document missing from the replica, server side, then survey again.

    Object by object (CopyObject), which suits up to some hundred thousand objects; S3 Batch
    Replication is the tool beyond that and is not built yet.
    """
    buckets = _document_buckets(environment)
    missing = _missing_keys(environment, buckets)
    target = environment.aws_target(environment.target_region)
    for key in missing:
        s3.object_copy(target=target, source_bucket=buckets.source, key=key, destination_bucket=buckets.target)
    remaining = environment_s3_survey(environment=environment)
    audit_record(
        actor=None,
        event_type="s3.backfill_done",
        target=environment,
        environment=environment.name,
        region=environment.target_region,
        after={"copied": len(missing), "still_missing": remaining},
        outcome=Outcome.SUCCESS if remaining == 0 else Outcome.FAILURE,
    )
    return len(missing)
