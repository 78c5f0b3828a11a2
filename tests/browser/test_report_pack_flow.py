"""The auditor's path: sign in through the IdP, request a pack, watch it build, download it,
and the manifest verifies; the outsider is refused."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from audit.manifest import pack_verify
from audit.models import AuditEvent, ReportPack
from migrations_app.models import Environment
from tests.browser.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def reports_dir(settings, tmp_path):
    settings.REPORTS_DIR = tmp_path / "reports"
    settings.REPORT_SIGNING_KEY = "browser-test-key"


def test_auditor_requests_downloads_and_verifies_a_pack(new_page, live_server, tmp_path):
    Environment.objects.create(name="prod", hosted_zone_name="prod.example.com", record_name="api.prod.example.com")
    page = new_page()
    sign_in(page, live_server, "auditor", next_path="/reports/")
    assert page.get_by_test_id("signed-in-as").inner_text() == "Dana Auditor"
    assert page.get_by_role("link", name="Reports").is_visible()
    # The default period is the last 24 hours; reach an hour ahead so the request itself is in it.
    later = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    page.fill("input[name=period_end]", later)
    page.click("button:has-text('Request pack')")
    page.wait_for_url("**/reports/*/")
    page.get_by_test_id("report-state").filter(has_text="Ready").wait_for()
    with page.expect_download() as download_info:
        page.get_by_test_id("report-download").click()
    download = download_info.value
    assert download.suggested_filename.startswith("report-pack-prod-all-") and download.suggested_filename.endswith(
        ".zip"
    )
    path = tmp_path / download.suggested_filename
    download.save_as(path)

    assert pack_verify(path).ok
    out = io.StringIO()
    call_command("report_verify", str(path), stdout=out)
    assert "verified" in out.getvalue()
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        trail = zf.read("audit_events.csv").decode()
    assert manifest["requested_by"]["username"] == "auditor"
    assert manifest["requested_by"]["idp_subject"]  # the IdP's subject, from the real sign-in
    assert "auth.sign_in" in trail and "report.requested" in trail
    pack = ReportPack.objects.get()
    downloaded = AuditEvent.objects.get(event_type="report.downloaded")
    assert downloaded.actor.username == "auditor" and downloaded.target_id == str(pack.pk)
    assert "HeadlessChrome" in downloaded.user_agent


def test_outsider_is_refused_reports_and_the_trail(new_page, live_server):
    page = new_page()
    sign_in(page, live_server, "outsider")
    assert page.get_by_role("link", name="Reports").count() == 0
    assert page.get_by_role("link", name="Audit").count() == 0
    for path in ("/reports/", "/audit/", "/audit/export.csv"):
        response = page.goto(path)
        assert response.status == 403, path
