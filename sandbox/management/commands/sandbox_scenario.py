"""``manage.py sandbox_scenario NAME [--environment ENV]``: run a scenario against the sandbox.

Runs sandbox/scenarios/NAME.toml (traffic through the real Lambda handlers, faults at their
times) against the environment's data plane: the running one (the demo's) if there is one,
otherwise one started for the run. Prints what it injected (time, fault, transaction ids,
regions) and writes the same, with the traffic and lag figures, as JSON to the file it names.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from migrations_app.models import Environment
from sandbox.dataplane.config import DataPlaneConfig, DataPlaneError, LagDistribution
from sandbox.dataplane.scenarios import report_table, report_write, run_scenario, scenario_load, scenario_names


class Command(BaseCommand):
    help = "Run a data-plane scenario (sandbox/scenarios/NAME.toml) and print the faults it injected."

    def add_arguments(self, parser):
        parser.add_argument("name", nargs="?", help=f"one of: {', '.join(scenario_names())}")
        parser.add_argument("--environment", default="sandbox", help="a sandbox environment (default: sandbox)")
        parser.add_argument("--speed", type=float, default=1.0, help="compress durations and fault times by this")
        parser.add_argument("--output", help="JSON report path (default: var/dataplane/scenarios/NAME-TIME.json)")
        parser.add_argument("--seed", type=int, help="random seed, for a repeatable run")
        parser.add_argument("--list", dest="list_only", action="store_true", help="list the scenarios and exit")

    def handle(self, *args, name, environment, speed, output, seed, list_only, **options):
        if list_only or not name:
            for known in scenario_names():
                description = " ".join(scenario_load(known).description.split())
                self.stdout.write(f"{known}: {description.split('. ')[0].rstrip('.')}.")
            if not name and not list_only:
                raise CommandError("name a scenario (see the list above)")
            return
        env = Environment.objects.filter(name=environment).first()
        if env is None:
            raise CommandError(
                f"no environment {environment!r}; run `manage.py provision {environment} --create-sandbox`"
            )
        try:
            scenario = scenario_load(name)
            config = DataPlaneConfig.from_environment(env)
            self.stdout.write(f"running {name} on {environment} ({scenario.duration / speed:g} s at speed {speed:g})")
            report = run_scenario(
                scenario,
                config=config,
                directory=settings.SANDBOX_DATAPLANE_DIR,
                speed=speed,
                lag=LagDistribution.from_settings(),
                seed=seed,
            )
        except DataPlaneError as exc:
            raise CommandError(str(exc)) from exc
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = Path(output) if output else settings.SANDBOX_DATAPLANE_DIR / "scenarios" / f"{name}-{stamp}.json"
        report_write(report, path)
        traffic, lag = report["traffic"], (report["replication"]["lag_ms"] or {})
        self.stdout.write(report_table(report) if report["injected"] else "no faults injected")
        self.stdout.write(
            f"traffic: {traffic['transactions']} transactions, {traffic['callbacks']} callbacks "
            f"({traffic['cross_region_callbacks']} cross-region), by region {traffic['by_region']}, "
            f"{traffic['requests_per_second']} req/s, errors {traffic['errors']}"
        )
        if lag.get("samples"):
            self.stdout.write(
                f"replication lag: p50 {lag['p50']:.0f} ms, p99 {lag['p99']:.0f} ms ({lag['samples']} copies)"
            )
        if not report["replication"]["settled"]:
            self.stdout.write(self.style.WARNING("replication had not settled when the run ended"))
        self.stdout.write(f"report: {path}")
