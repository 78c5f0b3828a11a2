"""gate_approve / gate_reject / gate_delivery_send against a real state machine in the sandbox."""

from __future__ import annotations

import json
import threading
import time

import pytest
from django.db import connection

from audit.models import AuditEvent
from controlplane.aws import route53, ssm, stepfunctions
from migrations_app import services
from migrations_app.errors import CutoverError, NotAllowed
from migrations_app.models import Approval, Gate, GateDelivery
from tests.conftest import wait_for_execution, wait_for_gate

# Transactional: on_commit hooks (the Celery enqueues) fire as they do in production.
pytestmark = pytest.mark.django_db(transaction=True)


def gate_successes(history) -> int:
    """TaskSucceeded events of gate tasks (sqs waitForTaskToken), not of the AWS SDK tasks."""
    return sum(1 for e in history if e.type == "TaskSucceeded" and e.details.get("resourceType") == "sqs")


def weights_in_route53(environment) -> dict[str, int]:
    records = route53.weighted_records_list(
        target=environment.aws_target(), hosted_zone_id=environment.hosted_zone_id, name=environment.record_name
    )
    return {r.set_identifier: r.weight for r in records}


def test_approval_resumes_execution_shifts_weights_and_records_approver_in_ssm(
    environment, started_execution, approver1
):
    gate = wait_for_gate(environment, started_execution)
    assert weights_in_route53(environment) == {"us-east-1": 100, "eu-central-1": 0}

    services.gate_approve(gate=gate, actor=approver1, comment="lag 120 ms, DLQs empty")

    gate.refresh_from_db()
    assert gate.status == Gate.Status.APPROVED
    assert gate.delivery.status == GateDelivery.Status.DELIVERED
    second = wait_for_gate(environment, started_execution)  # the execution resumed to step 2
    assert second.step == 2 and second.required_approvals == 2
    # What AWS now holds: the weights moved, and SSM names the approver with their IdP identity.
    assert weights_in_route53(environment) == {"us-east-1": 90, "eu-central-1": 10}
    parameter = ssm.parameter_get(target=environment.aws_target(), name=gate.ssm_parameter)
    recorded = json.loads(parameter.value)
    assert recorded["decision"] == "approved"
    assert recorded["approvers"] == [
        {
            "username": "approver1",
            "name": "Alice Approver",
            "email": "approver1@example.com",
            "issuer": "http://idp.test",
            "subject": "user-approver1",
            "authenticatedAt": approver1.idp_authenticated_at.isoformat(),
        }
    ]
    # The audit trail has a row for every step, in order.
    events = list(
        AuditEvent.objects.filter(
            environment=environment.name, target_type__in=["migrations_app.execution", "migrations_app.gate"]
        )
        .values_list("event_type", flat=True)
        .order_by("id")
    )
    assert events == [
        "execution.start",
        "execution.started",
        "gate.arrived",
        "gate.approve",
        "gate.delivered",
        "gate.arrived",
    ]
    assert [e["verdict"] for e in gate.approvals.get().evidence] == ["pass"] * 8
    approve_event = AuditEvent.objects.get(event_type="gate.approve", target_id=str(gate.pk))
    assert approve_event.actor == approver1
    assert approve_event.actor_subject == "user-approver1"
    assert approve_event.after["comment"] == "lag 120 ms, DLQs empty"


def test_the_person_who_started_the_cutover_may_not_approve_it(environment, lead, approver1):
    execution = services.execution_start(environment=environment, actor=lead)
    gate = wait_for_gate(environment, execution)

    with pytest.raises(NotAllowed, match="four-eyes"):
        services.gate_approve(gate=gate, actor=lead)
    gate.refresh_from_db()
    assert gate.status == Gate.Status.WAITING
    assert not Approval.objects.filter(gate=gate).exists()

    services.gate_approve(gate=gate, actor=approver1)
    gate.refresh_from_db()
    assert gate.status == Gate.Status.APPROVED


@pytest.mark.parametrize("who", ["engineer", "auditor", "outsider"])
def test_only_approvers_may_approve(request, started_execution, environment, who):
    gate = wait_for_gate(environment, started_execution)
    person = request.getfixturevalue(who) if who != "engineer" else started_execution.started_by
    with pytest.raises(NotAllowed, match="Only compliance approvers"):
        services.gate_approve(gate=gate, actor=person)
    assert not AuditEvent.objects.filter(event_type="gate.approve").exists()


def test_a_decided_gate_cannot_be_approved_again(environment, started_execution, approver1, approver2):
    gate = wait_for_gate(environment, started_execution)
    services.gate_approve(gate=gate, actor=approver1)
    with pytest.raises(CutoverError, match="approved"):
        services.gate_approve(gate=gate, actor=approver2)
    assert GateDelivery.objects.filter(gate=gate).count() == 1


def test_reject_needs_a_reason_and_fails_the_task(environment, started_execution, approver1):
    gate = wait_for_gate(environment, started_execution)
    with pytest.raises(CutoverError, match="reason"):
        services.gate_reject(gate=gate, actor=approver1, reason="   ")

    services.gate_reject(gate=gate, actor=approver1, reason="replication lag 2 s")

    gate.refresh_from_db()
    assert gate.status == Gate.Status.REJECTED
    assert gate.delivery.status == GateDelivery.Status.DELIVERED
    execution = wait_for_execution(started_execution)
    assert execution.status == "FAILED"
    assert execution.error == "CutoverRolledBack"
    assert weights_in_route53(environment) == {"us-east-1": 100, "eu-central-1": 0}
    rollback = ssm.parameter_get(target=environment.aws_target(), name=f"{gate.ssm_parameter}-rollback")
    assert json.loads(rollback.value)["Error"] == "Rejected"
    assert AuditEvent.objects.get(event_type="gate.reject").after["reason"] == "replication lag 2 s"


def test_delivery_is_sent_once_even_when_the_task_runs_twice(environment, started_execution, approver1):
    gate = wait_for_gate(environment, started_execution)
    services.gate_approve(gate=gate, actor=approver1)  # eager Celery: delivered on commit
    again = services.gate_delivery_send(delivery_id=gate.delivery.pk)
    assert again.status == GateDelivery.Status.DELIVERED
    assert again.attempts == 1
    assert AuditEvent.objects.filter(event_type="gate.delivered").count() == 1
    history = stepfunctions.execution_history(target=environment.aws_target(), execution_arn=started_execution.arn)
    assert gate_successes(history) == 1


def test_a_token_step_functions_no_longer_accepts_expires_the_gate(environment, started_execution, approver1):
    gate = wait_for_gate(environment, started_execution)
    # Another party failed the task (or it timed out); the execution ends in AWS before the
    # control plane has noticed.
    stepfunctions.task_failure(target=environment.aws_target(), task_token=gate.task_token, error="Other", cause="")
    for _ in range(50):
        status = stepfunctions.execution_describe(target=environment.aws_target(), execution_arn=started_execution.arn)
        if status.status != "RUNNING":
            break
        time.sleep(0.2)

    services.gate_approve(gate=gate, actor=approver1)

    gate.refresh_from_db()
    assert gate.status == Gate.Status.EXPIRED
    assert gate.delivery.status == GateDelivery.Status.GONE
    assert "no longer accepts" in gate.delivery.last_error
    failed = AuditEvent.objects.get(event_type="gate.delivery_failed")
    assert failed.outcome == "failure"


def test_two_approvers_clicking_at_once_deliver_once(environment, started_execution, approver1, approver2):
    gate = wait_for_gate(environment, started_execution)
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def click(person):
        barrier.wait()
        try:
            services.gate_approve(gate=gate, actor=person)
            outcomes[person.username] = "approved"
        except CutoverError as exc:
            outcomes[person.username] = f"refused: {exc}"
        except Exception as exc:  # noqa: BLE001 - a crash is a failure of this test, not a refusal
            outcomes[person.username] = f"crashed: {exc!r}"
        finally:
            connection.close()

    threads = [threading.Thread(target=click, args=(p,)) for p in (approver1, approver2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert sorted(outcomes.values()) == ["approved", "refused: This gate is approved; there is nothing to decide."], (
        outcomes
    )
    assert GateDelivery.objects.filter(gate=gate).count() == 1
    wait_for_gate(environment, started_execution)  # resumed once, to step 2
    history = stepfunctions.execution_history(target=environment.aws_target(), execution_arn=started_execution.arn)
    assert gate_successes(history) == 1


def test_lead_may_approve_someone_elses_cutover(environment, started_execution, lead):
    gate = wait_for_gate(environment, started_execution)
    services.gate_approve(gate=gate, actor=lead)
    assert wait_for_gate(environment, started_execution).step == 2


def test_when_the_execution_ends_its_waiting_gates_expire(environment, started_execution, approver1, client):
    gate = wait_for_gate(environment, started_execution)
    stepfunctions.execution_stop(
        target=environment.aws_target(), execution_arn=started_execution.arn, error="Stopped", cause="test"
    )
    stepfunctions.task_failure(target=environment.aws_target(), task_token=gate.task_token, error="Stopped", cause="")
    wait_for_execution(started_execution)
    gate.refresh_from_db()
    assert gate.status == Gate.Status.EXPIRED
    client.force_login(approver1)
    page = client.get(f"/gates/{gate.pk}/").content.decode()
    assert ">Approve</button>" not in page
    assert "Expired" in page
