"""Never lose or park a token: the history sweep, the stuck-token watchdog, and alerts.

Run by Celery beat every WATCHDOG_INTERVAL_SECONDS. For each running execution it reads the
Step Functions history once and:
- creates the gate of a waiting task whose SQS message was lost (the sweep);
- expires a gate whose task timed out, and alerts;
- alerts when the execution runs with no open gate outside a soak or window wait.
For each waiting gate past its SLA it alerts, and escalates past the second threshold.
Each alert is raised once per subject and level, e-mailed to the role that can act, sent
to the environment's SNS topic, and shown as a banner until it is resolved.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import Outcome
from audit.services import audit_record
from controlplane.accounts.models import Role, User
from controlplane.aws import AwsError, sns, stepfunctions
from migrations_app import services
from migrations_app.models import Alert, Environment, Execution, Gate, GateDelivery

log = logging.getLogger(__name__)
GATE_TASK_RESOURCE = "sendMessage.waitForTaskToken"
STOPPED_PREFIX = "cutover stopped"
TASK_ENDS = ("TaskSucceeded", "TaskFailed", "TaskTimedOut")


@dataclass
class WatchdogReport:
    executions: int = 0
    gates_recovered: int = 0
    gates_expired: int = 0
    alerts: list[str] = field(default_factory=list)
    oldest_gate_age_seconds: float = 0.0


@dataclass(frozen=True)
class GateTask:
    """The last gate task of an execution's history and how it ended (None while waiting)."""

    message_body: dict
    ended_by: str | None
    ended_at: object | None


def gate_task_message_body(event: stepfunctions.HistoryEvent) -> dict | None:
    """The gate message a gate task sent (its ``MessageBody`` parameter), or None when the
    event is not the scheduling of a gate task. ``{}`` when the parameters cannot be read."""
    if event.type != "TaskScheduled" or event.details.get("resource") != GATE_TASK_RESOURCE:
        return None
    try:
        body = json.loads(event.details.get("parameters") or "{}").get("MessageBody") or {}
    except ValueError:
        body = {}
    return body if isinstance(body, dict) else {}


def gate_task_last(history: list[stepfunctions.HistoryEvent]) -> GateTask | None:
    last: GateTask | None = None
    for event in history:
        body = gate_task_message_body(event)
        if body is not None:
            last = GateTask(message_body=body, ended_by=None, ended_at=None)
        elif (
            last is not None
            and last.ended_by is None
            and event.type in TASK_ENDS
            and event.details.get("resourceType", "sqs") == "sqs"
        ):
            last = GateTask(message_body=last.message_body, ended_by=event.type, ended_at=event.timestamp)
    return last


def alert_raise(*, environment: Environment, kind: str, level: str, subject, message: str, role: str) -> Alert | None:
    """Raise an alert once per (kind, level, subject); notify by e-mail and SNS. Returns None
    when it was raised before."""
    subject_type, subject_id = subject._meta.label_lower, str(subject.pk)
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                environment=environment,
                kind=kind,
                level=level,
                subject_type=subject_type,
                subject_id=subject_id,
                message=message[:1000],
            )
            audit_record(
                actor=None,
                event_type="alert.raised",
                target=alert,
                environment=environment.name,
                outcome=Outcome.FAILURE,
                after={"kind": kind, "level": level, "message": message[:500]},
            )
    except IntegrityError:
        return None
    notified: dict = {}
    recipients = sorted(
        {u.email for u in User.objects.filter(is_active=True, groups__name=role).exclude(email="") if u.has_role(role)}
    )
    if recipients:
        send_mail(
            subject=f"[cutover {environment.name}] {level.upper()}: {kind.replace('_', ' ')}",
            message=f"{message}\n\nOpen the control plane to act. (Alert {alert.pk}.)",
            from_email=None,
            recipient_list=recipients,
            fail_silently=True,
        )
        notified["email"] = recipients
    topic = _topic_arn(environment)
    if topic:
        try:
            notified["sns_message_id"] = sns.message_publish(
                target=environment.aws_target(),
                topic_arn=topic,
                subject=f"cutover {environment.name}: {kind}",
                message=message,
            )
        except AwsError as exc:
            notified["sns_error"] = exc.code
    Alert.objects.filter(pk=alert.pk).update(notified=notified)
    return alert


def alerts_resolve(*, subject, kinds: tuple[str, ...] | None = None) -> int:
    qs = Alert.objects.filter(subject_type=subject._meta.label_lower, subject_id=str(subject.pk), resolved_at=None)
    if kinds:
        qs = qs.filter(kind__in=kinds)
    return qs.update(resolved_at=timezone.now())


def _alerted(environment: Environment, kind: str, *, unresolved_only: bool = False) -> list[int]:
    """Ids of the gates that already have an alert of this kind (subject ids are text)."""
    qs = Alert.objects.filter(environment=environment, kind=kind, subject_type="migrations_app.gate")
    if unresolved_only:
        qs = qs.filter(resolved_at=None)
    return [int(i) for i in qs.values_list("subject_id", flat=True)]


def _topic_arn(environment: Environment) -> str:
    from migrations_app.deployments import outputs_known

    return outputs_known(environment=environment).get("orchestration", {}).get("NotificationsTopicArn", "")


def _age(since) -> float:
    return (timezone.now() - since).total_seconds()


def cutover_watchdog(*, environment: Environment) -> WatchdogReport:
    report = WatchdogReport()
    target = environment.aws_target()
    for execution in Execution.objects.filter(environment=environment, status=Execution.Status.RUNNING).exclude(arn=""):
        report.executions += 1
        try:
            history = stepfunctions.execution_history(target=target, execution_arn=execution.arn)
        except AwsError as exc:
            log.warning("watchdog %s: history of %s unavailable: %s", environment.name, execution.name, exc)
            continue
        task = gate_task_last(history)
        if task and task.ended_by is None and task.message_body:
            # Waiting in Step Functions: the gate must exist here, message or no message.
            result = services.gate_intake_message(environment=environment, body=json.dumps(task.message_body))
            if result.created:
                report.gates_recovered += 1
                audit_record(
                    actor=None,
                    event_type="gate.recovered",
                    target=result.gate,
                    environment=environment.name,
                    after={"source": "execution history", "state": result.gate.state_name},
                )
        elif task and task.ended_by == "TaskTimedOut":
            body = task.message_body
            gate = Gate.objects.filter(
                execution=execution, state_name=body.get("stateName", ""), entered_at=body.get("enteredTime", "")
            ).first()
            if gate is not None and gate.status == Gate.Status.WAITING:
                Gate.objects.filter(pk=gate.pk, status=Gate.Status.WAITING).update(
                    status=Gate.Status.EXPIRED, expired_reason="TaskTimedOut"
                )
                report.gates_expired += 1
                audit_record(
                    actor=None,
                    event_type="gate.expired",
                    target=gate,
                    environment=environment.name,
                    outcome=Outcome.FAILURE,
                    after={"reason": "the gate's task timed out in Step Functions"},
                )
        waiting_here = Gate.objects.filter(execution=execution, status=Gate.Status.WAITING).exists()
        last = history[-1] if history else None
        in_wait = last is not None and last.type == "WaitStateEntered"
        if not waiting_here and not in_wait and last is not None:
            quiet = _age(last.timestamp)
            for level, threshold in (
                (Alert.Level.WARNING, settings.EXECUTION_NO_GATE_SECONDS),
                (Alert.Level.CRITICAL, 2 * settings.EXECUTION_NO_GATE_SECONDS),
            ):
                if quiet >= threshold and alert_raise(
                    environment=environment,
                    kind="execution_without_gate",
                    level=level,
                    subject=execution,
                    message=f"{execution.name} has been running for {quiet / 60:.0f} min with no open gate and no wait; "
                    f"its last step was {last.type}.",
                    role=Role.ENGINEER,
                ):
                    report.alerts.append(f"execution_without_gate:{level}")
        else:
            alerts_resolve(subject=execution, kinds=("execution_without_gate",))
    oldest = 0.0
    for gate in Gate.objects.filter(execution__environment=environment, status=Gate.Status.WAITING).select_related(
        "execution"
    ):
        age = _age(gate.arrived_at)
        oldest = max(oldest, age)
        for level, threshold in (
            (Alert.Level.WARNING, settings.GATE_SLA_SECONDS),
            (Alert.Level.CRITICAL, settings.GATE_ESCALATE_SECONDS),
        ):
            if age >= threshold and alert_raise(
                environment=environment,
                kind="gate_waiting",
                level=level,
                subject=gate,
                message=f"Gate {gate.step} of {gate.execution.name} has waited {age / 60:.0f} min for a decision "
                f"(SLA {settings.GATE_SLA_SECONDS // 60} min).",
                role=Role.APPROVER,
            ):
                report.alerts.append(f"gate_waiting:{level}")
    waiting_alerts = _alerted(environment, "gate_waiting", unresolved_only=True)
    for gate in Gate.objects.filter(pk__in=waiting_alerts).exclude(status=Gate.Status.WAITING):
        alerts_resolve(subject=gate, kinds=("gate_waiting",))
    for delivery in (
        GateDelivery.objects.filter(
            gate__execution__environment=environment, status__in=(GateDelivery.Status.FAILED, GateDelivery.Status.GONE)
        )
        .exclude(gate_id__in=_alerted(environment, "delivery_failed"))
        .select_related("gate__execution")
    ):
        if alert_raise(
            environment=environment,
            kind="delivery_failed",
            level=Alert.Level.CRITICAL,
            subject=delivery.gate,
            message=f"The decision on gate {delivery.gate.step} of {delivery.gate.execution.name} could not be "
            f"delivered: {delivery.last_error}",
            role=Role.ENGINEER,
        ):
            report.alerts.append("delivery_failed")
    # Gates that expired without a person's decision (timed out, token refused, execution
    # ended under them) need a person; gates of a deliberately stopped cutover do not.
    for gate in (
        Gate.objects.filter(execution__environment=environment, status=Gate.Status.EXPIRED)
        .exclude(expired_reason__startswith=STOPPED_PREFIX)
        .exclude(pk__in=_alerted(environment, "gate_expired"))
        .select_related("execution")
    ):
        if alert_raise(
            environment=environment,
            kind="gate_expired",
            level=Alert.Level.CRITICAL,
            subject=gate,
            message=f"Gate {gate.step} of {gate.execution.name} expired without a decision ({gate.expired_reason}); "
            "the cutover did not continue. Start a new execution when ready.",
            role=Role.ENGINEER,
        ):
            report.alerts.append("gate_expired")
    report.oldest_gate_age_seconds = oldest
    _publish_oldest_gate_age(environment, oldest)
    return report


def _publish_oldest_gate_age(environment: Environment, seconds: float) -> None:
    """For the orchestration template's alarm on OldestGateAgeSeconds."""
    from controlplane.aws import cloudwatch

    try:
        cloudwatch.metric_put(
            target=environment.aws_target(),
            namespace="CutoverControlPlane",
            metric="OldestGateAgeSeconds",
            dimensions={"Environment": environment.name},
            value=seconds,
            unit="Seconds",
        )
    except AwsError as exc:
        log.warning("watchdog %s: OldestGateAgeSeconds not published: %s", environment.name, exc)
