"""The broker (Redis) unreachable when an approver clicks: the approval is committed and the
gate page says "Delivering"; once the broker is back, the beat sweep queues the delivery and a
real worker sends it."""

from __future__ import annotations

import contextlib

import pytest

from controlplane.celery import app as celery_app
from migrations_app import tasks
from migrations_app.models import Approval, Gate, GateDelivery
from sandbox.processes import free_port
from tests.faults.conftest import wait_until, waiting_gate

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _reset_broker_pools() -> None:
    # Forget (not close: kombu keeps one producer pool per broker URL) the pools of the old URL.
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@contextlib.contextmanager
def broker_unreachable():
    """This process (the web tier) publishes to a closed port; the worker keeps its own broker."""
    real = celery_app.conf.broker_write_url
    celery_app.conf.broker_write_url = f"redis://127.0.0.1:{free_port()}/0"  # publishing uses this URL
    _reset_broker_pools()
    try:
        yield
    finally:
        celery_app.conf.broker_write_url = real
        _reset_broker_pools()


def test_approval_with_the_broker_down_is_committed_then_delivered_when_it_returns(
    environment, workers, engineer, approver1, client, settings
):
    settings.GATE_DELIVERY_STALLED_SECONDS = 0
    workers(GATE_DELIVERY_STALLED_SECONDS="0")
    _execution, gate = waiting_gate(environment, engineer)
    client.force_login(approver1)

    with broker_unreachable():
        response = client.post(f"/gates/{gate.pk}/decide/", {"decision": "approve"}, follow=True)
        assert response.status_code == 200
        page = response.content.decode()
        assert "Approved. The decision is being delivered" in page
        assert "Delivering" in page
        assert Approval.objects.filter(gate=gate).count() == 1
        assert Gate.objects.get(pk=gate.pk).status == Gate.Status.APPROVED
        delivery = GateDelivery.objects.get(gate=gate)
        assert delivery.status == GateDelivery.Status.PENDING and delivery.attempts == 0

    tasks.gate_intake_poll_task.delay()  # the beat's next tick, now that the broker answers
    wait_until(lambda: GateDelivery.objects.get(gate=gate).status == GateDelivery.Status.DELIVERED, what="delivered")
    assert GateDelivery.objects.get(gate=gate).attempts == 1
    assert "Delivered" in client.get(f"/gates/{gate.pk}/").content.decode()
