"""Report packs through the API: request, progress, streamed download with its SHA-256, 409
while building, 410 when the file is gone; auditors and approvers only, every request and
download audited as on the pages. The environment has no AWS behind it: a pack without data
subjects reads only the database."""

from __future__ import annotations

import hashlib
import uuid
import zipfile
from datetime import UTC, datetime, timedelta

import pytest

from audit.models import AuditEvent, ReportPack
from tests.api.conftest import error_of

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
URL = "/api/v1/report-packs/"


@pytest.fixture(autouse=True)
def reports_dir(settings, tmp_path):
    settings.REPORTS_DIR = tmp_path / "reports"
    settings.REPORT_SIGNING_KEY = "test-signing-key"
    settings.REPORT_KMS_KEY_ID = ""
    return settings.REPORTS_DIR


def body_for(env, **change) -> dict:
    return {
        "environment": env.name,
        "period_start": "2026-11-20T10:00:00Z",
        "period_end": "2026-11-20T12:00:00Z",
        **change,
    }


def request_pack(client, environment, django_capture_on_commit_callbacks, **change) -> dict:
    """POST a request; the build (Celery runs eagerly in tests) runs when the request commits."""
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(URL, body_for(environment, **change), format="json")
    assert response.status_code == 202, response.content
    return response.json()


def test_auditor_requests_follows_and_downloads_a_pack(
    api, auditor, light_environment, django_capture_on_commit_callbacks
):
    client = api(auditor)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(URL, body_for(light_environment, region="eu-central-1"), format="json")
    assert response.status_code == 202, response.content
    queued = response.json()
    assert response["Location"] == f"{URL}{queued['uid']}/"
    assert (queued["status"], queued["progress"], queued["download_url"]) == ("queued", 0, None)
    assert (queued["environment"], queued["region"], queued["requested_by"]) == (
        light_environment.name,
        "eu-central-1",
        "auditor",
    )
    requested = AuditEvent.objects.get(event_type="report.requested")
    assert requested.actor == auditor and requested.after["uid"] == queued["uid"]
    assert requested.user_agent.endswith(")") and "(API token cpt_" in requested.user_agent

    for callback in callbacks:  # the commit: the build runs
        callback()
    detail = client.get(response["Location"]).json()
    pack = ReportPack.objects.get(uid=queued["uid"])
    assert (detail["status"], detail["progress"], detail["sha256"]) == ("ready", 100, pack.sha256)
    assert detail["download_url"] == f"{URL}{queued['uid']}/download/"

    download = client.get(detail["download_url"], HTTP_ACCEPT="application/zip")
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    assert download["Content-Disposition"].startswith("attachment;")
    content = b"".join(download.streaming_content)
    assert download["X-Content-SHA256"] == hashlib.sha256(content).hexdigest() == pack.sha256
    assert int(download["Content-Length"]) == len(content) == detail["size_bytes"]
    assert "manifest.json" in zipfile.ZipFile(pack.zip_path()).namelist()
    downloaded = AuditEvent.objects.get(event_type="report.downloaded")
    assert (downloaded.actor, downloaded.outcome, downloaded.target_id) == (auditor, "success", str(pack.pk))


def test_approver_may_request_list_and_download(api, approver1, light_environment, django_capture_on_commit_callbacks):
    client = api(approver1)
    pack = request_pack(client, light_environment, django_capture_on_commit_callbacks)
    listing = client.get(URL).json()
    assert listing["count"] == 1 and listing["results"][0]["uid"] == pack["uid"]
    assert listing["results"][0]["status"] == "ready"
    assert client.get(f"{URL}{pack['uid']}/download/").status_code == 200


def test_engineers_and_outsiders_are_refused_everything(
    api, auditor, engineer, outsider, light_environment, django_capture_on_commit_callbacks
):
    pack = request_pack(api(auditor), light_environment, django_capture_on_commit_callbacks)
    for user in (engineer, outsider):
        client = api(user)
        for path in (URL, f"{URL}{pack['uid']}/", f"{URL}{pack['uid']}/download/"):
            response = client.get(path)
            assert response.status_code == 403, (user.username, path)
            assert error_of(response)["code"] == "permission_denied"
            assert pack["uid"] not in response.content.decode()
        assert client.post(URL, body_for(light_environment), format="json").status_code == 403
    from rest_framework.test import APIClient

    assert APIClient().get(f"{URL}{pack['uid']}/download/").status_code == 401
    assert ReportPack.objects.count() == 1
    assert not AuditEvent.objects.filter(event_type="report.downloaded").exists()


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"period_end": "2026-11-20T09:00:00Z"}, "period_end", "must end after it starts"),
        ({"period_end": "2027-12-31T00:00:00Z"}, "period_end", "at most 400 days"),
        ({"region": "ap-south-1"}, "region", "not one of"),
        ({"subjects": ["user-42"]}, "region", "Choose a region"),
        ({"region": "us-east-1", "subjects": [f"u{i}" for i in range(21)]}, "subjects", "At most 20"),
        ({"region": "us-east-1", "subjects": [42]}, "subjects.0", "Not a valid string"),
        ({"environment": "nope"}, "environment", "No environment is named"),
        ({"period_start": "yesterday"}, "period_start", "Datetime has wrong format"),
        ({"period_start": "2026-11-20T10:00:00+15:00"}, "period_start", "between -14:00 and +14:00"),
        ({"period_start": 1700000000}, "period_start", "Datetime has wrong format"),
        ({"format": "pdf"}, "format", "Unknown field"),
    ],
)
def test_bad_requests_are_400_with_the_field_and_create_nothing(
    api, auditor, light_environment, change, field, message
):
    response = api(auditor).post(URL, body_for(light_environment, **change), format="json")
    assert response.status_code == 400, response.content
    error = error_of(response)
    assert error["code"] == "invalid" and field in error["fields"], error
    assert message in " ".join(error["fields"][field]), error
    assert not ReportPack.objects.exists()
    assert not AuditEvent.objects.filter(event_type="report.requested").exists()


def test_a_time_without_offset_is_utc_and_an_offset_is_converted(api, auditor, light_environment):
    body = body_for(light_environment, period_start="2026-11-20T10:00:00", period_end="2026-11-20T13:00:00+01:00")
    response = api(auditor).post(URL, body, format="json")
    assert response.status_code == 202, response.content
    pack = ReportPack.objects.get()
    assert (pack.period_start, pack.period_end) == (T0, T0 + timedelta(hours=2))


def test_download_is_409_while_building_and_progress_shows(api, auditor, light_environment):
    client = api(auditor)
    uid = client.post(URL, body_for(light_environment), format="json").json()["uid"]  # no commit: not built
    ReportPack.objects.filter(uid=uid).update(status="building", progress=40, stage="Findings")
    detail = client.get(f"{URL}{uid}/").json()
    assert (detail["status"], detail["progress"], detail["stage"], detail["download_url"]) == (
        "building",
        40,
        "Findings",
        None,
    )
    response = client.get(f"{URL}{uid}/download/")
    assert response.status_code == 409 and error_of(response)["code"] == "conflict"
    assert "not ready" in error_of(response)["message"]
    assert not AuditEvent.objects.filter(event_type="report.downloaded").exists()


def test_download_of_a_lost_file_is_410_and_audited(
    api, auditor, light_environment, django_capture_on_commit_callbacks
):
    client = api(auditor)
    pack = request_pack(client, light_environment, django_capture_on_commit_callbacks)
    ReportPack.objects.get(uid=pack["uid"]).zip_path().unlink()
    response = client.get(f"{URL}{pack['uid']}/download/")
    assert response.status_code == 410 and error_of(response)["code"] == "gone"
    assert "request the pack again" in error_of(response)["message"]
    assert AuditEvent.objects.get(event_type="report.downloaded").outcome == "failure"


def test_a_failed_pack_is_410_with_its_error(api, auditor, light_environment, settings, tmp_path):
    client = api(auditor)
    uid = client.post(URL, body_for(light_environment), format="json").json()["uid"]
    ReportPack.objects.filter(uid=uid).update(status="failed", error="disk full")
    assert client.get(f"{URL}{uid}/").json()["error"] == "disk full"
    assert client.get(f"{URL}{uid}/download/").status_code == 410


def test_unknown_pack_is_404_and_the_list_filters(api, auditor, light_environment, django_capture_on_commit_callbacks):
    client = api(auditor)
    for path in (f"{URL}{uuid.uuid4()}/", f"{URL}{uuid.uuid4()}/download/", f"{URL}not-a-uuid/"):
        response = client.get(path)
        assert response.status_code == 404 and error_of(response)["code"] == "not_found", path
    request_pack(client, light_environment, django_capture_on_commit_callbacks)
    client.post(URL, body_for(light_environment), format="json")  # stays queued
    assert client.get(f"{URL}?status=ready").json()["count"] == 1
    assert client.get(f"{URL}?status=queued").json()["count"] == 1
    assert client.get(f"{URL}?environment={light_environment.name}").json()["count"] == 2
    assert client.get(f"{URL}?environment=other").json()["count"] == 0
    assert client.get(f"{URL}?status=lost").status_code == 400
