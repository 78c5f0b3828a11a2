"""How long a report pack takes to build and to verify, for known data.

Not part of ``make test``. Needs PostgreSQL:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench .venv/bin/python bench/report_pack.py [--events 100000]

In a throw-away database: N hash-chained audit entries (bench/export.py's loader), 30 days
of 5-minute reconciliation windows in two regions (17,280 WindowCount rows), 300 findings,
one execution with 6 gates and 2 approvals each. Builds a pack for the whole period (no data
subjects: those read DynamoDB), then runs report_verify's check on it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings_test")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import Group  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

from audit import reports  # noqa: E402
from audit.manifest import pack_verify  # noqa: E402
from bench.export import load  # noqa: E402
from controlplane.accounts.models import User  # noqa: E402
from migrations_app.models import Approval, Environment, Execution, Gate, GateDelivery  # noqa: E402
from reconciliation.models import Finding, ReconciliationRun, WindowCount  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def seed() -> tuple[Environment, User]:
    env = Environment.objects.create(name="bench", hosted_zone_name="bench.example.com", record_name="api.bench")
    auditor = User.objects.create(username="auditor", idp_issuer="https://idp", idp_subject="sub-auditor")
    auditor.groups.set([Group.objects.get_or_create(name="auditor")[0]])
    approvers = [User.objects.create(username=f"a{i}", idp_issuer="https://idp", idp_subject=f"s{i}") for i in range(2)]
    run = ReconciliationRun.objects.create(
        environment=env, window_start=T0, window_end=T0, region_a="us-east-1", region_b="eu-central-1"
    )
    counts = []
    for w in range(30 * 24 * 12):
        start = T0 + timedelta(minutes=5 * w)
        for region in ("us-east-1", "eu-central-1"):
            counts.append(WindowCount(environment=env, run=run, window_start=start, window_end=start + timedelta(minutes=5),
                                      region=region, processed=3000, stored=6000, replicated_in=3000, amount_sum=10**7))  # fmt: skip
    WindowCount.objects.bulk_create(counts, batch_size=5000)
    Finding.objects.bulk_create(
        [Finding(environment=env, kind="missing_in_region", summary=f"tx-{i} missing", regions=["eu-central-1"],
                 transaction_ids=[f"tx-{i}"], detected_at=T0 + timedelta(hours=2 * i)) for i in range(300)]
    )  # fmt: skip
    ex = Execution.objects.create(environment=env, name="bench-x", arn="arn:x", started_by=auditor)
    for step in range(6):
        gate = Gate.objects.create(execution=ex, state_name=f"Step{step}", entered_at=str(step), step=step,
                                   target_weights={"us-east-1": 100 - 20 * step, "eu-central-1": 20 * step},
                                   task_token="t", status="approved", arrived_at=T0 + timedelta(days=step))  # fmt: skip
        for a in approvers:
            Approval.objects.create(gate=gate, approver=a, decision="approve", identity={"username": a.username})
        GateDelivery.objects.create(gate=gate, kind="success", payload={}, status="delivered")
    return env, auditor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        load(args.events)
        env, auditor = seed()
        with tempfile.TemporaryDirectory() as tmp, override_settings(REPORTS_DIR=tmp, CELERY_TASK_ALWAYS_EAGER=False):
            with mock.patch("audit.reports._enqueue_build"):  # build below, timed on its own
                pack = reports.report_pack_request(
                    actor=auditor, environment=env, period_start=T0, period_end=T0 + timedelta(days=30)
                )
            started = time.perf_counter()
            pack = reports.report_pack_build(pack_id=pack.pk)
            build = time.perf_counter() - started
            assert pack.status == "ready", pack.error
            started = time.perf_counter()
            check = pack_verify(pack.zip_path())
            verify = time.perf_counter() - started
            assert check.ok, check.failures
            print(f"audit entries in the period: {pack.manifest['audit_events']['count']:,}")
            for name, meta in sorted(pack.manifest["files"].items()):
                print(
                    f"  {name:26} {meta['rows'] if meta['rows'] is not None else '':>9} rows {meta['bytes'] / 1e6:9.1f} MB"
                )
            print(f"pack: {pack.size_bytes / 1e6:.1f} MB zipped; build {build:.1f} s; report_verify {verify:.1f} s")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
