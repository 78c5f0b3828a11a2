"""The reconciliation pages: runs, a run, findings; acknowledge and resolve through the page are
audited; open findings found by the job block the close-window gate."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from migrations_app.models import Alert, Gate, GateCheck
from reconciliation import services
from reconciliation.checks import open_findings_collect
from reconciliation.models import Finding, ReconciliationRun
from tests.reconciliation_helpers import Ledger, activate, closed_window


@pytest.fixture(autouse=True)
def small_windows(settings):
    settings.RECONCILIATION_WINDOW_SECONDS = 60
    settings.RECONCILIATION_BUCKETS = 4


def close_gate(execution) -> Gate:
    """The execution's waiting close-window gate (one approval, to keep the tests short)."""
    return Gate.objects.create(
        execution=execution,
        state_name="CloseWindow",
        entered_at="close",
        kind=Gate.KIND_CLOSE,
        step=3,
        task_token="c" * 40,
        required_approvals=1,
    )


@pytest.fixture
def found(empty_environment, django_capture_on_commit_callbacks):
    """A window reconciled with one transaction missing in the target region."""
    ledger = Ledger(empty_environment)
    start = closed_window(closed_for=120)
    lost = ledger.item(created_at=start + timedelta(seconds=2))
    ledger.hold(ledger.a, [lost])
    ledger.hold(ledger.b, [])
    with django_capture_on_commit_callbacks(execute=True):
        run = services.reconciliation_window_run(environment=empty_environment, window_start=start)
    return run, Finding.objects.get(run=run)


@pytest.mark.parametrize("name", ["reconciliation-runs", "finding-list"])
def test_outsider_is_refused(client, outsider, name):
    client.force_login(outsider)
    assert client.get(reverse(name)).status_code == 403


def test_runs_run_and_findings_pages_show_what_the_job_found(client, auditor, found):
    run, finding = found
    client.force_login(auditor)
    runs = client.get(reverse("reconciliation-runs"), {"environment": run.environment.name})
    assert runs.status_code == 200
    assert "Findings recorded" in runs.text and reverse("reconciliation-run", args=[run.pk]) in runs.text
    detail = client.get(reverse("reconciliation-run", args=[run.pk]))
    assert finding.transaction_ids[0] in detail.text and "Missing in a region" in detail.text
    listing = client.get(reverse("finding-list"))
    assert finding.summary in listing.text
    # An auditor reads but gets no forms, and a POST is refused.
    assert f'data-testid="resolve-{finding.pk}"' not in listing.text
    refused = client.post(reverse("finding-resolve", args=[finding.pk]), {"note": "fine"})
    assert refused.status_code == 403
    assert Finding.objects.get(pk=finding.pk).status == Finding.Status.OPEN


def test_acknowledge_then_resolve_through_the_page_is_audited(client, engineer, approver1, found):
    run, finding = found
    assert Alert.objects.filter(subject_id=str(finding.pk), resolved_at=None).exists()  # the banner
    client.force_login(engineer)
    page = client.get(reverse("finding-list"))
    assert f'data-testid="acknowledge-{finding.pk}"' in page.text
    assert "Reconciliation finding" in page.text  # the alert banner

    empty = client.post(reverse("finding-acknowledge", args=[finding.pk]), {"note": "  "}, follow=True)
    assert "write a note" in empty.text
    client.post(reverse("finding-acknowledge", args=[finding.pk]), {"note": "replaying the write"})
    finding.refresh_from_db()
    assert (finding.status, finding.acknowledged_by) == (Finding.Status.ACKNOWLEDGED, engineer)

    client.force_login(approver1)
    done = client.post(
        reverse("finding-resolve", args=[finding.pk]),
        {"note": "replayed to eu-central-1", "next": reverse("reconciliation-run", args=[run.pk])},
        follow=True,
    )
    assert done.redirect_chain[-1][0] == reverse("reconciliation-run", args=[run.pk])
    finding.refresh_from_db()
    assert (finding.status, finding.resolved_by, finding.resolution_note) == (
        Finding.Status.RESOLVED,
        approver1,
        "replayed to eu-central-1",
    )
    events = list(AuditEvent.objects.filter(target_id=str(finding.pk)).values_list("event_type", flat=True))
    assert {"finding.detected", "finding.acknowledge", "finding.resolve"} <= set(events)
    assert not Alert.objects.filter(subject_id=str(finding.pk), resolved_at=None).exists()  # banner gone
    again = client.post(reverse("finding-resolve", args=[finding.pk]), {"note": "x"}, follow=True)
    assert "resolved already" in again.text


def test_open_findings_from_the_job_block_the_close_window_gate(engineer, found):
    run, finding = found
    execution = activate(run.environment, engineer, shifted_at=timezone.now() - timedelta(hours=1))
    close = close_gate(execution)
    result = open_findings_collect(run.environment, close)
    assert result.verdict == GateCheck.Verdict.FAIL
    assert "1 open finding (1 missing in a region)" in result.value
    services.finding_resolve(finding=finding, actor=engineer, note="replayed")
    assert open_findings_collect(run.environment, close).verdict == GateCheck.Verdict.PASS
    assert ReconciliationRun.objects.filter(pk=run.pk).exists()


def test_a_finding_recorded_after_the_evidence_still_blocks_closing_the_window(engineer, approver1, found):
    """The close gate's stored evidence said "no open findings"; a finding recorded since must
    still block the approval (the stored check and its ETag cannot know of it)."""
    from migrations_app import services as cutover
    from migrations_app.errors import CutoverError

    run, finding = found
    execution = activate(run.environment, engineer, shifted_at=timezone.now() - timedelta(hours=1))
    close = close_gate(execution)
    GateCheck.objects.create(
        gate=close,
        key="open_findings",
        label="Open reconciliation findings",
        verdict=GateCheck.Verdict.PASS,
        value="no open reconciliation findings",
        collected_at=timezone.now() - timedelta(minutes=1),
    )
    with pytest.raises(CutoverError, match="findings are open"):
        cutover.gate_approve(gate=close, actor=approver1, comment="close")
    assert not close.approvals.exists()
    services.finding_resolve(finding=finding, actor=engineer, note="replayed")
    cutover.gate_approve(gate=close, actor=approver1, comment="close")
    assert close.approvals.count() == 1
