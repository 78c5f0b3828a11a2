"""Celery tasks: take ids, load rows, call one service, decide retries."""

from __future__ import annotations

import logging

from celery import shared_task

from audit.origin import system_origin
from controlplane.aws import AwsError
from migrations_app import services
from migrations_app.models import Environment, Execution

log = logging.getLogger(__name__)


def _backoff(retries: int) -> int:
    """Seconds before retry number ``retries``: exponential, capped at five minutes."""
    return min(300, 2 ** min(retries, 8))


@shared_task(bind=True, acks_late=True, max_retries=None)
def execution_start_deliver_task(self, execution_id: int) -> None:
    with system_origin("execution-start", request_id=self.request.id):
        execution = Execution.objects.select_related("environment").get(pk=execution_id)
        try:
            services.execution_start_deliver(execution=execution)
        except AwsError as exc:
            if exc.permanent:
                raise
            raise self.retry(exc=exc, countdown=_backoff(self.request.retries))


@shared_task(bind=True, acks_late=True, max_retries=None)
def gate_delivery_send_task(self, delivery_id: int) -> None:
    with system_origin("gate-delivery", request_id=self.request.id):
        try:
            delivery = services.gate_delivery_send(delivery_id=delivery_id)
        except AwsError as exc:
            # Only transient errors escape the service, which recorded when the next attempt is
            # due (capped exponential backoff); the page shows it, the retry keeps to it.
            from django.utils import timezone

            from migrations_app.models import GateDelivery

            due = GateDelivery.objects.filter(pk=delivery_id).values_list("next_attempt_at", flat=True).first()
            countdown = max(1, int((due - timezone.now()).total_seconds())) if due else _backoff(self.request.retries)
            log.warning("gate delivery %s: transient AWS error, retry in %ss: %s", delivery_id, countdown, exc.code)
            raise self.retry(exc=exc, countdown=countdown)
        log.info("gate delivery %s: %s after %s attempt(s)", delivery_id, delivery.status, delivery.attempts)


@shared_task(acks_late=True)
def gate_intake_poll_task() -> dict:
    """Beat: drain every provisioned environment's gate queue, then resend any undelivered decisions."""
    totals: dict[str, int] = {}
    with system_origin("gate-intake"):
        for env in Environment.objects.exclude(gate_queue_url=""):
            try:
                counts = services.gate_intake_poll(environment=env)
            except AwsError as exc:
                log.warning("gate intake %s: %s", env.name, exc)
                continue
            for key, value in vars(counts).items():
                totals[key] = totals.get(key, 0) + value
        # The outbox sweep: a decision whose task was lost (worker died, broker down) is
        # re-queued once it has been quiet for a while; the lease stops double sends.
        for delivery_id in services.gate_deliveries_stalled():
            gate_delivery_send_task.delay(delivery_id)
    return totals


@shared_task(acks_late=True)
def execution_sync_all_task() -> int:
    """Beat: start executions whose start was not delivered, and sync running ones."""
    synced = 0
    with system_origin("execution-sync"):
        for execution in Execution.objects.filter(status__in=Execution.ACTIVE).select_related("environment"):
            try:
                if execution.status == Execution.Status.STARTING:
                    services.execution_start_deliver(execution=execution)
                else:
                    services.execution_sync(execution=execution)
                synced += 1
            except AwsError as exc:
                log.warning("execution sync %s: %s", execution.name, exc)
    return synced


@shared_task(bind=True, acks_late=True, max_retries=None)
def deployment_advance_task(self, deployment_id: int) -> str:
    """Advance a deployment one step, then come back while it runs (a person confirming a
    change set stops the chain; their confirmation starts it again)."""
    from django.conf import settings

    from migrations_app import deployments
    from migrations_app.models import Deployment

    with system_origin("deployment", request_id=self.request.id):
        try:
            result = deployments.deployment_advance(deployment_id=deployment_id)
        except AwsError as exc:
            log.warning("deployment %s: transient AWS error, will retry: %s", deployment_id, exc)
            raise self.retry(exc=exc, countdown=_backoff(self.request.retries))
    if result.deployment.status == Deployment.Status.RUNNING:
        deployment_advance_task.apply_async((deployment_id,), countdown=settings.DEPLOYMENT_POLL_SECONDS)
    return result.deployment.status


@shared_task(acks_late=True)
def deployments_advance_all_task() -> int:
    """Beat safety net: restart the task chain of running deployments that stopped advancing
    (a lost task, a worker that died), without doubling chains that are alive."""
    from datetime import timedelta

    from django.conf import settings
    from django.db.models import Q
    from django.utils import timezone

    from migrations_app.models import Deployment

    stale = timezone.now() - timedelta(seconds=max(30, 6 * settings.DEPLOYMENT_POLL_SECONDS))
    running = list(
        Deployment.objects.filter(status=Deployment.Status.RUNNING)
        .filter(Q(last_advanced_at__lt=stale) | Q(last_advanced_at__isnull=True, created_at__lt=stale))
        .values_list("pk", flat=True)
    )
    for deployment_id in running:
        deployment_advance_task.delay(deployment_id)
    return len(running)


@shared_task(bind=True, acks_late=True, max_retries=None)
def s3_backfill_task(self, environment_id: int) -> int:
    with system_origin("s3-backfill", request_id=self.request.id):
        environment = Environment.objects.get(pk=environment_id)
        try:
            return services.environment_s3_backfill(environment=environment)
        except AwsError as exc:
            if exc.permanent:
                raise
            raise self.retry(exc=exc, countdown=_backoff(self.request.retries))


@shared_task(acks_late=True)
def s3_survey_all_task() -> int:
    """Beat: refresh the replication-gap snapshot of every deployed environment."""
    from migrations_app.errors import CutoverError

    surveyed = 0
    with system_origin("s3-survey"):
        for environment in Environment.objects.exclude(provisioned_at=None):
            try:
                services.environment_s3_survey(environment=environment)
                surveyed += 1
            except (AwsError, CutoverError) as exc:
                log.info("s3 survey %s skipped: %s", environment.name, exc)
    return surveyed


@shared_task(acks_late=True)
def s3_survey_task(environment_id: int) -> int | None:
    from migrations_app.errors import CutoverError

    with system_origin("s3-survey"):
        try:
            return services.environment_s3_survey(environment=Environment.objects.get(pk=environment_id))
        except (AwsError, CutoverError) as exc:
            log.info("s3 survey %s skipped: %s", environment_id, exc)
            return None


@shared_task(acks_late=True)
def gate_evidence_collect_task(gate_id: int) -> int:
    """Collect a gate's evidence from AWS into GateCheck rows (pages read only those)."""
    from migrations_app import checks
    from migrations_app.models import Gate

    with system_origin("gate-evidence"):
        gate = Gate.objects.select_related("execution__environment").get(pk=gate_id)
        if not gate.is_open:
            return 0
        return len(checks.gate_evidence_collect(gate=gate))


@shared_task(acks_late=True)
def gate_evidence_refresh_all_task() -> int:
    """Beat: keep the evidence of every waiting gate fresh."""
    from migrations_app.models import Gate

    waiting = list(Gate.objects.filter(status=Gate.Status.WAITING).values_list("pk", flat=True))
    for gate_id in waiting:
        gate_evidence_collect_task.delay(gate_id)
    return len(waiting)


@shared_task(acks_late=True)
def cutover_watchdog_task() -> dict:
    """Beat: the history sweep and the stuck-token watchdog, per provisioned environment."""
    from migrations_app import watchdog

    totals: dict[str, int] = {"environments": 0, "recovered": 0, "expired": 0, "alerts": 0}
    with system_origin("cutover-watchdog"):
        for environment in Environment.objects.exclude(gate_queue_url=""):
            report = watchdog.cutover_watchdog(environment=environment)
            totals["environments"] += 1
            totals["recovered"] += report.gates_recovered
            totals["expired"] += report.gates_expired
            totals["alerts"] += len(report.alerts)
    return totals


@shared_task(acks_late=True)
def telemetry_collect_all_task() -> dict:
    """Beat: snapshot every environment's AWS state for the dashboard, then prune old history.

    Environments are collected one after another; each claims its slot, so a tick that
    overlaps a slow one skips what is already being collected.
    """
    from migrations_app import telemetry

    totals = {"environments": 0, "collected": 0, "skipped": 0, "partial": 0}
    for environment in Environment.objects.all():
        totals["environments"] += 1
        snapshot = telemetry.telemetry_collect(environment=environment)
        if snapshot is None:
            totals["skipped"] += 1
            continue
        totals["collected"] += 1
        if snapshot.status != snapshot.Status.COMPLETE:
            totals["partial"] += 1
    snapshots, points = telemetry.telemetry_prune()
    totals["pruned_snapshots"], totals["pruned_points"] = snapshots, points
    return totals
