"""Workers killed or stopped in the middle of delivering a decision (real worker processes).

Killed (SIGKILL) after Step Functions accepted SendTaskSuccess and before the outcome was
committed: the worst moment, since the decision is applied in AWS and our outbox row still
says pending. After a restart the beat sweep re-queues it; the next attempt reads the
execution history, sees the task succeeded and marks it delivered without sending again.
Stopped (SIGTERM) during the call: the worker finishes the task, then exits.
"""

from __future__ import annotations

import signal

import pytest

from audit.models import AuditEvent
from controlplane.aws import stepfunctions
from migrations_app import services, tasks
from migrations_app.models import GateDelivery
from sandbox import faults
from tests.conftest import wait_for_gate
from tests.faults.conftest import wait_until, waiting_gate

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def sends_of(proxy, operation: str = "SendTaskSuccess") -> list[dict]:
    return [c for c in faults.calls_list(proxy.url) if c["operation"] == operation and c["forwarded"]]


def test_worker_killed_after_aws_accepted_the_decision_delivers_it_exactly_once(
    faulty_environment, proxy, workers, engineer, approver1, settings
):
    env = faulty_environment
    settings.GATE_DELIVERY_STALLED_SECONDS = 0
    # A short lease and no quiet period, so the sweep takes the orphaned row over within seconds.
    worker_env = {"GATE_DELIVERY_LEASE_SECONDS": "3", "GATE_DELIVERY_STALLED_SECONDS": "0", "AWS_READ_TIMEOUT": "60"}
    worker = workers(**worker_env)
    execution, gate = waiting_gate(env, engineer)
    # Step Functions applies SendTaskSuccess, but its answer never comes back.
    faults.faults_set(proxy.url, {"service": "stepfunctions", "operation": "SendTaskSuccess", "fault": "lost_response"})

    services.gate_approve(gate=gate, actor=approver1)
    wait_until(lambda: sends_of(proxy), what="SendTaskSuccess reached the sandbox")
    worker.signal(signal.SIGKILL)
    worker.wait()
    faults.faults_clear(proxy.url)
    delivery = GateDelivery.objects.get(gate=gate)
    assert delivery.status == GateDelivery.Status.PENDING and delivery.attempts == 1

    workers(**worker_env)
    wait_until(lambda: services.gate_deliveries_stalled(), timeout=10, what="the lease to run out")
    tasks.gate_intake_poll_task.delay()  # the beat sweep

    wait_until(lambda: GateDelivery.objects.get(gate=gate).status == GateDelivery.Status.DELIVERED, what="delivered")
    delivery = GateDelivery.objects.get(gate=gate)
    assert delivery.attempts == 2
    assert len(sends_of(proxy)) == 1  # sent once; the second attempt confirmed it from the history
    history = stepfunctions.execution_history(target=env.aws_target(), execution_arn=execution.arn)
    assert [(e.type, e.details.get("resourceType")) for e in history].count(("TaskSucceeded", "sqs")) == 1
    delivered = AuditEvent.objects.get(event_type="gate.delivered", target_id=str(gate.pk))
    assert delivered.after["confirmed_from_history"] is True
    assert wait_for_gate(env, execution).step == 2  # Step Functions went on, once


def test_sigterm_lets_the_running_delivery_finish(faulty_environment, proxy, workers, engineer, approver1):
    env = faulty_environment
    worker = workers()
    execution, gate = waiting_gate(env, engineer)
    faults.faults_set(
        proxy.url, {"service": "stepfunctions", "operation": "SendTaskSuccess", "fault": "latency", "seconds": 3}
    )

    services.gate_approve(gate=gate, actor=approver1)
    wait_until(lambda: GateDelivery.objects.get(gate=gate).attempts == 1, what="the worker began the delivery")
    worker.signal(signal.SIGTERM)  # warm shutdown while the call is held by the proxy

    assert worker.wait() == 0
    delivery = GateDelivery.objects.get(gate=gate)
    assert delivery.status == GateDelivery.Status.DELIVERED and delivery.attempts == 1
    assert len(sends_of(proxy)) == 1
    assert "Warm shutdown" in worker.log()
