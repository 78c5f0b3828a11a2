"""Never lose or park a token: the history sweep, expiry, the stuck-token watchdog, alerts."""

from __future__ import annotations

import time

import pytest
from django.core import mail

from audit.models import AuditEvent
from controlplane.aws import cloudwatch, sqs
from migrations_app import services, watchdog
from migrations_app.models import Alert, Gate
from tests.conftest import deploy_all, replication_latency_put, wait_for_execution, wait_for_gate

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_gate_whose_message_was_lost_is_recovered_from_the_history(environment, engineer, approver1):
    execution = services.execution_start(environment=environment, actor=engineer)
    # The message arrives and is lost (deleted unread) before the consumer sees it.
    deadline = time.monotonic() + 10
    lost = []
    while not lost and time.monotonic() < deadline:
        lost = sqs.messages_receive(
            target=environment.aws_target(), queue_url=environment.gate_queue_url, wait_seconds=1
        )
    for message in lost:
        sqs.message_delete(
            target=environment.aws_target(), queue_url=environment.gate_queue_url, receipt_handle=message.receipt_handle
        )
    assert lost and not Gate.objects.exists()

    report = watchdog.cutover_watchdog(environment=environment)

    assert report.gates_recovered == 1
    gate = Gate.objects.get(execution=execution)
    assert gate.status == Gate.Status.WAITING and gate.task_token
    assert AuditEvent.objects.get(event_type="gate.recovered").after["source"] == "execution history"
    # A second sweep finds the gate already there.
    assert watchdog.cutover_watchdog(environment=environment).gates_recovered == 0
    services.gate_approve(gate=gate, actor=approver1)
    assert wait_for_gate(environment, execution).step == 2


def test_an_expired_token_expires_the_gate_and_alerts_once(settings, empty_environment, engineer, approver1, approver2):
    settings.GATE_TIMEOUT_SECONDS = 2  # baked into the state machine at deploy time
    assert deploy_all(empty_environment).status == "succeeded"
    env = empty_environment
    env.refresh_from_db()
    replication_latency_put(env)
    execution = services.execution_start(environment=env, actor=engineer)
    gate = wait_for_gate(env, execution)
    time.sleep(3)  # nobody decides in time: Step Functions times the task out and rolls back
    assert wait_for_execution(execution).status == "FAILED"
    gate.refresh_from_db()
    assert gate.status == Gate.Status.EXPIRED

    mail.outbox.clear()
    first = watchdog.cutover_watchdog(environment=env)
    second = watchdog.cutover_watchdog(environment=env)

    assert first.alerts == ["gate_expired"] and second.alerts == []
    alert = Alert.objects.get(kind="gate_expired")
    assert alert.level == "critical" and f"Gate {gate.step}" in alert.message
    assert [m.to for m in mail.outbox] == [["engineer@example.com"]]
    assert gate.task_token not in mail.outbox[0].body
    assert alert.notified["sns_message_id"]
    with pytest.raises(services.CutoverError, match="expired"):
        services.gate_approve(gate=gate, actor=approver1)


def test_a_gate_waiting_past_its_sla_alerts_once_per_threshold_and_escalates(
    settings, environment, started_execution, approver1, approver2, client
):
    gate = wait_for_gate(environment, started_execution)
    settings.GATE_SLA_SECONDS = 0
    settings.GATE_ESCALATE_SECONDS = 3600
    mail.outbox.clear()

    assert watchdog.cutover_watchdog(environment=environment).alerts == ["gate_waiting:warning"]
    assert watchdog.cutover_watchdog(environment=environment).alerts == []
    settings.GATE_ESCALATE_SECONDS = 0
    assert watchdog.cutover_watchdog(environment=environment).alerts == ["gate_waiting:critical"]
    assert watchdog.cutover_watchdog(environment=environment).alerts == []

    assert sorted(Alert.objects.filter(kind="gate_waiting").values_list("level", flat=True)) == ["critical", "warning"]
    assert {tuple(m.to) for m in mail.outbox} == {("approver1@example.com", "approver2@example.com")}
    assert len(mail.outbox) == 2
    client.force_login(approver1)
    assert "has waited" in client.get("/").content.decode()  # the banner
    # The metric the orchestration stack's alarm watches.
    points = cloudwatch.metric_statistics(
        target=environment.aws_target(),
        namespace="CutoverControlPlane",
        metric="OldestGateAgeSeconds",
        dimensions={"Environment": environment.name},
        start=gate.arrived_at.replace(microsecond=0) - __import__("datetime").timedelta(minutes=1),
        end=gate.arrived_at + __import__("datetime").timedelta(minutes=10),
        period=60,
        statistics=["Maximum"],
    )
    assert points and points[-1].maximum >= 0
    # Deciding the gate resolves its alerts.
    services.gate_approve(gate=gate, actor=approver1)
    watchdog.cutover_watchdog(environment=environment)
    assert not Alert.objects.filter(kind="gate_waiting", resolved_at=None).exists()


def test_an_execution_running_with_no_open_gate_alerts_and_escalates(settings, environment, started_execution):
    """Step Functions still waits on a task the control plane holds no open gate for (here: the
    gate was closed by hand in the database), outside any soak or window wait."""
    gate = wait_for_gate(environment, started_execution)
    Gate.objects.filter(pk=gate.pk).update(status=Gate.Status.EXPIRED, expired_reason="cutover stopped by test")
    settings.EXECUTION_NO_GATE_SECONDS = 0

    report = watchdog.cutover_watchdog(environment=environment)

    assert report.gates_recovered == 0  # the gate exists (closed): the sweep does not duplicate it
    assert report.alerts == ["execution_without_gate:warning", "execution_without_gate:critical"]
    alert = Alert.objects.get(kind="execution_without_gate", level="warning")
    assert started_execution.name in alert.message and "no open gate" in alert.message
    assert watchdog.cutover_watchdog(environment=environment).alerts == []
