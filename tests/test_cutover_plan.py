"""The phased cutover through the real state machine: a whole plan, four eyes, overrides,
rejection and rollback, stop, plan changes, the close-window gate."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from controlplane.aws import route53, ssm, stepfunctions
from migrations_app import deployments, services
from migrations_app.errors import CutoverError, NotAllowed
from migrations_app.models import Approval, Deployment, Execution, Gate
from migrations_app.statemachine import Plan, PlanStep
from reconciliation.models import Finding
from tests.conftest import drive, replication_latency_put, wait_for_execution, wait_for_gate

pytestmark = pytest.mark.django_db(transaction=True)


def weights(environment) -> dict[str, int]:
    records = route53.weighted_records_list(
        target=environment.aws_target(), hosted_zone_id=environment.hosted_zone_id, name=environment.record_name
    )
    return {r.set_identifier: r.weight for r in records}


def test_a_whole_plan_from_10_to_100_percent_and_the_window_close(environment, engineer, approver1, approver2):
    execution = services.execution_start(environment=environment, actor=engineer)
    assert execution.plan["steps"][-1] == {"target_weight": 100, "required_approvals": 2, "soak_seconds": 0}

    gate1 = wait_for_gate(environment, execution)
    assert (gate1.step, gate1.required_approvals, gate1.kind) == (1, 1, "step")
    services.gate_approve(gate=gate1, actor=approver1)

    gate2 = wait_for_gate(environment, execution)
    assert (gate2.step, gate2.required_approvals) == (2, 2)
    assert weights(environment) == {"us-east-1": 90, "eu-central-1": 10}
    services.gate_approve(gate=gate2, actor=approver1)
    gate2.refresh_from_db()
    assert gate2.status == Gate.Status.WAITING  # one of two
    with pytest.raises(CutoverError, match="already decided"):
        services.gate_approve(gate=gate2, actor=approver1)
    services.gate_approve(gate=gate2, actor=approver2)

    close = wait_for_gate(environment, execution)  # after the (one-second) post-cutover window
    assert close.kind == "close_window" and close.required_approvals == 2
    assert weights(environment) == {"us-east-1": 0, "eu-central-1": 100}
    finding = Finding.objects.create(environment=environment, kind="duplicate_debit", summary="tx-1 and tx-2")
    services.gate_evidence_request(gate=close)
    with pytest.raises(CutoverError, match="findings are open"):
        services.gate_approve(gate=close, actor=approver1, override_reason="we are sure")
    finding.status = Finding.Status.RESOLVED
    finding.save()
    services.gate_evidence_request(gate=close)
    services.gate_approve(gate=close, actor=approver1)
    services.gate_approve(gate=close, actor=approver2)

    assert wait_for_execution(execution).status == "SUCCEEDED"
    recorded = {
        p.name.rsplit("/", 1)[-1]: json.loads(p.value)
        for p in ssm.parameters_by_path(
            target=environment.aws_target(), path=f"/cutover/{environment.name}/{execution.name}"
        )
    }
    assert set(recorded) == {"Gate1", "Gate2", "CloseWindow"}
    assert [a["username"] for a in recorded["Gate2"]["approvers"]] == ["approver1", "approver2"]
    assert recorded["CloseWindow"]["kind"] == "close_window"


def test_a_failed_hard_check_blocks_and_an_override_needs_two(environment, started_execution, approver1, approver2):
    replication_latency_put(environment, 800.0)
    gate = wait_for_gate(environment, started_execution)
    check = gate.checks.get(key="replication_latency")
    assert check.verdict == "fail" and "800" in check.value

    with pytest.raises(CutoverError, match="Failed checks block this gate: DynamoDB replication latency"):
        services.gate_approve(gate=gate, actor=approver1)
    services.gate_approve(gate=gate, actor=approver1, override_reason="lag spike from a backfill, ended")
    gate.refresh_from_db()
    assert gate.status == Gate.Status.WAITING  # an override needs a second approver
    services.gate_approve(gate=gate, actor=approver2, override_reason="agree, backfill finished 12:03")
    gate.refresh_from_db()
    assert gate.status == Gate.Status.APPROVED
    assert all(a.override for a in gate.approvals.all())
    assert gate.delivery.payload["override"] is True
    events = AuditEvent.objects.filter(event_type="gate.approve", target_id=str(gate.pk)).order_by("id")
    assert [e.after["override"] for e in events] == [True, True]
    assert events[0].after["failed_checks"] == ["DynamoDB replication latency"]


def test_drift_after_a_manual_weight_change_blocks_the_next_gate(environment, started_execution, approver1):
    gate = wait_for_gate(environment, started_execution)
    route53.weighted_records_upsert(
        target=environment.aws_target(),
        hosted_zone_id=environment.hosted_zone_id,
        name=environment.record_name,
        record_type="CNAME",
        ttl=60,
        records={"us-east-1": (70, environment.source_endpoint), "eu-central-1": (30, environment.target_endpoint)},
    )
    services.gate_evidence_request(gate=gate)
    drift = gate.checks.get(key="weight_drift")
    assert drift.verdict == "fail"
    assert "70" in drift.value and "30" in drift.value
    with pytest.raises(CutoverError, match="Route 53 weights match the state machine"):
        services.gate_approve(gate=gate, actor=approver1)


def test_a_rejection_rolls_the_weights_back_to_the_last_approved_step(
    environment, started_execution, approver1, approver2
):
    services.gate_approve(gate=wait_for_gate(environment, started_execution), actor=approver1)
    gate2 = wait_for_gate(environment, started_execution)
    assert weights(environment) == {"us-east-1": 90, "eu-central-1": 10}
    # Someone moved traffic by hand meanwhile; the rollback restores the last approved weights.
    route53.weighted_records_upsert(
        target=environment.aws_target(),
        hosted_zone_id=environment.hosted_zone_id,
        name=environment.record_name,
        record_type="CNAME",
        ttl=60,
        records={"us-east-1": (50, environment.source_endpoint), "eu-central-1": (50, environment.target_endpoint)},
    )
    services.gate_reject(gate=gate2, actor=approver2, reason="error rate up 3x in eu-central-1")

    execution = wait_for_execution(started_execution)
    assert execution.status == "FAILED" and execution.error == "CutoverRolledBack"
    assert weights(environment) == {"us-east-1": 90, "eu-central-1": 10}
    rollback = ssm.parameter_get(target=environment.aws_target(), name=f"{gate2.ssm_parameter}-rollback")
    assert json.loads(rollback.value)["Error"] == "Rejected"
    assert AuditEvent.objects.get(event_type="gate.reject").after["reason"] == "error rate up 3x in eu-central-1"


def test_an_approver_without_a_fresh_sign_in_is_sent_to_sign_in_again(
    client, environment, started_execution, approver1
):
    gate = wait_for_gate(environment, started_execution)
    approver1.idp_authenticated_at = timezone.now() - timedelta(minutes=20)
    approver1.save()
    client.force_login(approver1)
    page = client.get(reverse("gate-detail", args=[gate.pk])).content.decode()
    assert "ask you to sign in again" in page
    response = client.post(reverse("gate-decide", args=[gate.pk]), {"decision": "approve"})
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/oidc/sandbox/login/?next=/gates/{gate.pk}/"
    assert not Approval.objects.exists()
    with pytest.raises(services.ReauthenticationRequired):
        services.gate_reject(gate=gate, actor=approver1, reason="no")


def test_an_engineer_stops_a_cutover_with_a_reason(client, environment, started_execution, engineer, approver1):
    gate = wait_for_gate(environment, started_execution)
    with pytest.raises(NotAllowed):
        services.execution_stop(execution=started_execution, actor=approver1, reason="x")
    client.force_login(engineer)
    client.post(reverse("execution-stop", args=[started_execution.pk]), {"reason": ""})
    assert Execution.objects.get(pk=started_execution.pk).status == "RUNNING"

    client.post(reverse("execution-stop", args=[started_execution.pk]), {"reason": "bank holiday traffic"})

    execution = Execution.objects.get(pk=started_execution.pk)
    assert execution.status == "ABORTED" and execution.stop_reason == "bank holiday traffic"
    gate.refresh_from_db()
    assert gate.status == Gate.Status.EXPIRED
    status = stepfunctions.execution_describe(target=environment.aws_target(), execution_arn=execution.arn)
    assert status.status in ("ABORTED", "FAILED")
    page = client.get(reverse("execution-detail", args=[execution.pk])).content.decode()
    assert "bank holiday traffic" in page
    assert AuditEvent.objects.get(event_type="execution.stop").actor == engineer


def test_a_plan_change_is_a_recorded_redeploy_of_the_state_machine(environment, engineer):
    plan = Plan(
        steps=[
            PlanStep(target_weight=5),
            PlanStep(target_weight=50, soak_seconds=30),
            PlanStep(100, required_approvals=2),
        ],
        window_seconds=3600,
    )
    row = services.plan_update(environment=environment, actor=engineer, plan=plan)
    assert row.version == 2
    deployment = environment.deployments.order_by("-created_at").first()
    assert list(deployment.stacks.values_list("stack_key", flat=True)) == ["orchestration"]
    deployment = drive(deployment)
    assert deployment.status == Deployment.Status.AWAITING_CONFIRMATION  # a person sees the change set
    stack = deployment.stacks.get()
    assert any(c["logical_id"] == "StateMachine" and c["action"] == "Modify" for c in stack.changes)
    deployments.stack_deployment_confirm(stack=stack, actor=engineer)
    assert drive(deployment).status == Deployment.Status.SUCCEEDED
    environment.refresh_from_db()
    assert environment.deployed_plan == row
    from controlplane.aws.clients import client as aws_client

    definition = json.loads(
        aws_client("stepfunctions", environment.aws_target()).describe_state_machine(
            stateMachineArn=environment.state_machine_arn
        )["definition"]
    )
    assert [s for s in definition["States"] if s.startswith("Gate")] == ["Gate1", "Gate2", "Gate3"]
    assert definition["States"]["Soak2"]["Seconds"] == 30
    assert definition["States"]["Window"]["Seconds"] == 3600
    assert AuditEvent.objects.get(event_type="plan.update").after["version"] == 2


@pytest.mark.parametrize(
    "plan, message",
    [
        (Plan(steps=[]), "at least one step"),
        (Plan(steps=[PlanStep(10), PlanStep(50)]), "last step must send 100 %"),
        (Plan(steps=[PlanStep(50), PlanStep(10), PlanStep(100)]), "goes back from 50 %"),
        (Plan(steps=[PlanStep(300), PlanStep(100)]), "outside 0..100"),
        (Plan(steps=[PlanStep(100, required_approvals=0)]), "required approvals"),
    ],
)
def test_an_invalid_plan_is_refused_with_its_reason(environment, engineer, plan, message):
    with pytest.raises(CutoverError, match=message):
        services.plan_update(environment=environment, actor=engineer, plan=plan)
    assert environment.plans.count() == 1


def test_a_plan_cannot_change_under_a_running_cutover(environment, started_execution, engineer):
    with pytest.raises(CutoverError, match="running"):
        services.plan_update(environment=environment, actor=engineer, plan=Plan(steps=[PlanStep(100)]))


def test_stopping_an_execution_aws_no_longer_knows_closes_it_here(environment, started_execution, engineer):
    """After a sandbox restart (or a deletion by hand) StopExecution answers
    ExecutionDoesNotExist: the record is closed anyway, and the audit entry says so."""
    wait_for_gate(environment, started_execution)
    missing_arn = started_execution.arn.replace(started_execution.name, "gone-" + started_execution.name)
    Execution.objects.filter(pk=started_execution.pk).update(arn=missing_arn)

    execution = services.execution_stop(execution=started_execution, actor=engineer, reason="sandbox was reset")

    assert execution.status == "ABORTED"
    event = AuditEvent.objects.get(event_type="execution.stop")
    assert event.after["aws"] == "not found in Step Functions"
