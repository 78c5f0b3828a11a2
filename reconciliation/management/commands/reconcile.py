"""``manage.py reconcile ENVIRONMENT [--window START] [--since TIME]``: reconcile on demand.

Without options it runs what the beat job would run now (the due windows of the active period).
``--window`` re-runs one window and ``--since`` every closed window from TIME on, whatever the
schedule and whether or not they were reconciled before (re-running records no finding twice).
Prints one line per run and the findings of those windows.
"""

import getpass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from audit.origin import system_origin
from migrations_app.errors import CutoverError
from migrations_app.models import Environment
from reconciliation import selectors, services
from reconciliation.models import Finding

MAX_WINDOWS = 10_000


def _time(text: str, option: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(f"{option}: {text!r} is not an ISO 8601 time such as 2026-11-27T04:00:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Reconcile an environment's regions for given windows now and print the findings."

    def add_arguments(self, parser):
        parser.add_argument("environment", help="environment name")
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--window", help="start of one window to (re-)run, ISO 8601 UTC")
        group.add_argument("--since", help="(re-)run every closed window starting at or after this time")

    def handle(self, *args, environment, window, since, **options):
        env = Environment.objects.filter(name=environment).first()
        if env is None:
            raise CommandError(f"no environment named {environment!r}")
        now = timezone.now()
        seconds = settings.RECONCILIATION_WINDOW_SECONDS
        with system_origin(f"cli:{getpass.getuser()}:reconcile"):
            if window:
                starts = [_time(window, "--window")]
                if starts[0] + timedelta(seconds=seconds) > now:
                    self.stdout.write(f"note: window {selectors.window_id(starts[0])} has not closed yet")
            elif since:
                first = selectors.window_floor(_time(since, "--since"))
                starts = []
                while first + timedelta(seconds=seconds) <= now and len(starts) < MAX_WINDOWS:
                    starts.append(first)
                    first += timedelta(seconds=seconds)
            else:
                report = services.reconciliation_cycle(environment=env, now=now)
                if env.name in report.skipped:
                    self.stdout.write(f"{env.name}: reconciliation is not active ({report.skipped[env.name]})")
                self._print(env, report.runs)
                return
            runs = []
            for start in starts:
                try:
                    run = services.reconciliation_window_run(environment=env, window_start=start, now=now, force=True)
                except CutoverError as exc:
                    raise CommandError(str(exc)) from exc
                if run is None:
                    self.stdout.write(f"{selectors.window_id(start)}: another worker is reconciling it; skipped")
                    continue
                runs.append(run)
        self._print(env, runs)
        if any(r.status == r.Status.FAILED for r in runs):
            raise CommandError("some windows could not be reconciled (see the errors above)")

    def _print(self, env, runs):
        if not runs:
            self.stdout.write("no window to reconcile")
            return
        for run in runs:
            counts = " ".join(f"{region}={c.get('count', 0)}" for region, c in sorted(run.counts.items()))
            line = (
                f"{selectors.window_id(run.window_start)} {run.status:<8} {counts} buckets "
                f"{run.buckets_mismatched}/{run.buckets_compared} mismatched, {run.keys_read} keys read, "
                f"{run.read_units:g} read units"
            )
            if run.error:
                line += f" — error: {run.error}"
            self.stdout.write(line)
            for suspect in run.detail.get("suspects", []):
                self.stdout.write(
                    f"  recheck: {suspect['kind']} {' '.join(suspect['transaction_ids'])} ({suspect['reason']})"
                )
        findings = Finding.objects.filter(environment=env, window_start__in=[r.window_start for r in runs]).order_by(
            "window_start", "kind", "pk"
        )
        if not findings:
            self.stdout.write("no findings")
            return
        self.stdout.write(f"{len(findings)} finding(s):")
        for f in findings:
            self.stdout.write(
                f"  #{f.pk} [{f.get_status_display()}] {f.get_kind_display()}: {f.summary} "
                f"(transactions {', '.join(f.transaction_ids) or '-'}; regions {', '.join(f.regions)})"
            )
