"""No task token, API token or secret in any page, URL, log line, e-mail or audit row, through a
whole cutover in the sandbox: started from the page, three gates (10 %, 100 %, the window close)
approved from pages and through the API, the watchdog e-mailing about a late gate, every page
and API read rendered for every role on the way. Every log record of every logger is captured at
DEBUG, botocore's request bodies included (those carry the task tokens: the console handler's
redaction filter must blank them, and the test formats each record through that same filter).
"""

from __future__ import annotations

import json
import logging
import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from audit.models import AuditEvent
from controlplane.api.etag import gate_etag
from controlplane.aws import stepfunctions
from controlplane.log_redaction import SecretRedactingFilter
from migrations_app.models import Gate
from tests.conftest import wait_for_execution, wait_for_gate

pytestmark = pytest.mark.django_db(transaction=True)

LOUD = ("", "botocore", "boto3", "urllib3", "celery", "kombu", "django", "django.request", "migrations_app", "audit")


class Recorder:
    """Every page body, every URL asked for or redirected to, in one place."""

    def __init__(self):
        self.pages: list[str] = []
        self.urls: list[str] = []

    def keep(self, path: str, response) -> None:
        self.urls.append(path)
        if response.has_header("Location"):
            self.urls.append(response["Location"])
        if not getattr(response, "streaming", False):
            self.pages.append(response.content.decode(errors="replace"))
        for name, value in response.items():
            self.pages.append(f"{name}: {value}")


def _pages_for(execution, gate, environment) -> list[str]:
    return [
        reverse("home"),
        reverse("profile"),
        reverse("environment-detail", args=[environment.name]),
        reverse("deployment-live", args=[environment.name]),
        reverse("execution-detail", args=[execution.pk]),
        reverse("execution-live", args=[execution.pk]),
        reverse("gate-detail", args=[gate.pk]),
        reverse("gate-live", args=[gate.pk]),
        reverse("audit-log"),
        reverse("audit-export"),
        reverse("dashboard", args=[environment.name]),
        reverse("dashboard-status", args=[environment.name]),
        reverse("report-list"),
        "/api/v1/gates/",
        f"/api/v1/gates/{gate.pk}/",
        f"/api/v1/executions/{execution.pk}/",
        f"/api/v1/executions/{execution.pk}/timeline/",
        "/api/v1/audit-events/",
    ]


def test_no_token_or_secret_anywhere_through_a_whole_cutover(
    caplog, environment, engineer, approver1, approver2, auditor, settings
):
    redaction = SecretRedactingFilter()
    caplog.handler.addFilter(redaction)  # what the console handler of settings.LOGGING does
    for name in LOUD:
        caplog.set_level(logging.DEBUG, logger=name or None)
    seen = Recorder()
    clients = {}
    for user in (engineer, approver1, approver2, auditor):
        clients[user.username] = Client()
        clients[user.username].force_login(user)

    def get_all(execution, gate, who=("engineer", "approver1", "approver2", "auditor")):
        for client in (clients[w] for w in who):
            for url in _pages_for(execution, gate, environment):
                response = client.get(url)
                assert response.status_code in (200, 403), (url, response.status_code)
                seen.keep(url, response)

    # An API token for approver2, made on the profile page (the one response that shows it).
    issued = clients["approver2"].post(reverse("token-create"), {"name": "pipeline", "expires_in_days": "1"})
    assert issued.status_code == 201
    api_secret = re.search(r'data-testid="token-secret">(cpt_[^<]+)<', issued.content.decode()).group(1)
    seen.urls.append(reverse("token-create"))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {api_secret}")

    start = clients["engineer"].post(reverse("execution-start", args=[environment.name]))
    seen.keep(reverse("execution-start", args=[environment.name]), start)
    execution = environment.executions.get()

    # Gate 1 (10 %): seen by everyone, the watchdog e-mails about it, approved from the page.
    gate1 = wait_for_gate(environment, execution)
    get_all(execution, gate1)
    settings.GATE_SLA_SECONDS = 0
    from migrations_app.watchdog import cutover_watchdog

    cutover_watchdog(environment=environment)
    settings.GATE_SLA_SECONDS = 3600
    decided = clients["approver1"].post(reverse("gate-decide", args=[gate1.pk]), {"decision": "approve"}, follow=True)
    seen.keep(reverse("gate-decide", args=[gate1.pk]), decided)
    seen.urls.extend(url for url, _ in decided.redirect_chain)

    # Gate 2 (100 %, two approvers): one from the page, one through the API with the token.
    gate2 = wait_for_gate(environment, execution)
    get_all(execution, gate2, who=("approver2",))
    seen.keep("/api/", clients["approver1"].post(reverse("gate-decide", args=[gate2.pk]), {"decision": "approve"}))
    gate2.refresh_from_db()
    path = f"/api/v1/gates/{gate2.pk}/approve/"
    response = api.post(path, {"comment": "from the pipeline"}, format="json", HTTP_IF_MATCH=gate_etag(gate2))
    assert response.status_code == 200, response.content
    seen.keep(path, response)

    # The window close: two approvals, then the execution ends.
    close = wait_for_gate(environment, execution)
    get_all(execution, close, who=("approver1",))
    for who in ("approver1", "approver2"):
        seen.keep("/gates/", clients[who].post(reverse("gate-decide", args=[close.pk]), {"decision": "approve"}))
    assert wait_for_execution(execution).status == "SUCCEEDED"
    get_all(execution, close, who=("engineer", "auditor"))
    for url in _pages_for(execution, close, environment)[-5:]:
        response = api.get(url)
        assert response.status_code == 200, url
        seen.keep(url, response)

    task_tokens = [g.task_token for g in Gate.objects.filter(execution=execution)]
    assert len(task_tokens) == 3 and all(len(t) >= 16 for t in task_tokens)
    # The same tokens as Step Functions handed them to the gate queue (TaskScheduled parameters).
    history = stepfunctions.execution_history(target=environment.aws_target(), execution_arn=execution.arn)
    scheduled = [json.loads(e.details["parameters"]) for e in history if e.type == "TaskScheduled"]
    assert {p["MessageBody"]["taskToken"] for p in scheduled if "taskToken" in p.get("MessageBody", {})} == set(
        task_tokens
    )
    secrets = {
        **{f"task token of gate {i + 1}": t for i, t in enumerate(task_tokens)},
        "API token": api_secret,
        "API token secret part": api_secret.rsplit("_", 1)[-1],
        "SECRET_KEY": settings.SECRET_KEY,
        "SSO client secret": settings.SSO_CLIENT_SECRET,
    }
    assert mail.outbox, "the watchdog e-mailed nobody: the e-mail channel was not exercised"
    emails = [f"{m.subject}\n{m.body}\n{m.to}\n{m.alternatives}" for m in mail.outbox]
    log_lines = [caplog.text, *(r.getMessage() for r in caplog.records)]
    audit_rows = [f"{e.before} {e.after} {e.target_repr}" for e in AuditEvent.objects.all()]
    assert len(seen.pages) > 100 and len(log_lines) > 50

    where = {"page": seen.pages, "URL": seen.urls, "log line": log_lines, "e-mail": emails, "audit row": audit_rows}
    leaks = [
        f"{what} in a {kind}" for what, secret in secrets.items() for kind, texts in where.items()
        if any(secret in text for text in texts)
    ]  # fmt: skip
    assert leaks == []
    # The filter did real work: botocore logged the SendTaskSuccess bodies, with the token blanked.
    assert "taskToken" in caplog.text and "[redacted]" in caplog.text
    assert "redact_secrets" in settings.LOGGING["handlers"]["console"]["filters"]


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ('{"taskToken": "tok-1", "output": "{}"}', "tok-1"),
        ("{'taskToken': 'tok-2'}", "tok-2"),
        (r'"Body": "{\\"kind\\": \\"step\\", \\"taskToken\\": \\"tok-3\\", \\"x\\": 1}"', "tok-3"),
        ("sendTaskSuccess?taskToken=tok-4&x=1", "tok-4"),
        ("task_token=tok-5", "tok-5"),
        ("Authorization: Bearer cpt_0123456789ab_" + "s" * 43, "s" * 43),
        ("token cpt_0123456789ab_" + "t" * 43 + " refused", "t" * 43),
    ],
)
def test_the_redaction_filter_blanks_each_shape_of_credential(line, secret):
    record = logging.LogRecord("botocore.endpoint", logging.DEBUG, __file__, 1, "params: %s", (line,), None)
    assert SecretRedactingFilter().filter(record) is True
    assert secret not in record.getMessage()
    assert "[redacted]" in record.getMessage()
