"""The open-alerts banner: on full pages, and not read by the partials htmx polls."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from migrations_app import services
from migrations_app.models import Alert

pytestmark = pytest.mark.django_db


@pytest.fixture
def alerted(db):
    environment = services.environment_create(
        actor=None,
        name="banner",
        kind="sandbox",
        aws_endpoint_url="http://127.0.0.1:1",
        hosted_zone_name="banner.example.com",
        record_name="api.banner.example.com",
    )
    Alert.objects.create(
        environment=environment, kind="gate_waiting", level="warning", subject_type="gate", subject_id="1",
        message="Gate 1 has waited 20 minutes",
    )  # fmt: skip
    return environment


def test_full_pages_show_the_banner(client, alerted, engineer, outsider):
    client.force_login(engineer)
    assert "Gate 1 has waited 20 minutes" in client.get("/").content.decode()
    client.force_login(outsider)
    assert "Gate 1 has waited" not in client.get("/").content.decode()  # 403 page, no banner


def test_a_polled_partial_does_not_read_the_banner(client, alerted, engineer):
    client.force_login(engineer)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/environments/{alerted.name}/dashboard/status/")
    assert response.status_code == 200 and "Gate 1 has waited 20 minutes" in response.content.decode()
    alert_reads = [q["sql"] for q in queries.captured_queries if 'FROM "migrations_app_alert"' in q["sql"]]
    assert len(alert_reads) == 1, alert_reads  # the dashboard's own list of this environment's alerts
