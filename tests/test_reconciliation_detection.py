"""End to end on the sandbox data plane: the post-cutover race (one payment written in the source
region, its webhook accepted in the target region 180 ms later, both replicated) is found by
reconciliation as exactly one duplicate debit naming both transactions and both regions."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta

from django.core.management import call_command
from django.utils import timezone

from reconciliation import selectors
from reconciliation.models import Finding, ReconciliationRun


def test_the_post_cutover_race_is_exactly_one_duplicate_debit_finding(deployed_environment, settings, tmp_path, capsys):
    settings.SANDBOX_DATAPLANE_DIR = tmp_path
    settings.RECONCILIATION_WINDOW_SECONDS = 10
    settings.RECONCILIATION_BUCKETS = 16
    env = deployed_environment
    report_path = tmp_path / "race.json"

    call_command(
        "sandbox_scenario", "post_cutover_race", environment=env.name, speed=6, seed=5, output=str(report_path)
    )
    report = json.loads(report_path.read_text())
    (fault,) = report["injected"]
    assert report["replication"]["settled"]
    # Reconcile every window of the run once the last one has closed (the operator's command).
    last_end = selectors.window_floor(timezone.now()) + timedelta(seconds=10)
    time.sleep(max(0.0, (last_end - timezone.now()).total_seconds()) + 0.5)
    started = datetime.fromisoformat(report["started_at"].replace("Z", "+00:00"))
    capsys.readouterr()
    call_command("reconcile", env.name, "--since", started.isoformat())

    printed = capsys.readouterr().out
    findings = list(Finding.objects.filter(environment=env))
    assert [(f.kind, f.transaction_ids, f.regions) for f in findings] == [
        (
            Finding.Kind.DUPLICATE_DEBIT,
            sorted(fault["transaction_ids"]),
            sorted([env.source_region, env.target_region]),
        )
    ], printed
    assert fault["idempotency_key"] in findings[0].summary
    assert "Duplicate debit" in printed
    statuses = set(ReconciliationRun.objects.filter(environment=env).values_list("status", flat=True))
    assert statuses <= {ReconciliationRun.Status.CLEAN, ReconciliationRun.Status.FINDINGS}, printed
