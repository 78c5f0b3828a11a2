"""Auditors browse and filter the trail in the browser; the CSV export streams and is audited."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.exports import content_from_csv_row
from audit.models import AuditEvent, content_hash
from audit.origin import Origin, origin_set, system_origin
from audit.selectors import audit_event_filter
from audit.services import audit_record

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def _at(moment: datetime, **kwargs) -> AuditEvent:
    """An entry written at ``moment`` (the clock is what the service reads)."""
    from unittest import mock

    with mock.patch("audit.services.timezone.now", return_value=moment):
        return audit_record(**kwargs)


@pytest.fixture
def trail(engineer, approver1):
    with system_origin("test"):
        return {
            "deploy_eu": _at(T0, actor=engineer, event_type="deployment.confirm", target_repr="stack data eu", region="eu-central-1"),
            "deploy_us": _at(T0 + timedelta(minutes=5), actor=engineer, event_type="deployment.confirm", target_repr="stack data us", region="us-east-1"),
            "approve": _at(T0 + timedelta(minutes=10), actor=approver1, event_type="gate.approve", target_repr="x1 / Step1"),
            "reject": _at(T0 + timedelta(hours=2), actor=approver1, event_type="gate.reject", target_repr="x1 / Step2", outcome="failure"),
        }  # fmt: skip


def _ids(qs) -> list[int]:
    return list(qs.values_list("id", flat=True))


def test_filters(trail):
    t = trail
    assert _ids(audit_event_filter(start=T0 + timedelta(minutes=5), end=T0 + timedelta(hours=1))) == [
        t["approve"].pk, t["deploy_us"].pk,
    ]  # fmt: skip
    assert _ids(audit_event_filter(actor="Alice")) == [t["reject"].pk, t["approve"].pk]
    assert _ids(audit_event_filter(actor="engineer")) == [t["deploy_us"].pk, t["deploy_eu"].pk]  # username
    assert _ids(audit_event_filter(actor="user-approver1")) == [t["reject"].pk, t["approve"].pk]  # IdP subject
    assert _ids(audit_event_filter(event_type="gate.")) == [t["reject"].pk, t["approve"].pk]
    assert _ids(audit_event_filter(event_type="gate")) == []  # exact unless it ends with a dot
    assert _ids(audit_event_filter(target="step2")) == [t["reject"].pk]
    assert _ids(audit_event_filter(region="eu-central-1")) == [t["deploy_eu"].pk]
    assert _ids(audit_event_filter(region="-")) == [t["reject"].pk, t["approve"].pk]
    assert _ids(audit_event_filter(outcome="failure")) == [t["reject"].pk]


def test_page_filters_and_paginates(client, auditor, trail, settings):
    settings.AUDIT_PAGE_SIZE = 2
    client.force_login(auditor)
    page1 = client.get("/audit/", {"event_type": "deployment.confirm"}).content.decode()
    assert "stack data us" in page1 and "stack data eu" in page1 and "x1 / Step1" not in page1
    everything = client.get("/audit/").content.decode()
    assert "page 1 of 2" in everything and "x1 / Step2" in everything and "stack data eu" not in everything
    last = client.get("/audit/", {"page": 2}).content.decode()
    assert "stack data eu" in last
    assert client.get("/audit/", {"page": "nonsense"}).status_code == 200  # first page
    filtered = client.get("/audit/", {"region": "eu-central-1", "start": "2026-11-20T09:00"}).content.decode()
    assert "1 entry" in filtered and "stack data eu" in filtered


def test_one_page_costs_two_queries(client, auditor, trail):
    from django.core.paginator import Paginator

    from audit.selectors import audit_event_filter

    with CaptureQueriesContext(connection) as queries:
        page = Paginator(audit_event_filter(actor="Alice"), 50).get_page(1)
        list(page.object_list)
    assert len(queries) == 2  # the count and the page


def test_bad_filter_is_a_clear_400(client, auditor, trail):
    client.force_login(auditor)
    response = client.get("/audit/", {"start": "2026-11-20T12:00", "end": "2026-11-20T10:00"})
    assert response.status_code == 400 and "must be after" in response.content.decode()
    response = client.get("/audit/", {"start": "yesterday"})
    assert response.status_code == 400 and "Enter a valid date/time" in response.content.decode()
    assert client.get("/audit/export.csv", {"start": "yesterday"}).status_code == 400


def test_outsider_gets_nothing(client, outsider, trail):
    client.force_login(outsider)
    assert client.get("/audit/").status_code == 403
    assert client.get("/audit/export.csv").status_code == 403
    assert not AuditEvent.objects.filter(event_type="audit.exported").exists()


def test_csv_export_streams_every_hashed_field_and_is_audited(client, auditor, trail):
    client.force_login(auditor)
    response = client.get("/audit/export.csv", {"actor": "Alice"}, HTTP_USER_AGENT="auditor-browser")
    assert response.status_code == 200 and response.streaming
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [int(r["id"]) for r in rows] == [trail["approve"].pk, trail["reject"].pk]  # id order
    for row in rows:
        assert content_hash(content_from_csv_row(row)) == row["hash"]
    exported = AuditEvent.objects.get(event_type="audit.exported")
    assert exported.actor == auditor and exported.after == {"actor": "Alice"}
    assert exported.user_agent == "auditor-browser"


def test_nav_shows_audit_and_reports_by_role(client, auditor, engineer, outsider):
    client.force_login(auditor)
    page = client.get("/audit/").content.decode()
    assert 'href="/audit/"' in page and 'href="/reports/"' in page
    client.force_login(engineer)
    page = client.get("/audit/").content.decode()
    assert 'href="/audit/"' in page and 'href="/reports/"' not in page


def test_sign_out_and_failed_sign_in_are_audited(client, auditor):
    from controlplane.accounts.services import user_sso_sign_in_failed

    client.force_login(auditor)
    client.post("/accounts/logout/", HTTP_USER_AGENT="browser-1")
    out = AuditEvent.objects.get(event_type="auth.sign_out")
    assert out.actor == auditor and out.user_agent == "browser-1" and out.actor_subject == "user-auditor"
    with origin_set(Origin(ip="192.0.2.7", user_agent="curl", request_id="req-9")):
        user_sso_sign_in_failed(provider="sandbox", error="denied", detail="access_denied")
    failed = AuditEvent.objects.get(event_type="auth.sign_in", outcome="failure")
    assert (failed.actor, failed.ip, failed.request_id, failed.after["error"]) == (None, "192.0.2.7", "req-9", "denied")


def test_admin_shows_no_delete_action_to_an_approver_with_staff_rights(client, approver1, trail):
    approver1.is_staff = True
    approver1.is_superuser = True
    approver1.save()
    client.force_login(approver1)
    listing = client.get("/admin/audit/auditevent/").content.decode()
    assert "delete_selected" not in listing
    assert client.post(f"/admin/audit/auditevent/{trail['approve'].pk}/delete/", {"post": "yes"}).status_code == 403


def test_an_abandoned_export_leaves_the_connection_usable(monkeypatch, trail):
    """A browser that stops reading mid-download closes the generator inside COPY."""
    import audit.exports
    from audit.exports import audit_csv_chunks

    monkeypatch.setattr(audit.exports, "CHUNK_BYTES", 10)  # one chunk per row
    chunks = audit_csv_chunks(AuditEvent.objects.all())
    next(chunks)
    next(chunks)
    chunks.close()
    assert AuditEvent.objects.count() == 4
