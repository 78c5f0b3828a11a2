"""A compressed whole cutover in the sandbox, with traffic, faults and memory watched throughout.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/soak CELERY_BROKER_URL=redis://127.0.0.1:6379/6 \\
        .venv/bin/python bench/soak.py --reset-db [--minutes 12] [--rate 15] [--windows 72]

Starts the product's processes as ``make demo`` does: the sandbox AWS (moto server), the data
plane (replication with its lag, the aggregates consumers, traffic through the real Lambda
handlers; bench/soak_support.py runs it in a process of its own), the web server, a Celery
worker and Celery beat, against PostgreSQL and Redis. It provisions the ``sandbox``
environment, starts a cutover of the default plan (0 → 10 → 25 → 50 → 90 → 100 %) with short
soaks, and approves every gate through the REST API as two compliance approvers (personal
tokens made right after a fresh IdP sign-in; the sign-in itself is set on the user, the IdP is
not run). The post-cutover window is compressed so that ``--windows`` reconciliation windows
(72 by default) of a few seconds each pass in minutes instead of 72 hours. Faults are
injected on a schedule by the data plane's own fault functions (duplicate debit, dropped replica
write, conflicting update, lost write, a replication stall); the bench resolves each finding as
an approver would, then closes the window.

At the end it prints, as Markdown tables: each gate's approvals, deliveries and the task
successes Step Functions recorded for it (every decision delivered once); each injected fault
and the finding that caught it (matched by transaction id); the reconciliation runs; the
traffic; and the resident memory of every process, sampled every 3 s (start, start and middle
of the post-cutover window, peak, end). The JSON of it all is written beside the logs. Exits 1
unless every gate was delivered once and every injected fault was found.

``--reset-db`` drops and re-creates the database named in DATABASE_URL and empties the Redis
database: give it a database of its own. Not part of ``make test``: numbers, not assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.soak_support import RssSampler, table  # noqa: E402

POLL = 1.0
APPROVERS = ("approver1", "approver2")
KIND_OF_EXPECT = {
    "duplicate_debit": "duplicate_debit",
    "missing_in_region": "missing_in_region",
    "conflicting_version": "conflicting_versions",
}


# --- timings ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timings:
    minutes: float
    windows: int
    window_seconds: int  # one reconciliation window
    soak_seconds: int  # per cutover step
    stall_seconds: int

    @property
    def post_window_seconds(self) -> int:
        return self.windows * self.window_seconds

    @classmethod
    def plan(cls, *, minutes: float, windows: int, soak: int | None) -> Timings:
        budget = minutes * 60
        soak = soak if soak is not None else int(min(60, max(5, round(budget * 0.025))))
        # start-up and deploy ~90 s, six gates ~8 s each, five soaks, closing and the last runs ~60 s
        overhead = 90 + 6 * 8 + 5 * soak + 60
        window = max(2, int((budget - overhead) / windows))
        stall = max(10, 2 * window)
        return cls(minutes=minutes, windows=windows, window_seconds=window, soak_seconds=soak, stall_seconds=stall)

    def environment(self) -> dict[str, str]:
        """Settings of every process for this run (they read them from the environment)."""
        w = self.window_seconds
        return {
            "CUTOVER_DEFAULT_SOAK_SECONDS": str(self.soak_seconds),
            "CUTOVER_WINDOW_SECONDS": str(self.post_window_seconds),
            "GATE_TTL_SETTLE_SECONDS": "0",  # the sandbox's records are minutes old
            "GATE_INTAKE_INTERVAL_SECONDS": "2",
            "EXECUTION_SYNC_INTERVAL_SECONDS": "2",
            "EVIDENCE_REFRESH_SECONDS": "10",
            "WATCHDOG_INTERVAL_SECONDS": "15",
            "TELEMETRY_INTERVAL_SECONDS": "10",
            "RECONCILIATION_WINDOW_SECONDS": str(w),
            "RECONCILIATION_INTERVAL_SECONDS": str(min(w, 5)),
            # The product's floor is 60 s for 900 s windows; here it must outlast the stall, or
            # the writes held back by it are reported missing (see docs/performance.md).
            "RECONCILIATION_GRACE_FLOOR_SECONDS": str(max(2 * w, self.stall_seconds + w) + 10),
            "RECONCILIATION_BUCKETS": "64",
            "RECONCILIATION_LEASE_SECONDS": str(max(60, 10 * w)),
        }


def fault_schedule(t: Timings) -> tuple[list[tuple[int, str, dict]], list[tuple[float, str, dict]]]:
    """(during the cutover: step number whose soak gets the fault) and (in the post-cutover
    window: fraction of the window). The last fault lands at 3/4 of the window, so its window is
    reconciled before the close."""
    during = [
        (3, "dropped_replica_write", {"region": "source"}),
        (5, "duplicate_debit", {"first_region": "source", "second_region": "target", "delay_ms": 180}),
    ]
    window = [
        (0.08, "dropped_replica_write", {"region": "target"}),
        (0.16, "conflicting_update", {"region": "source"}),
        (0.25, "replication_stall", {"duration": t.stall_seconds}),
        (0.45, "duplicate_debit", {"first_region": "source", "second_region": "target", "delay_ms": 180}),
        (0.52, "lost_write", {"region": "target"}),
        (0.60, "conflicting_update", {"region": "target"}),
        (0.68, "dropped_replica_write", {"region": "source"}),
        (0.75, "duplicate_debit", {"first_region": "target", "second_region": "source", "delay_ms": 180}),
    ]
    return during, window


# --- set-up before Django ---------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=12.0, help="about how long the whole run takes (default 12)")
    p.add_argument("--rate", type=float, default=15.0, help="API transactions per second (default 15)")
    p.add_argument("--windows", type=int, default=72, help="reconciliation windows in the post-cutover window")
    p.add_argument("--soak", type=int, default=None, help="seconds of soak per step (default: from --minutes)")
    p.add_argument("--seed", type=int, default=8)
    p.add_argument("--lag-spikes", action="store_true", help="keep the sandbox's 2 %% lag spikes of 0.6-1.5 s")
    p.add_argument("--reset-db", action="store_true", help="drop and re-create the database, empty the Redis db")
    p.add_argument("--out", default="", help="folder for logs and the JSON (default var/soak/<time>)")
    args = p.parse_args(argv)
    if args.minutes <= 0 or args.rate <= 0 or args.windows < 1:
        p.error("--minutes, --rate and --windows must be positive")
    for name in ("DATABASE_URL", "CELERY_BROKER_URL"):
        if not os.environ.get(name):
            p.error(f"set {name}: the soak runs against PostgreSQL and Redis")
    if not os.environ["DATABASE_URL"].startswith("postgres"):
        p.error("DATABASE_URL must be PostgreSQL")
    if not os.environ["CELERY_BROKER_URL"].startswith("redis"):
        p.error("CELERY_BROKER_URL must be Redis")
    return args


def reset_database(url: str, broker: str) -> None:
    import psycopg
    import redis

    parts = urllib.parse.urlsplit(url)
    name = parts.path.lstrip("/")
    if not name or name in ("postgres", "template0", "template1"):
        raise SystemExit(f"refusing to reset database {name!r}")
    admin = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    redis.Redis.from_url(broker).flushdb()


# --- HTTP -------------------------------------------------------------------------------------------


class Api:
    """The product's REST API as a pipeline or an approver's script calls it."""

    def __init__(self, base: str):
        self.base = base.rstrip("/")
        self.calls = 0

    def call(self, method: str, path: str, token: str, body: dict | None = None, headers: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.base}{path}", data=data, method=method)
        request.add_header("Authorization", f"Bearer {token}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            request.add_header(k, v)
        self.calls += 1
        try:
            with urllib.request.urlopen(request, timeout=60) as resp:
                raw = resp.read()
                return resp.status, dict(resp.headers), json.loads(raw) if raw else {}
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                payload = json.loads(raw) if raw else {}
            except ValueError:
                payload = {"raw": raw[:500].decode(errors="replace")}
            return exc.code, dict(exc.headers), payload


# --- the run ----------------------------------------------------------------------------------------


class Soak:
    def __init__(self, args: argparse.Namespace, timings: Timings, out: Path):
        self.args, self.t, self.out = args, timings, out
        self.logs = out / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.children: dict[str, subprocess.Popen] = {}
        self.rss = RssSampler(interval=3.0)
        self.started = time.monotonic()
        self.phases: list[tuple[str, float]] = []
        self.commands = out / "dataplane-commands.jsonl"
        self.results = out / "dataplane-results.jsonl"
        self.results_offset = 0
        self.injected: list[dict] = []
        self.inject_errors: list[dict] = []
        self.traffic_final: dict = {}
        self.traffic_last: dict = {}
        self.command_seq = 0
        self.resolved: dict[int, str] = {}
        self.gate_log: dict[int, dict] = {}
        self.dataplane_ready = False

    # --- helpers ---

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:7.1f}s] {text}", flush=True)

    def phase(self, name: str) -> None:
        self.phases.append((name, time.monotonic()))
        self.rss.mark(name)
        self.say(f"== {name}")

    def spawn(self, name: str, cmd: list[str], *, children: bool = False) -> subprocess.Popen:
        from sandbox.processes import die_with_parent

        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the child
        proc = subprocess.Popen(
            cmd,
            env=dict(os.environ),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        self.children[name] = proc
        self.rss.watch(name, proc.pid, children=children)
        return proc

    def check_alive(self) -> None:
        for name, proc in self.children.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; see {self.logs / (name + '.log')}")

    # --- the data plane's files ---

    def command(self, kind: str, params: dict | None = None) -> None:
        self.command_seq += 1
        with open(self.commands, "a") as fh:
            fh.write(json.dumps({"id": self.command_seq, "kind": kind, "params": params or {}}) + "\n")
        if kind != "stop":
            self.say(f"inject {kind} {params or ''}")

    def read_results(self) -> list[dict]:
        try:
            with open(self.results) as fh:
                fh.seek(self.results_offset)
                lines = fh.readlines()
                self.results_offset = fh.tell()
        except FileNotFoundError:
            return []
        rows = [json.loads(line) for line in lines if line.strip()]
        for row in rows:
            if row["type"] == "ready":
                self.dataplane_ready = True
            elif row["type"] == "injected":
                self.injected.append(row["row"])
            elif row["type"] == "error":
                self.inject_errors.append(row)
                self.say(f"fault {row['kind']} NOT injected (attempt {row.get('attempt', 1)}): {row['error']}")
            elif row["type"] == "status":
                self.traffic_last = row
            elif row["type"] == "final":
                self.traffic_final = row
        return rows

    # --- start ---

    def start(self) -> None:
        from django.conf import settings
        from django.core.management import call_command

        from migrations_app.models import Environment
        from sandbox.dataplane.config import DataPlaneConfig
        from sandbox.processes import SandboxProcesses, free_port, port_open

        self.phase("start")
        call_command("migrate", verbosity=0)
        self.sandbox = SandboxProcesses(
            aws_port=int(settings.SANDBOX_AWS_ENDPOINT.rsplit(":", 1)[-1]), idp_port=0, log_dir=self.logs
        )
        self.sandbox.start_aws()
        self.rss.watch("moto", self.sandbox._procs[0].pid)
        self.rss.watch("bench", os.getpid())
        self.rss.start()
        with open(self.logs / "provision.log", "w") as fh:
            call_command("provision", "sandbox", create_sandbox=True, stdout=fh)
        self.env = Environment.objects.get(name="sandbox")
        self.say(f"provisioned {self.env.name}: {self.env.state_machine_arn}")
        config = DataPlaneConfig.from_environment(self.env)
        spike = 0.02 if self.args.lag_spikes else 0.0
        spec = {
            "config": asdict(config),
            "directory": str(settings.SANDBOX_DATAPLANE_DIR),
            "commands": str(self.commands),
            "results": str(self.results),
            "rate": self.args.rate,
            "stale_share": 0.05,
            "callback_share": 0.3,
            "callback_delay": 5.0,
            "cross_region_callback_share": 0.2,
            "seed": self.args.seed,
            "lag": {"base_ms": [100, 300], "spike_ms": [600, 1500], "spike_share": spike},
        }
        spec_path = self.out / "dataplane-spec.json"
        spec_path.write_text(json.dumps(spec, indent=1))
        self.spawn("dataplane", [sys.executable, "-m", "bench.soak_support", "dataplane", str(spec_path)])
        self.web_port = free_port()
        manage = [sys.executable, str(ROOT / "manage.py")]
        celery = [sys.executable, "-m", "celery", "-A", "controlplane"]
        self.spawn("web", [*manage, "runserver", f"127.0.0.1:{self.web_port}", "--noreload"])
        self.spawn("worker", [*celery, "worker", "-l", "info", "--concurrency", "2"], children=True)
        self.spawn("beat", [*celery, "beat", "-l", "info", "--schedule", str(settings.VAR_DIR / "celerybeat-schedule")])
        deadline = time.monotonic() + 60
        while not (port_open(self.web_port) and self.dataplane_ready):
            if time.monotonic() > deadline:
                raise RuntimeError("the web server or the data plane did not start; see the logs")
            self.check_alive()
            self.read_results()
            time.sleep(0.3)
        self.api = Api(f"http://127.0.0.1:{self.web_port}")
        self.people()

    def people(self) -> None:
        from django.contrib.auth.models import Group
        from django.utils import timezone

        from controlplane.accounts.models import User

        self.users = {}
        for username, roles in (("engineer", ["engineer"]), ("approver1", ["approver"]), ("approver2", ["approver"])):
            user = User.objects.create(
                username=username,
                email=f"{username}@example.com",
                first_name=username.title(),
                idp_issuer="http://idp.soak",
                idp_subject=f"soak-{username}",
                idp_authenticated_at=timezone.now(),
            )
            user.groups.set([Group.objects.get_or_create(name=r)[0] for r in roles])
            self.users[username] = user
        self.tokens = {name: self.fresh_token(name) for name in ("engineer", "approver1")}

    def fresh_token(self, username: str) -> str:
        """What an approver does before deciding: sign in at the IdP (fresh), make a token."""
        from django.utils import timezone

        from controlplane.accounts.tokens import api_token_create

        user = self.users[username]
        now = timezone.now()
        type(user).objects.filter(pk=user.pk).update(idp_authenticated_at=now)
        user.idp_authenticated_at = now
        return api_token_create(user=user, actor=user, name="soak", signed_in_at=now, created_via="soak").secret

    # --- the cutover ---

    def run(self) -> None:
        from migrations_app.models import Execution, Gate

        status, _, body = self.api.call(
            "POST", "/api/v1/executions/", self.tokens["engineer"], {"environment": self.env.name}
        )
        if status not in (200, 201):
            raise RuntimeError(f"starting the cutover: {status} {body}")
        self.execution = Execution.objects.get(pk=body["id"])
        self.phase("cutover")
        during, window = fault_schedule(self.t)
        pending_window = list(window)
        during_by_step = {step: (kind, params) for step, kind, params in during}
        window_started: float | None = None
        soak_fault_at: dict[int, float] = {}
        deadline = time.monotonic() + self.t.minutes * 60 * 2.5
        while time.monotonic() < deadline:
            self.check_alive()
            self.read_results()
            self.resolve_findings()
            self.execution.refresh_from_db()
            if not self.execution.is_active:
                break
            for gate in Gate.objects.filter(execution=self.execution, status=Gate.Status.WAITING).order_by("pk"):
                self.decide(gate)
                gate.refresh_from_db()
                if gate.status != Gate.Status.APPROVED or gate.kind != Gate.KIND_STEP:
                    continue
                if gate.step in during_by_step:
                    soak_fault_at[gate.step] = time.monotonic() + self.t.soak_seconds / 2
                if gate.step == len(self.execution.plan["steps"]):
                    window_started = time.monotonic()
                    self.phase("post-cutover window")
            for step, when in list(soak_fault_at.items()):
                if time.monotonic() >= when:
                    kind, params = during_by_step[step]
                    self.command(kind, params)
                    del soak_fault_at[step]
            if window_started is not None:
                elapsed = (time.monotonic() - window_started) / self.t.post_window_seconds
                while pending_window and pending_window[0][0] <= elapsed:
                    _, kind, params = pending_window.pop(0)
                    self.command(kind, params)
            time.sleep(POLL)
        self.execution.refresh_from_db()
        self.say(f"execution {self.execution.status}")
        self.phase("final reconciliation")
        self.drain_reconciliation(limit=max(60, 6 * self.t.window_seconds))
        self.resolve_findings(everything=True)

    def gate_detail(self, gate, token: str) -> tuple[dict, str]:
        status, headers, body = self.api.call("GET", f"/api/v1/gates/{gate.pk}/", token)
        if status != 200:
            raise RuntimeError(f"reading gate {gate.pk}: {status} {body}")
        return body, headers.get("ETag") or body.get("etag", "")

    def decide(self, gate) -> None:
        """Approve a waiting gate through the API, as many approvers as it needs. A gate whose
        hard checks fail is retried after fresh evidence, then approved with an override (two
        approvers), as people would after reading why; the close gate first has its findings
        resolved."""
        from migrations_app.models import Gate

        log = self.gate_log.setdefault(
            gate.pk, {"arrived": time.monotonic(), "tries": 0, "overrides": 0, "blocked_by": []}
        )
        who = [u for u in APPROVERS if not gate.approvals.filter(approver__username=u).exists()]
        if not who:
            return
        username = who[0]
        if gate.kind == Gate.KIND_CLOSE and not log.get("close_prepared"):
            self.say("close gate: waiting for reconciliation to catch up, then resolving findings")
            self.drain_reconciliation(grace=None, limit=180)
            self.resolve_findings(everything=True)
            log["close_prepared"] = True
            log["evidence_asked"] = 0.0  # collect again now the findings are resolved
        if not gate.checks.exists() or log.get("evidence_asked", -1) == 0.0:
            # The worker collects the evidence when the gate arrives; ask again now and then.
            if time.monotonic() - log.get("evidence_asked", 0.0) > 10:
                self.api.call("POST", f"/api/v1/gates/{gate.pk}/evidence/", self.tokens["approver1"], {})
                log["evidence_asked"] = time.monotonic()
            return
        token = self.fresh_token(username)
        body, etag = self.gate_detail(gate, token)
        log["tries"] += 1
        blocking = [c for c in body.get("checks", []) if c.get("blocks")]
        failing = [c["label"] for c in blocking]
        # Open findings are never overridden: they are resolved, and the evidence collected again.
        override = log["tries"] > 1 and not any(c["key"] == "open_findings" for c in blocking)
        if failing and not override:
            if log["tries"] == 1 or failing != log["blocked_by"]:
                self.say(f"gate {gate.state_name} blocked by {failing}; fresh evidence, then again")
            log["blocked_by"] = failing
            self.resolve_findings(everything=True)
            self.api.call("POST", f"/api/v1/gates/{gate.pk}/evidence/", token, {})
            time.sleep(4)
            return
        if failing:
            path, payload = (
                f"/api/v1/gates/{gate.pk}/override/",
                {
                    "reason": f"soak: {', '.join(failing)} fails under the soak's load and injected faults; read, accepted",
                },
            )
            log["overrides"] += 1
        else:
            path, payload = f"/api/v1/gates/{gate.pk}/approve/", {"comment": "soak: evidence read, all green"}
        status, _, answer = self.api.call("POST", path, token, payload, {"If-Match": etag})
        if status == 200:
            self.say(
                f"gate {gate.state_name} (step {gate.step}) {'overridden' if failing else 'approved'} by {username}"
            )
            return
        self.say(f"gate {gate.state_name}: {username} got {status} {str(answer)[:200]}")
        time.sleep(1)

    def resolve_findings(self, *, everything: bool = False) -> None:
        """Resolve open findings as an approver does once each is explained (``everything``:
        also the ones not matched to an injected fault, noting so)."""
        from reconciliation.models import Finding

        open_ = list(Finding.objects.filter(environment=self.env, status__in=Finding.UNRESOLVED).order_by("pk"))
        if not open_:
            return
        token = None
        for finding in open_:
            fault = self.match(finding)
            if fault is None and not everything:
                continue
            note = (
                f"soak: caused by the {fault['fault']} injected at {fault['at']}"
                if fault
                else "soak: not injected by the bench; investigated"
            )
            token = token or self.fresh_token("approver1")
            status, _, answer = self.api.call("POST", f"/api/v1/findings/{finding.pk}/resolve/", token, {"note": note})
            if status == 200:
                self.resolved[finding.pk] = note
                self.say(f"finding {finding.pk} ({finding.kind}) resolved: {note}")
            else:
                self.say(f"finding {finding.pk}: resolve got {status} {str(answer)[:200]}")

    def match(self, finding) -> dict | None:
        ids = set(finding.transaction_ids or [])
        for row in self.injected:
            if ids & set(row.get("transaction_ids") or []):
                return row
        return None

    def drain_reconciliation(self, *, grace: float | None = 0, limit: float = 120) -> None:
        """Wait until every window of the period that is due (after ``grace``; None: the grace the
        job uses now) has a finished run, or ``limit`` seconds have passed."""
        from datetime import timedelta

        from django.utils import timezone

        from reconciliation import selectors

        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            self.check_alive()
            self.read_results()
            now = timezone.now()
            if grace is None:
                lag = selectors.replication_lag(environment=self.env, since=now - timedelta(minutes=5), now=now)
                wait = selectors.grace_seconds(lag)
            else:
                wait = grace
            if not selectors.windows_due(environment=self.env, now=now, grace=wait):
                return
            time.sleep(2)
        self.say(f"reconciliation still behind after {limit:.0f} s")

    # --- stop ---

    def stop(self) -> None:
        self.phase("stop")
        self.rss.stop()
        if "dataplane" in self.children and self.children["dataplane"].poll() is None:
            self.command("stop")
            deadline = time.monotonic() + 60
            while not self.traffic_final and time.monotonic() < deadline:
                self.read_results()
                time.sleep(0.5)
        for proc in self.children.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.children.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)

    def stop_sandbox(self) -> None:
        if getattr(self, "sandbox", None) is not None:
            self.sandbox.stop()

    # --- the report ---

    def report(self) -> dict:
        from audit.models import AuditEvent
        from controlplane.aws import stepfunctions
        from migrations_app.models import Approval, Gate, GateDelivery
        from migrations_app.watchdog import GATE_TASK_RESOURCE, TASK_ENDS
        from reconciliation.models import Finding, ReconciliationRun

        history = stepfunctions.execution_history(target=self.env.aws_target(), execution_arn=self.execution.arn)
        # Which gate a task end belongs to: the gate task scheduled last before it (the machine
        # runs one state at a time), named in its message, as gate_task_outcome reads it.
        per_state: dict[str, dict[str, int]] = {}
        current = ""
        for event in history:
            if event.type == "TaskScheduled" and event.details.get("resource") == GATE_TASK_RESOURCE:
                try:
                    message = json.loads(event.details.get("parameters") or "{}").get("MessageBody") or {}
                except ValueError:
                    message = {}
                current = str(message.get("stateName", "")) if isinstance(message, dict) else ""
            elif event.type in TASK_ENDS and event.details.get("resourceType", "sqs") == "sqs" and current:
                per_state.setdefault(current, {}).setdefault(event.type, 0)
                per_state[current][event.type] += 1
                current = ""
        gates = []
        for gate in Gate.objects.filter(execution=self.execution).order_by("pk"):
            deliveries = list(GateDelivery.objects.filter(gate=gate))
            approvals = list(gate.approvals.filter(decision=Approval.Decision.APPROVE))
            delivered_audit = AuditEvent.objects.filter(
                event_type="gate.delivered", target_type="migrations_app.gate", target_id=str(gate.pk)
            ).count()
            successes = per_state.get(gate.state_name, {}).get("TaskSucceeded", 0)
            once = (
                len(deliveries) == 1
                and deliveries[0].status == GateDelivery.Status.DELIVERED
                and delivered_audit == 1
                and successes == 1
            )
            wait = (gate.decided_at - gate.arrived_at).total_seconds() if gate.decided_at else None
            gates.append(
                {
                    "gate": gate.state_name,
                    "step": gate.step,
                    "target": gate.target_weights.get(self.env.target_region),
                    "required": gate.required_approvals,
                    "approvals": len(approvals),
                    "overrides": sum(1 for a in approvals if a.override),
                    "deliveries": len(deliveries),
                    "delivery_status": ",".join(d.status for d in deliveries),
                    "attempts": sum(d.attempts for d in deliveries),
                    "audit_delivered": delivered_audit,
                    "history_task_succeeded": successes,
                    "history_other_ends": sum(
                        v for k, v in per_state.get(gate.state_name, {}).items() if k != "TaskSucceeded"
                    ),
                    "arrival_to_decision_s": wait,
                    "once": once,
                }
            )
        findings = list(Finding.objects.filter(environment=self.env).order_by("pk"))
        faults = []
        matched: set[int] = set()
        for row in self.injected:
            ids = set(row.get("transaction_ids") or [])
            hits = [f for f in findings if ids and ids & set(f.transaction_ids or [])]
            matched.update(f.pk for f in hits)
            injected_at = datetime.fromisoformat(row["at"].replace("Z", "+00:00"))
            expected_kind = KIND_OF_EXPECT.get(row["expect"])
            faults.append(
                {
                    "at": row["at"],
                    "fault": row["fault"],
                    "expect": row["expect"],
                    "transaction_ids": row.get("transaction_ids") or [],
                    "findings": [f.pk for f in hits],
                    "finding_kinds": sorted({f.kind for f in hits}),
                    "found": (bool(hits) and all(f.kind == expected_kind for f in hits)) if expected_kind else not hits,
                    "detected_after_s": min((f.detected_at - injected_at).total_seconds() for f in hits)
                    if hits
                    else None,
                    "statuses": sorted({f.status for f in hits}),
                }
            )
        unexpected = [
            {"id": f.pk, "kind": f.kind, "transaction_ids": f.transaction_ids, "summary": f.summary, "status": f.status}
            for f in findings
            if f.pk not in matched
        ]
        runs = list(ReconciliationRun.objects.filter(environment=self.env).order_by("window_start"))
        window_phase = dict(self.phases).get("post-cutover window")
        by_status: dict[str, int] = {}
        for run in runs:
            by_status[run.status] = by_status.get(run.status, 0) + 1
        traffic = (self.traffic_final or self.traffic_last).get("traffic", {})
        plane = (self.traffic_final or self.traffic_last).get("plane", {})
        phase_times = []
        for (name, at), nxt in zip(self.phases, [*self.phases[1:], ("end", time.monotonic())], strict=True):
            phase_times.append({"phase": name, "seconds": round(nxt[1] - at, 1)})
        return {
            "timings": asdict(self.t) | {"post_window_seconds": self.t.post_window_seconds},
            "rate": self.args.rate,
            "execution": {"name": self.execution.name, "status": self.execution.status},
            "phases": phase_times,
            "gates": gates,
            "faults": faults,
            "inject_errors": self.inject_errors,
            "unexpected_findings": unexpected,
            "findings_total": len(findings),
            "findings_unresolved": sum(1 for f in findings if f.status != Finding.Status.RESOLVED),
            "runs": {
                "total": len(runs),
                "by_status": by_status,
                "attempts": sum(r.attempt for r in runs),
                "windows_first": runs[0].window_start.isoformat() if runs else None,
                "windows_last": runs[-1].window_start.isoformat() if runs else None,
                "post_window_runs": self.post_window_runs(runs, window_phase),
                "items_compared": sum(sum(c.get("count", 0) for c in (r.counts or {}).values()) for r in runs),
            },
            "traffic": traffic,
            "replication": {
                "lag_ms": plane.get("lag_ms"),
                "counts": plane.get("counts"),
                "errors": plane.get("errors"),
            },
            "rss": self.rss.rows(window_mark="post-cutover window", mid_seconds=self.t.post_window_seconds / 2),
            "api_calls": self.api.calls,
        }

    def post_window_runs(self, runs, window_phase: float | None) -> int:
        """Runs of windows that started after the 100 % gate was approved (the compressed 72 h)."""
        from migrations_app.models import Gate

        last_step = (
            Gate.objects.filter(execution=self.execution, kind=Gate.KIND_STEP).order_by("-step").first()
            if window_phase
            else None
        )
        if last_step is None or last_step.decided_at is None:
            return 0
        return sum(1 for r in runs if r.window_start >= last_step.decided_at)


def render(r: dict) -> str:
    t = r["timings"]
    out = [
        f"Compressed cutover soak: {t['windows']} windows of {t['window_seconds']} s "
        f"(post-cutover window {t['post_window_seconds']} s), soak {t['soak_seconds']} s per step, "
        f"traffic asked {r['rate']:g}/s; execution {r['execution']['status']}",
        "",
        table(
            [[p["phase"], f"{p['seconds']:.1f}"] for p in r["phases"]],
            ["phase", "seconds"],
            right={1},
        ),
        "",
        "Approvals (GateDelivery rows, gate.delivered audit events, TaskSucceeded in the execution history):",
        "",
        table(
            [
                [
                    g["gate"],
                    str(g["target"]),
                    f"{g['approvals']}/{g['required']}",
                    str(g["overrides"]),
                    str(g["deliveries"]),
                    g["delivery_status"],
                    str(g["attempts"]),
                    str(g["audit_delivered"]),
                    str(g["history_task_succeeded"]),
                    f"{g['arrival_to_decision_s']:.1f}" if g["arrival_to_decision_s"] is not None else "-",
                    "yes" if g["once"] else "NO",
                ]
                for g in r["gates"]
            ],
            [
                "gate",
                "EU %",
                "approvals",
                "overrides",
                "deliveries",
                "status",
                "attempts",
                "audit delivered",
                "TaskSucceeded",
                "wait s",
                "once",
            ],
            right={1, 3, 4, 6, 7, 8, 9},
        ),
        "",
        "Injected faults and the findings that caught them (matched by transaction id):",
        "",
        table(
            [
                [
                    f["at"][11:19],
                    f["fault"],
                    f["expect"],
                    ", ".join(x[:8] for x in f["transaction_ids"]) or "-",
                    ", ".join(str(x) for x in f["findings"]) or ("none expected" if f["expect"] == "lag" else "-"),
                    ", ".join(f["finding_kinds"]) or "-",
                    f"{f['detected_after_s']:.1f}" if f["detected_after_s"] is not None else "-",
                    "yes" if f["found"] else "NO",
                ]
                for f in r["faults"]
            ],
            ["at (UTC)", "fault", "expect", "transactions", "findings", "kind", "found after s", "ok"],
            right={6},
        ),
        "",
        f"Findings: {r['findings_total']} in all, {len(r['unexpected_findings'])} not matched to an injected fault, "
        f"{r['findings_unresolved']} unresolved at the end; failed injection attempts: {len(r['inject_errors'])}.",
        f"Reconciliation: {r['runs']['total']} windows reconciled ({r['runs']['post_window_runs']} after 100 %), "
        f"{r['runs']['attempts'] - r['runs']['total']} re-checks, by status {r['runs']['by_status']}, "
        f"{r['runs']['items_compared']} items counted.",
    ]
    tr = r["traffic"] or {}
    lag = (r["replication"] or {}).get("lag_ms") or {}
    if tr:
        seconds = tr.get("seconds") or 1
        out.append(
            f"Traffic: {tr.get('transactions', 0)} transactions ({tr.get('transactions', 0) / seconds:.1f}/s) and "
            f"{tr.get('callbacks', 0)} callbacks over {seconds:.0f} s, statuses {tr.get('statuses')}, "
            f"errors {tr.get('errors')}; replication lag p50 {lag.get('p50', 0) or 0:.0f} ms, "
            f"p99 {lag.get('p99', 0) or 0:.0f} ms over {lag.get('samples', 0)} copies; "
            f"data plane loop errors {(r['replication'] or {}).get('errors')}."
        )
    for f in r["unexpected_findings"]:
        out.append(f"- not injected: finding {f['id']} {f['kind']}: {f['summary'][:160]}")
    out += [
        "",
        "Resident memory (VmRSS, MiB, sampled every 3 s):",
        "",
        table(
            [
                [
                    x["process"],
                    str(x["samples"]),
                    f"{x['start_mib']:.1f}",
                    f"{x['window_start_mib']:.1f}" if x["window_start_mib"] is not None else "-",
                    f"{x['window_mid_mib']:.1f}" if x["window_mid_mib"] is not None else "-",
                    f"{x['peak_mib']:.1f}",
                    f"{x['end_mib']:.1f}",
                    f"{x['end_mib'] - x['window_start_mib']:+.1f}" if x["window_start_mib"] is not None else "-",
                ]
                for x in r["rss"]
            ],
            ["process", "samples", "start", "window start", "window middle", "peak", "end", "end − window start"],
            right={1, 2, 3, 4, 5, 6, 7},
        ),
    ]
    return "\n".join(out)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    timings = Timings.plan(minutes=args.minutes, windows=args.windows, soak=args.soak)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = Path(args.out) if args.out else ROOT / "var" / "soak" / stamp
    out.mkdir(parents=True, exist_ok=True)
    from sandbox.processes import free_port

    os.environ.update(timings.environment())
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "controlplane.settings",
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(40),
            "DJANGO_SECURE_COOKIES": "false",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "CONTROLPLANE_VAR_DIR": str(out / "var"),
            "SANDBOX_AWS_ENDPOINT": f"http://127.0.0.1:{free_port()}",
            "SANDBOX_DATAPLANE_DIR": str(out / "dataplane"),
            "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
        }
    )
    if args.reset_db:
        reset_database(os.environ["DATABASE_URL"], os.environ["CELERY_BROKER_URL"])
    import django

    django.setup()
    soak = Soak(args, timings, out)
    print(
        f"soak: {timings.windows} windows × {timings.window_seconds} s, soak {timings.soak_seconds} s, "
        f"stall {timings.stall_seconds} s, traffic {args.rate:g}/s; logs in {out / 'logs'}",
        flush=True,
    )
    try:
        try:
            soak.start()
            soak.run()
        finally:
            soak.stop()
        report = soak.report()  # reads the execution history: before the sandbox stops
    finally:
        soak.stop_sandbox()
    (out / "soak.json").write_text(json.dumps(report, indent=1, default=str))
    print()
    print(render(report))
    print(f"\nJSON: {out / 'soak.json'}")
    ok = all(g["once"] for g in report["gates"]) and all(f["found"] for f in report["faults"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
