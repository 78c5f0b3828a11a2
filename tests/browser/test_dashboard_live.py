"""The engineer's dashboard shows the new weight after a gate is approved, without a reload."""

from __future__ import annotations

import pytest

from migrations_app import services, telemetry
from migrations_app.models import TelemetrySnapshot
from tests.browser.conftest import sign_in
from tests.conftest import wait_for_gate

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_dashboard_follows_an_approval_without_a_reload(
    new_page, live_server, started_execution, approver1, settings
):
    settings.DASHBOARD_REFRESH_SECONDS = 1
    environment = started_execution.environment
    gate = wait_for_gate(environment, started_execution)
    telemetry.telemetry_collect(environment=environment)

    page = new_page()
    sign_in(page, live_server, "engineer", next_path=f"/environments/{environment.name}/dashboard/")
    target = page.get_by_test_id(f"actual-weight-{environment.target_region}")
    assert target.inner_text() == "0 (0 %)"
    assert "Waiting for approval of step 1" in page.get_by_test_id("dashboard-status").inner_text()
    page.evaluate("window.__notReloaded = true")

    # What the approver and the beat jobs do meanwhile: approve, the state machine shifts
    # Route 53 and reaches the next gate, the collector snapshots it.
    services.gate_approve(gate=gate, actor=approver1, comment="lag fine")
    wait_for_gate(environment, started_execution)
    TelemetrySnapshot.objects.filter(environment=environment).update(slot=0)  # the next slot
    telemetry.telemetry_collect(environment=environment)

    page.get_by_test_id(f"actual-weight-{environment.target_region}").filter(has_text="10 (10 %)").wait_for()
    assert page.evaluate("window.__notReloaded") is True
    assert "Waiting for approval of step 2" in page.get_by_test_id("dashboard-status").inner_text()
