"""The approval path with a real Celery worker process and the real broker (Redis in CI).

Everywhere else tasks run eagerly; here they cross the broker, as in production: the start
of the execution and the delivery of the decision are both done by the worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.db import connection

from controlplane.celery import app as celery_app
from migrations_app import services
from migrations_app.models import Execution, GateDelivery
from tests.conftest import wait_for_gate

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def database_url_of_test_db() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def worker(tmp_path):
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="controlplane.settings_test",
        DATABASE_URL=database_url_of_test_db(),
        CELERY_TASK_ALWAYS_EAGER="false",
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        CONTROLPLANE_VAR_DIR=str(settings.VAR_DIR),
    )
    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "controlplane", "worker", "--pool=solo", "--purge", "-l", "info"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=settings.BASE_DIR,
    )
    celery_app.conf.task_always_eager = False
    deadline = time.monotonic() + 30
    while b"ready." not in (tmp_path / "worker.log").read_bytes():
        assert proc.poll() is None, (tmp_path / "worker.log").read_text()
        assert time.monotonic() < deadline, "worker did not start"
        time.sleep(0.2)
    yield proc
    celery_app.conf.task_always_eager = True
    proc.terminate()
    proc.wait(timeout=20)
    log.close()


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
