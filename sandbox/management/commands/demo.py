"""``make demo``: the whole product on one machine, on embedded defaults.

Starts the sandbox AWS and IdP, provisions the ``sandbox`` environment, then the data plane
(replication between the regions, the aggregates stream consumers, light steady traffic
through the real Lambda handlers: threads of this process, sandbox/dataplane), the web server,
a Celery worker and Celery beat; prints the URL and the sign-ins. Ctrl-C stops everything.
The sandbox AWS keeps its state in memory, so the demo database starts fresh each time too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from migrations_app.deployments import outputs_known
from migrations_app.models import Environment
from sandbox.dataplane.config import DataPlaneConfig, LagDistribution
from sandbox.dataplane.plane import DataPlane
from sandbox.dataplane.traffic import TrafficGenerator, TrafficProfile
from sandbox.processes import IDP_DIR, SandboxError, SandboxProcesses, die_with_parent, port_open
from sandbox.traffic_metrics import InvocationsPublisher

USERS = [
    ("engineer", "engineers", "starts the cutover"),
    ("approver1", "compliance-approvers", "approves gates"),
    ("approver2", "compliance-approvers", "second approver"),
    ("auditor", "auditors", "reads the audit trail"),
    ("lead", "engineers + compliance-approvers", "may start, and approve others' cutovers"),
    ("outsider", "(none)", "is refused everywhere"),
]


class Command(BaseCommand):
    help = "Run the demo: sandbox AWS + IdP, web, Celery worker and beat. Ctrl-C stops all."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("DEMO_PORT", "8000")))

    def handle(self, *args, port: int, **options):
        started = time.monotonic()
        logs = settings.VAR_DIR / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        if port_open(port):
            raise CommandError(f"port {port} is in use; set DEMO_PORT to another port")
        aws_port = int(settings.SANDBOX_AWS_ENDPOINT.rsplit(":", 1)[-1].strip("/"))
        sandbox = SandboxProcesses(
            aws_port=aws_port,
            idp_port=settings.SANDBOX_IDP_PORT,
            idp_redirect_uris=[
                f"http://127.0.0.1:{port}/accounts/oidc/{settings.SSO_PROVIDER_ID}/login/callback/",
                f"http://localhost:{port}/accounts/oidc/{settings.SSO_PROVIDER_ID}/login/callback/",
            ],
            log_dir=logs,
        )
        children: list[subprocess.Popen] = []
        threads: list = []
        try:
            sandbox.start()
            self.stdout.write(f"sandbox AWS {sandbox.aws_endpoint}, IdP {sandbox.idp_issuer} (logs in {logs})")
            call_command("provision", "sandbox", create_sandbox=True, stdout=self.stdout)
            env_row = Environment.objects.get(name="sandbox")
            threads = self._data_plane(env_row)
            known = outputs_known(environment=env_row)
            functions = {
                env_row.region_for(role): known[f"regional-{role}"]["TransactionFunctionArn"].split(":")[6]
                for role in ("source", "target")
                if known.get(f"regional-{role}", {}).get("TransactionFunctionArn")
            }
            if functions:
                InvocationsPublisher(
                    endpoint=sandbox.aws_endpoint,
                    home_region=env_row.home_region,
                    hosted_zone_id=env_row.hosted_zone_id,
                    record_name=env_row.record_name,
                    functions=functions,
                ).start()
            env = dict(os.environ, DJANGO_DEBUG="true")
            env.setdefault("GATE_INTAKE_INTERVAL_SECONDS", "2")
            env.setdefault("EXECUTION_SYNC_INTERVAL_SECONDS", "2")
            env.setdefault("EVIDENCE_REFRESH_SECONDS", "15")
            env.setdefault("WATCHDOG_INTERVAL_SECONDS", "15")
            env.setdefault("TELEMETRY_INTERVAL_SECONDS", "10")
            manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
            celery = [sys.executable, "-m", "celery", "-A", "controlplane"]
            for name, cmd in (
                ("web", [*manage, "runserver", f"127.0.0.1:{port}", "--noreload"]),
                ("worker", [*celery, "worker", "-l", "info", "--concurrency", "2"]),
                ("beat", [*celery, "beat", "-l", "info", "--schedule", str(settings.VAR_DIR / "celerybeat-schedule")]),
            ):
                log = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the child
                children.append(
                    subprocess.Popen(
                        cmd,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        cwd=settings.BASE_DIR,
                        start_new_session=True,
                        preexec_fn=die_with_parent,
                    )
                )
            deadline = time.monotonic() + 30
            while not port_open(port):
                if time.monotonic() > deadline or children[0].poll() is not None:
                    raise CommandError(f"the web server did not start; see {logs / 'web.log'}")
                time.sleep(0.2)
            self._banner(port, time.monotonic() - started)
            self._wait(sandbox, children)
        except (SandboxError, KeyboardInterrupt) as exc:
            if isinstance(exc, SandboxError):
                raise CommandError(str(exc)) from exc
        finally:
            self.stdout.write("stopping demo processes...")
            for thread in threads:
                thread.stop()
            for child in children:
                if child.poll() is None:
                    child.terminate()  # each stops its own children (Celery's pool) gracefully
            for child in children:
                try:
                    child.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(child.pid, signal.SIGKILL)
            sandbox.stop()
            self.stdout.write("demo stopped.")

    def _data_plane(self, env_row: Environment) -> list:
        """Replication, the aggregates consumers and steady traffic (sandbox/dataplane), as threads:
        ReplicationLatency is now measured on real copies. Steer it with `manage.py
        sandbox_replication`; inject faults with `manage.py sandbox_scenario`."""
        config = DataPlaneConfig.from_environment(env_row)
        plane = DataPlane(
            config,
            directory=settings.SANDBOX_DATAPLANE_DIR,
            lag=LagDistribution.from_settings(),
            mode=settings.SANDBOX_REPLICATION,
            reset=True,
        )
        plane.start()
        threads: list = [plane]
        rate = settings.SANDBOX_DEMO_TRAFFIC_PER_SECOND
        if rate > 0:
            # Route 53's weights as they are now; 5 % stale resolvers; callbacks 5 s later.
            profile = TrafficProfile(rate=rate, stale_share=0.05, callback_share=0.3, callback_delay=5.0)
            traffic = TrafficGenerator(config, plane.runtime, plane.control, profile)
            threading.Thread(target=traffic.run, args=(None,), name="sandbox-traffic", daemon=True).start()
            threads.append(traffic)
        self.stdout.write(
            f"data plane: replication {settings.SANDBOX_REPLICATION} ({settings.SANDBOX_REPLICATION_LAG_MS} ms), "
            f"traffic {rate:g}/s through the real Lambda handlers"
        )
        return threads

    def _wait(self, sandbox: SandboxProcesses, children: list[subprocess.Popen]) -> None:
        stop = False

        def _term(*_):
            nonlocal stop
            stop = True

        # Ctrl-C, kill and a closed terminal all stop the demo cleanly (SIGINT is handled here
        # too, since a shell may start a background job with SIGINT ignored).
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, _term)
        names = ["web", "worker", "beat"]
        while not stop:
            for name, child in zip(names, children, strict=True):
                if child.poll() is not None:
                    raise CommandError(f"{name} exited with {child.returncode}; see var/logs/{name}.log")
            if not sandbox.alive():
                raise CommandError("the sandbox exited; see var/logs/moto.log and var/logs/idp.log")
            time.sleep(0.5)

    def _banner(self, port: int, seconds: float) -> None:
        url = f"http://127.0.0.1:{port}/"
        lines = [
            "",
            "=" * 72,
            f"  Cutover control plane demo ready in {seconds:.1f} s:  {url}",
            "",
            "  Sign in through the sandbox IdP as (password = <user>-pass):",
        ]
        lines += [f"    {u:<10} {groups:<34} {what}" for u, groups, what in USERS]
        lines += [
            "",
            "  Try it: sign in as engineer, open environment 'sandbox', Start cutover;",
            "  sign out, sign in as approver1, open the waiting gate, read its evidence, Approve.",
            "  Watch it live on Dashboard (weights, replication lag, transactions/min); Replication cost",
            "  shows what the global table costs a month at 1K/5K/10K TPS.",
            "  Steps 0 → 10 → 25 → 50 → 90 → 100 %; 100 % and closing the window need approver2 too.",
            f"  IdP users: {IDP_DIR / 'users.json'}",
            "  Ctrl-C stops every process.",
            "=" * 72,
            "",
        ]
        self.stdout.write("\n".join(lines))
