"""Reads shared by pages and (later) the API."""

from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet

from audit.models import AuditEvent
from migrations_app.models import (
    Approval,
    Deployment,
    Environment,
    Execution,
    Gate,
    StackDeployment,
    TelemetryPoint,
    TelemetrySnapshot,
)


def environment_list() -> QuerySet[Environment]:
    return Environment.objects.order_by("name")


def gate_list_waiting() -> QuerySet[Gate]:
    return (
        Gate.objects.filter(status=Gate.Status.WAITING)
        .select_related("execution__environment", "execution__started_by")
        .order_by("arrived_at")
    )


def gate_get(*, pk: int) -> Gate:
    return (
        Gate.objects.select_related("execution__environment", "execution__started_by", "delivery")
        .prefetch_related(Prefetch("approvals", queryset=Approval.objects.select_related("approver")))
        .get(pk=pk)
    )


def execution_list(*, environment: Environment | None = None, limit: int = 50) -> QuerySet[Execution]:
    qs = Execution.objects.select_related("environment", "started_by")
    if environment is not None:
        qs = qs.filter(environment=environment)
    return qs.order_by("-created_at")[:limit]


def execution_get(*, pk: int) -> Execution:
    return (
        Execution.objects.select_related("environment", "started_by")
        .prefetch_related(
            Prefetch(
                "gates",
                queryset=Gate.objects.select_related("delivery")
                .prefetch_related(Prefetch("approvals", queryset=Approval.objects.select_related("approver")))
                .order_by("arrived_at"),
            )
        )
        .get(pk=pk)
    )


def execution_audit_trail(*, execution: Execution) -> QuerySet[AuditEvent]:
    """Every audit row about the execution and its gates, oldest first."""
    gate_ids = [str(pk) for pk in execution.gates.values_list("pk", flat=True)]
    return AuditEvent.objects.filter(
        Q(target_type="migrations_app.execution", target_id=str(execution.pk))
        | Q(target_type="migrations_app.gate", target_id__in=gate_ids)
    ).order_by("id")


def deployment_latest(*, environment: Environment) -> Deployment | None:
    return (
        Deployment.objects.filter(environment=environment)
        .select_related("requested_by")
        .prefetch_related(Prefetch("stacks", queryset=StackDeployment.objects.select_related("confirmed_by")))
        .order_by("-created_at")
        .first()
    )


def stacks_deployed(*, environment: Environment) -> dict[str, StackDeployment]:
    """The newest finished deployment of each stack, by stack key."""
    latest: dict[str, StackDeployment] = {}
    for stack in StackDeployment.objects.filter(
        deployment__environment=environment, status__in=StackDeployment.DONE
    ).order_by("deployment__created_at", "order"):
        latest[stack.stack_key] = stack
    return latest


def latest_snapshot(environment: Environment) -> TelemetrySnapshot | None:
    """The newest finished telemetry snapshot of ``environment`` (the dashboard and the API's
    "telemetry latest snapshot" read this). Check ``is_stale()`` before showing it as current."""
    return (
        TelemetrySnapshot.objects.filter(environment=environment, collected_at__isnull=False)
        .order_by("-collected_at")
        .first()
    )


def telemetry_points(*, environment: Environment, metric: str, since) -> QuerySet[TelemetryPoint]:
    """One metric's chart points since ``since``, by series then time."""
    return TelemetryPoint.objects.filter(environment=environment, metric=metric, at__gte=since).order_by("series", "at")
