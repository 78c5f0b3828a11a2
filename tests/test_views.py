"""Pages: who may see and do what, what they see, and that the task token never shows."""

from __future__ import annotations

import logging

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from migrations_app import services
from migrations_app.models import Gate
from tests.conftest import wait_for_gate

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def gate(environment, started_execution):
    return wait_for_gate(environment, started_execution)


def get_as(client, user, url):
    client.force_login(user)
    return client.get(url)


def test_anonymous_visitors_are_sent_to_sso(client, gate):
    response = client.get(reverse("gate-detail", args=[gate.pk]))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/oidc/sandbox/login/?next=")


def test_admin_login_goes_through_sso_too(client):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/oidc/sandbox/login/?next=/admin/"


def test_password_login_is_off_even_for_a_user_with_a_password(client, engineer):
    engineer.set_password("correct horse battery staple")
    engineer.save()
    client.post("/accounts/login/", {"login": "engineer", "password": "correct horse battery staple"})
    assert "_auth_user_id" not in client.session
    client.post("/admin/login/", {"username": "engineer", "password": "correct horse battery staple"})
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize(
    "url_name",
    ["home", "gate-detail", "gate-live", "execution-detail", "execution-live", "environment-detail", "audit-log"],
)
def test_outsider_is_refused_everywhere(client, outsider, gate, url_name):
    args = {
        "gate-detail": [gate.pk],
        "gate-live": [gate.pk],
        "execution-detail": [gate.execution_id],
        "execution-live": [gate.execution_id],
        "environment-detail": [gate.execution.environment.name],
    }.get(url_name, [])
    response = get_as(client, outsider, reverse(url_name, args=args))
    assert response.status_code == 403
    assert b"Not allowed" in response.content


def test_outsider_cannot_approve(client, outsider, gate):
    client.force_login(outsider)
    response = client.post(reverse("gate-decide", args=[gate.pk]), {"decision": "approve"})
    assert response.status_code == 403
    gate.refresh_from_db()
    assert gate.status == Gate.Status.WAITING


def test_approver_sees_evidence_and_buttons(client, approver1, gate):
    response = get_as(client, approver1, reverse("gate-detail", args=[gate.pk]))
    page = response.content.decode()
    assert response.status_code == 200
    assert "send 10 % of traffic to eu-central-1" in page
    assert "DynamoDB replication latency" in page
    assert "us-east-1: 90 %" in page
    assert ">Approve</button>" in page
    assert ">Reject</button>" in page


@pytest.mark.parametrize("who", ["auditor", "engineer"])
def test_non_approvers_see_the_gate_without_buttons(request, client, gate, who):
    user = request.getfixturevalue(who) if who == "auditor" else gate.execution.started_by
    response = get_as(client, user, reverse("gate-detail", args=[gate.pk]))
    assert response.status_code == 200
    assert ">Approve</button>" not in response.content.decode()


def test_the_starter_is_told_why_they_cannot_approve(client, environment, lead):
    execution = services.execution_start(environment=environment, actor=lead)
    gate = wait_for_gate(environment, execution)
    response = get_as(client, lead, reverse("gate-detail", args=[gate.pk]))
    assert ">Approve</button>" not in response.content.decode()
    assert "someone else must approve it" in response.content.decode()
    # And posting anyway is refused by the service, not only hidden.
    response = client.post(reverse("gate-decide", args=[gate.pk]), {"decision": "approve"})
    assert response.status_code == 403
    assert "four-eyes" in response.content.decode()


def test_approving_from_the_page_shows_who_and_when(client, approver1, gate):
    client.force_login(approver1)
    response = client.post(
        reverse("gate-decide", args=[gate.pk]), {"decision": "approve", "comment": "all green"}, follow=True
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "Alice Approver" in page
    assert "approver1@example.com" in page
    assert "Delivered" in page
    assert "all green" in page
    wait_for_gate(gate.execution.environment, gate.execution)  # step 2 arrived: the execution resumed
    page = client.get(reverse("execution-detail", args=[gate.execution_id])).content.decode()
    assert "gate.approve" in page and "gate.delivered" in page


def test_reject_without_a_reason_is_refused_with_a_message(client, approver1, gate):
    client.force_login(approver1)
    response = client.post(reverse("gate-decide", args=[gate.pk]), {"decision": "reject", "reason": ""})
    assert response.status_code == 400
    assert "needs a reason" in response.content.decode()
    gate.refresh_from_db()
    assert gate.status == Gate.Status.WAITING


def test_engineer_starts_a_cutover_from_the_environment_page(client, environment, engineer):
    client.force_login(engineer)
    response = client.post(reverse("execution-start", args=[environment.name]), follow=True)
    assert response.status_code == 200
    assert "is starting" in response.content.decode()
    assert AuditEvent.objects.filter(event_type="execution.start", actor=engineer).count() == 1


def test_approvers_cannot_start_a_cutover(client, environment, approver1):
    client.force_login(approver1)
    response = client.post(reverse("execution-start", args=[environment.name]))
    assert response.status_code == 403


def test_a_second_cutover_of_the_same_environment_is_refused(client, started_execution, engineer):
    client.force_login(engineer)
    response = client.post(reverse("execution-start", args=[started_execution.environment.name]), follow=True)
    assert "already running" in response.content.decode()


def test_task_token_is_in_no_page_and_no_log_line(client, caplog, engineer, approver1, auditor, environment):
    """A whole cutover, every page rendered for every role, every log record captured."""
    caplog.set_level(logging.DEBUG)
    client.force_login(engineer)
    client.post(reverse("execution-start", args=[environment.name]))
    execution = environment.executions.get()
    gate = wait_for_gate(environment, execution)
    token = gate.task_token
    assert len(token) >= 16

    pages = []
    for user in (engineer, approver1, auditor):
        client.force_login(user)
        for url in (
            reverse("home"),
            reverse("environment-detail", args=[environment.name]),
            reverse("execution-detail", args=[execution.pk]),
            reverse("execution-live", args=[execution.pk]),
            reverse("gate-detail", args=[gate.pk]),
            reverse("gate-live", args=[gate.pk]),
            reverse("audit-log"),
        ):
            response = client.get(url)
            assert response.status_code == 200, url
            pages.append(response.content.decode())
    client.force_login(approver1)
    response = client.post(reverse("gate-decide", args=[gate.pk]), {"decision": "approve"}, follow=True)
    pages.append(response.content.decode())
    for url in [response.redirect_chain[-1][0]]:
        assert token not in url
    wait_for_gate(environment, execution)

    assert all(token not in page for page in pages)
    assert token not in caplog.text
    assert all(token not in str(e.before) + str(e.after) for e in AuditEvent.objects.all())
    assert token not in repr(gate)
