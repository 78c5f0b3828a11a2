"""Celery tasks: take ids, load rows, call one service, decide retries."""

from __future__ import annotations

import logging

from celery import shared_task

from audit.origin import system_origin
from controlplane.aws import AwsError
from migrations_app import services
from migrations_app.models import Environment, Execution, GateDelivery

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
            # Only transient errors escape the service; retry with capped exponential backoff.
            log.warning("gate delivery %s: transient AWS error, will retry: %s", delivery_id, exc.code)
            raise self.retry(exc=exc, countdown=_backoff(self.request.retries))
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
        # The outbox sweep: a decision whose task was lost (worker died, broker down) is re-queued.
        for delivery_id in GateDelivery.objects.filter(status=GateDelivery.Status.PENDING).values_list("pk", flat=True):
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
