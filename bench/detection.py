"""Detection: every shipped data-plane scenario, then reconciliation as the beat job runs it.

Not part of ``make test``. Needs PostgreSQL (a throw-away ``test_<name>`` database is made):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench .venv/bin/python bench/detection.py \
        [--speed 6] [--window 10] [--scenarios steady,post_cutover_race,...]

For each scenario in sandbox/scenarios/: a fresh sandbox environment (nine stacks deployed),
``sandbox_scenario`` at the given speed (traffic through the real Lambda handlers, replication
with its lag, the faults at their times), then reconciliation cycles: once the last window of
the run has closed for longer than the grace, cycle 1 reconciles every window of the run; a
window left RECHECK is run again one interval later (cycle 2). Prints per injected fault
whether a finding naming its transactions (or its idempotency key) exists after cycle 1, and
its kind; per scenario, the confirmed findings that match no fault (false positives).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings_test")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from migrations_app.models import Environment  # noqa: E402
from reconciliation import selectors  # noqa: E402
from reconciliation import services as reconciliation  # noqa: E402
from reconciliation.models import Finding, ReconciliationRun  # noqa: E402
from sandbox.dataplane.scenarios import scenario_names  # noqa: E402
from sandbox.environments import sandbox_environment_deploy  # noqa: E402
from sandbox.processes import SandboxProcesses, free_port  # noqa: E402


def windows_of(started: datetime, now: datetime) -> list[datetime]:
    step = timedelta(seconds=settings.RECONCILIATION_WINDOW_SECONDS)
    start, out = selectors.window_floor(started), []
    while start + step <= now:
        out.append(start)
        start += step
    return out


def cycle(env: Environment, windows: list[datetime], *, force: bool) -> None:
    now = timezone.now()
    lag = selectors.replication_lag(environment=env, since=windows[0], now=now)
    for start in windows:
        reconciliation.reconciliation_window_run(environment=env, window_start=start, now=now, lag=lag, force=force)


def matches(finding: Finding, fault: dict) -> bool:
    ids = set(fault["transaction_ids"])
    return bool(ids & set(finding.transaction_ids)) or (
        fault["idempotency_key"] and fault["idempotency_key"] in finding.summary
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", type=float, default=6.0)
    parser.add_argument("--window", type=int, default=10, help="reconciliation window, seconds")
    parser.add_argument("--scenarios", default=",".join(scenario_names()))
    args = parser.parse_args()
    settings.RECONCILIATION_WINDOW_SECONDS = args.window
    settings.RECONCILIATION_BUCKETS = 64
    settings.RECONCILIATION_GRACE_FLOOR_SECONDS = 2
    interval = max(2.0, args.window / 2)

    procs = SandboxProcesses(aws_port=free_port(), idp_port=0)
    procs.start_aws()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    rows, summary = [], []
    try:
        for number, name in enumerate(args.scenarios.split(",")):
            env = sandbox_environment_deploy(procs.aws_endpoint, prefix=f"det{number}{name.replace('_', '')[:12]}")
            with tempfile.TemporaryDirectory() as tmp:
                settings.SANDBOX_DATAPLANE_DIR = Path(tmp)
                out = Path(tmp) / "report.json"
                started_run = time.perf_counter()
                call_command(
                    "sandbox_scenario", name, environment=env.name, speed=args.speed, seed=7, output=str(out),
                    stdout=io.StringIO(),
                )  # fmt: skip
                report = json.loads(out.read_text())
            scenario_seconds = time.perf_counter() - started_run
            started = datetime.fromisoformat(report["started_at"].replace("Z", "+00:00"))
            lag = selectors.replication_lag(environment=env, since=started, now=timezone.now())
            grace = selectors.grace_seconds(lag)
            last_end = selectors.window_floor(timezone.now()) + timedelta(seconds=args.window)
            time.sleep(max(0.0, (last_end - timezone.now()).total_seconds() + grace))
            windows = windows_of(started, timezone.now())
            cycle(env, windows, force=True)  # cycle 1
            after_first = list(Finding.objects.filter(environment=env))
            rechecks = ReconciliationRun.objects.filter(environment=env, status=ReconciliationRun.Status.RECHECK)
            second = bool(rechecks.exists())
            if second:
                time.sleep(interval)
                cycle(env, [r.window_start for r in rechecks], force=False)  # cycle 2
            final = list(Finding.objects.filter(environment=env))
            for fault in report["injected"]:
                first_hit = [f for f in after_first if matches(f, fault)]
                later_hit = [f for f in final if matches(f, fault)]
                expect = fault["expect"]
                if expect == "lag":
                    found = "no finding (right)" if not later_hit else "FALSE POSITIVE"
                elif first_hit:
                    found = "yes, cycle 1"
                elif later_hit:
                    found = "yes, cycle 2 (after RECHECK)"
                else:
                    found = "NO"
                kinds = ", ".join(sorted({f.kind for f in later_hit})) or "-"
                rows.append((name, fault["fault"], expect, found, kinds))
            unexplained = [f for f in final if not any(matches(f, x) for x in report["injected"])]
            if not report["injected"]:
                rows.append((name, "(none)", "no finding", "none" if not final else "FALSE POSITIVE", "-"))
            summary.append(
                (
                    name,
                    report["traffic"]["transactions"],
                    len(windows),
                    f"{lag.current * 1000:.0f} ms" if lag.current is not None else "unknown",
                    f"{grace:.1f} s",
                    "yes" if second else "no",
                    len(unexplained),
                    f"{scenario_seconds:.0f} s",
                )
            )
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        procs.stop()

    print(f"windows {args.window} s, 64 buckets, grace floor 2 s x factor 5, speed {args.speed:g}")
    print()
    header = ("scenario", "fault injected", "expected", "found within one cycle after grace?", "finding kind")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)))
    print()
    header = ("scenario", "transactions", "windows", "lag now", "grace", "cycle 2?", "unexplained findings", "run")
    widths = [max(len(str(r[i])) for r in [header, *summary]) for i in range(len(header))]
    for r in [header, *summary]:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)))


if __name__ == "__main__":
    main()
