"""The approval path with a real Celery worker process and the real broker (Redis in CI).

Everywhere else tasks run eagerly; here they cross the broker, as in production: the start
of the execution and the delivery of the decision are both done by the worker.
"""

from __future__ import annotations

import time

import pytest

from controlplane.celery import app as celery_app
from migrations_app import services
from migrations_app.models import Execution, GateDelivery
from tests.conftest import Worker, wait_for_gate

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(tmp_path):
    worker = Worker(tmp_path / "worker.log").start(purge=True)
    celery_app.conf.task_always_eager = False
    yield worker.proc
    celery_app.conf.task_always_eager = True
    worker.stop()


def wait_until(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def test_worker_starts_the_execution_and_delivers_the_approval(worker, environment, engineer, approver1):
    execution = services.execution_start(environment=environment, actor=engineer)
    wait_until(lambda: Execution.objects.get(pk=execution.pk).status == "RUNNING")
    gate = wait_for_gate(environment, execution)
    wait_until(lambda: gate.checks.count() == 8)  # the worker collected the evidence

    services.gate_approve(gate=gate, actor=approver1)

    wait_until(lambda: GateDelivery.objects.get(gate=gate).status == GateDelivery.Status.DELIVERED)
    assert GateDelivery.objects.get(gate=gate).attempts == 1
    assert wait_for_gate(environment, execution).step == 2  # Step Functions resumed
