"""The dashboard pages: who may see them, what they show (fresh, stale, failing sources), and
that no page calls AWS."""

from __future__ import annotations

from datetime import timedelta

import botocore.httpsession
import pytest
from django.urls import reverse
from django.utils import timezone

from controlplane.aws import AwsError, route53
from migrations_app import services, telemetry
from migrations_app.models import Alert, TelemetryPoint, TelemetrySnapshot
from reconciliation.models import Finding, ReconciliationRun
from tests.conftest import wait_for_gate

pytestmark = pytest.mark.django_db(transaction=True)

PAGES = ("dashboard", "dashboard-status", "dashboard-charts")


@pytest.fixture
def collected(environment):
    """The environment with one telemetry snapshot taken from the sandbox."""
    snapshot = telemetry.telemetry_collect(environment=environment)
    assert snapshot.status == TelemetrySnapshot.Status.COMPLETE, snapshot.sources
    return environment


def get_as(client, user, url):
    client.force_login(user)
    return client.get(url)


def test_every_role_sees_the_dashboard_and_the_outsider_none_of_it(
    client, collected, engineer, approver1, auditor, outsider
):
    urls = [reverse(page, args=[collected.name]) for page in PAGES]
    for user in (engineer, approver1, auditor):
        for url in urls:
            assert get_as(client, user, url).status_code == 200, (user.username, url)
    for url in [*urls, reverse("cost-panel"), reverse("dashboard-index")]:
        assert get_as(client, outsider, url).status_code == 403, url
    client.logout()
    for url in urls:
        assert client.get(url).status_code == 302, url


def test_unknown_environment_is_404(client, engineer):
    assert get_as(client, engineer, reverse("dashboard-status", args=["nope"])).status_code == 404


def test_the_dashboard_shows_what_the_collector_stored(client, collected, engineer, django_assert_max_num_queries):
    html = get_as(client, engineer, reverse("dashboard", args=[collected.name])).content.decode()
    assert "Telemetry current" in html and "STALE" not in html
    assert "Not started" in html
    # Planned vs actual weights: both 100 / 0 before any shift.
    assert f'data-testid="actual-weight-{collected.source_region}">100 (100 %)' in html
    assert "Actual matches planned" in html
    # Replication latency the fixture published, DLQs, alarms and stacks.
    assert "120 ms" in html
    assert "gate-dlq" in html or "dlq" in html.lower()
    assert 'data-testid="alarms"' in html
    assert f"{collected.name}-data" in html and "CREATE_COMPLETE" in html
    # Charts are server-side SVG with a table of the same data.
    assert html.count("<svg viewBox") == 3
    assert 'data-testid="chart-latency"' in html and "The data as a table" in html
    assert "cdn" not in html.lower()
    # One selector, a bounded number of reads (the partial is polled every few seconds).
    with django_assert_max_num_queries(20):
        client.get(reverse("dashboard-status", args=[collected.name]))


def test_the_nav_and_environment_page_link_the_dashboard(client, empty_environment, engineer):
    collected = empty_environment
    html = get_as(client, engineer, reverse("environment-detail", args=[collected.name])).content.decode()
    assert reverse("dashboard", args=[collected.name]) in html
    assert reverse("dashboard-index") in html
    # With one environment the nav's Dashboard goes straight to it.
    response = client.get(reverse("dashboard-index"))
    assert response.status_code == 302 and response["Location"] == reverse("dashboard", args=[collected.name])


def test_a_stale_snapshot_is_shown_as_stale_with_its_age(client, collected, engineer, settings):
    settings.TELEMETRY_INTERVAL_SECONDS = 30
    TelemetrySnapshot.objects.filter(environment=collected).update(collected_at=timezone.now() - timedelta(minutes=10))
    html = get_as(client, engineer, reverse("dashboard-status", args=[collected.name])).content.decode()
    assert "STALE telemetry" in html
    assert "10 min old" in html
    assert "Telemetry current" not in html
    assert 'data-testid="source-stale"' in html  # each AWS panel says so too


def test_no_snapshot_yet_says_so(client, empty_environment, engineer):
    environment = empty_environment
    html = get_as(client, engineer, reverse("dashboard", args=[environment.name])).content.decode()
    assert "No telemetry yet" in html
    assert "No data in this period" in html


def test_a_failing_source_shows_its_error_and_the_last_good_reading(client, collected, engineer, monkeypatch):
    def throttled(**kwargs):
        raise AwsError("Rate exceeded", code="Throttling", permanent=False, service="route53", operation="List")

    TelemetrySnapshot.objects.filter(environment=collected).update(slot=0)  # free this slot
    monkeypatch.setattr(route53, "weighted_records_list", throttled)
    snapshot = telemetry.telemetry_collect(environment=collected)
    assert snapshot.status == TelemetrySnapshot.Status.PARTIAL
    monkeypatch.undo()

    html = get_as(client, engineer, reverse("dashboard-status", args=[collected.name])).content.decode()
    assert 'data-testid="source-error-route53_weights"' in html
    assert "Rate exceeded" in html
    assert "Showing the last good reading" in html
    assert f'data-testid="actual-weight-{collected.target_region}">0 (0 %)' in html


def test_dashboard_lists_gates_alerts_findings_and_runs(client, environment, started_execution, engineer):
    gate = wait_for_gate(environment, started_execution)
    Alert.objects.create(
        environment=environment,
        kind="gate_sla",
        level=Alert.Level.WARNING,
        subject_type="migrations_app.gate",
        subject_id=str(gate.pk),
        message="Gate waiting past its SLA",
    )
    now = timezone.now()
    run = ReconciliationRun.objects.create(
        environment=environment,
        window_start=now - timedelta(minutes=30),
        window_end=now - timedelta(minutes=15),
        region_a=environment.source_region,
        region_b=environment.target_region,
        status=ReconciliationRun.Status.FINDINGS,
        buckets_compared=64,
        buckets_mismatched=1,
        finished_at=now,
    )
    Finding.objects.create(
        environment=environment, run=run, kind=Finding.Kind.DUPLICATE_DEBIT, summary="idempotency key k1 debited twice"
    )
    telemetry.telemetry_collect(environment=environment)

    html = get_as(client, engineer, reverse("dashboard-status", args=[environment.name])).content.decode()
    assert "Stepping" in html and f"step {gate.step} of 2" in html
    assert 'data-testid="waiting-gates"' in html and reverse("gate-detail", args=[gate.pk]) in html
    assert "Gate waiting past its SLA" in html
    assert "idempotency key k1 debited twice" in html and "<strong>1</strong> open finding" in html
    assert "1 of 64 mismatched" in html
    assert f"{started_execution.name} RUNNING" in html  # Step Functions' own status


def test_after_an_approval_the_dashboard_shows_the_new_weight(client, environment, started_execution, approver1):
    gate = wait_for_gate(environment, started_execution)
    services.gate_approve(gate=gate, actor=approver1, comment="ok")
    # The state machine shifts Route 53 after the delivery; wait for the next gate to know it has.
    wait_for_gate(environment, started_execution)
    telemetry.telemetry_collect(environment=environment)

    html = get_as(client, approver1, reverse("dashboard-status", args=[environment.name])).content.decode()
    target_weight = gate.target_weights[environment.target_region]
    assert f'data-testid="actual-weight-{environment.target_region}">{target_weight} (' in html
    assert "Actual matches planned" in html
    charts = client.get(reverse("dashboard-charts", args=[environment.name])).content.decode()
    assert "planned (approved steps)" in charts and "actual (Route 53)" in charts


def test_no_dashboard_or_cost_page_calls_aws(client, collected, engineer, monkeypatch):
    """Every HTTP request botocore would send fails the test: pages read snapshots only."""
    calls = []

    def refuse(self, request):
        calls.append(request.url)
        raise AssertionError(f"a page called AWS: {request.url}")

    monkeypatch.setattr(botocore.httpsession.URLLib3Session, "send", refuse)
    client.force_login(engineer)
    urls = [reverse(p, args=[collected.name]) for p in PAGES]
    urls += [
        reverse("cost-panel"),
        reverse("cost-panel") + "?tps=5000&item_size_kb=2&writes_per_transaction=2"
        "&gsi_count=1&target_share_percent=50&utilisation_percent=70",
        reverse("dashboard-index"),
    ]
    for url in urls:
        response = client.get(url, follow=True)
        assert response.status_code == 200, url
    assert calls == []
    # And the guard works: a collector run under it does try to call AWS.
    with pytest.raises(AssertionError):
        botocore.httpsession.URLLib3Session.send(None, type("R", (), {"url": "x"})())


def test_chart_points_older_than_the_chart_window_are_left_out(client, collected, engineer, settings):
    settings.DASHBOARD_CHART_HOURS = 1
    TelemetryPoint.objects.create(
        environment=collected,
        metric=TelemetryPoint.Metric.REPLICATION_LATENCY,
        series=telemetry.direction_name(collected.source_region, collected.target_region),
        at=timezone.now() - timedelta(hours=2),
        average=999.0,
        maximum=999.0,
    )
    html = get_as(client, engineer, reverse("dashboard-charts", args=[collected.name])).content.decode()
    assert "999" not in html
    assert "120" in html


def test_the_transactions_chart_leaves_out_the_minute_still_filling(client, empty_environment, engineer):
    now = timezone.now()
    this_minute = now.replace(second=0, microsecond=0)
    for at, value in ((this_minute - timedelta(minutes=2), 3000.0), (this_minute, 7.0)):
        TelemetryPoint.objects.create(
            environment=empty_environment,
            metric=TelemetryPoint.Metric.TRANSACTIONS,
            series=empty_environment.source_region,
            at=at,
            value=value,
        )
    html = get_as(client, engineer, reverse("dashboard-charts", args=[empty_environment.name])).content.decode()
    table = html[html.index('data-testid="chart-tpm"') : html.index('data-testid="chart-weights"')]
    assert "<td>3,000</td>" in table
    assert "<td>7</td>" not in table
