"""The telemetry endpoint: the newest snapshot the collector stored, its age and a stale flag
computed as the dashboard computes it; every role reads it, outsiders nothing; never AWS."""

from __future__ import annotations

from datetime import timedelta

import botocore.httpsession
import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from controlplane.dashboard.selectors import freshness
from migrations_app.models import TelemetrySnapshot
from tests.api.conftest import error_of

pytestmark = pytest.mark.django_db


def url(environment) -> str:
    return f"/api/v1/environments/{environment.name}/telemetry/"


def snapshot(environment, *, age: timedelta, slot: int, **fields) -> TelemetrySnapshot:
    collected = timezone.now() - age
    return TelemetrySnapshot.objects.create(
        environment=environment,
        slot=slot,
        status=fields.pop("status", TelemetrySnapshot.Status.COMPLETE),
        started_at=collected - timedelta(milliseconds=300),
        collected_at=collected,
        duration_ms=300,
        sources={"route53_weights": {"status": "ok", "duration_ms": 12}},
        payload={"route53_weights": {"weights": {"us-east-1": 90, "eu-central-1": 10}}},
        **fields,
    )


@pytest.fixture
def no_aws(monkeypatch):
    def refuse(self, request):
        raise AssertionError(f"the telemetry endpoint called AWS: {request.url}")

    monkeypatch.setattr(botocore.httpsession.URLLib3Session, "send", refuse)


def test_every_role_reads_the_newest_snapshot_and_never_aws(
    api, engineer, approver1, auditor, light_environment, settings, no_aws
):
    settings.TELEMETRY_INTERVAL_SECONDS = 30
    snapshot(light_environment, age=timedelta(minutes=5), slot=1)
    newest = snapshot(light_environment, age=timedelta(seconds=20), slot=2)
    TelemetrySnapshot.objects.create(environment=light_environment, slot=3)  # still collecting: not shown
    for user in (engineer, approver1, auditor):
        response = api(user).get(url(light_environment))
        assert response.status_code == 200, (user.username, response.content)
        body = response.json()
        assert body["snapshot"]["id"] == newest.pk and body["snapshot"]["status"] == "complete"
        assert body["snapshot"]["payload"]["route53_weights"]["weights"]["eu-central-1"] == 10
        assert body["snapshot"]["sources"]["route53_weights"]["status"] == "ok"
        assert body["stale"] is False and 20 <= body["age_seconds"] < 80 and body["age"].endswith(" s")
        assert (body["stale_after_seconds"], body["interval_seconds"]) == (90.0, 30.0)


def test_a_stale_snapshot_is_flagged_as_the_dashboard_flags_it(api, engineer, light_environment, settings):
    settings.TELEMETRY_INTERVAL_SECONDS = 30
    snapshot(light_environment, age=timedelta(minutes=10), slot=1, status=TelemetrySnapshot.Status.PARTIAL)
    body = api(engineer).get(url(light_environment)).json()
    assert body["stale"] is True and body["age"] == "10 min" and body["age_seconds"] >= 600
    assert body["snapshot"]["status"] == "partial"
    assert freshness(environment=light_environment, now=timezone.now()).stale is True  # the dashboard's verdict


def test_no_snapshot_yet_is_stale_with_no_age(api, auditor, light_environment):
    body = api(auditor).get(url(light_environment)).json()
    assert body["snapshot"] is None and body["stale"] is True
    assert body["age_seconds"] is None and body["age"] == "never"


def test_outsiders_anonymous_and_unknown_environments_are_refused(api, outsider, engineer, light_environment):
    snapshot(light_environment, age=timedelta(seconds=5), slot=1)
    response = api(outsider).get(url(light_environment))
    assert response.status_code == 403 and error_of(response)["code"] == "permission_denied"
    assert "route53" not in response.content.decode()
    assert APIClient().get(url(light_environment)).status_code == 401
    response = api(engineer).get("/api/v1/environments/nope/telemetry/")
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"
    assert api(engineer).post(url(light_environment), {}, format="json").status_code == 405
