"""The web tier under load: gunicorn on this machine, PostgreSQL, 50 concurrent clients.

Not part of ``make test``. Needs PostgreSQL, and wrk (``apt-get install wrk``) or else it falls
back to a Python client (threads, keep-alive; slower, and it competes for the same 2 cores):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench .venv/bin/python bench/web.py \
        [--clients 50] [--seconds 10] [--configs 2x1:0,2x1:60,4x1:60,2x4:60]

1. Creates a throw-away database (``test_<name>``, migrated like the test suite's) and seeds one
   cutover in progress as the dashboard sees it after two days: three environments; in the one
   measured, 48 h of telemetry snapshots every 30 s (5,760) and their chart points, a running
   execution with a gate waiting (seven checks) and an approved one, 40 finished executions with
   their gates, checks and approvals, 576 reconciliation runs, findings and alerts. One
   telemetry source (alarms) fails in the newest snapshots, as when AWS throttles it, so the
   dashboard looks back for its last good reading.
2. Profiles each endpoint in this process: SQL queries per request
   (``CaptureQueriesContext``) and the median time of one request, no concurrency.
3. For each configuration ``WORKERSxTHREADS:CONN_MAX_AGE`` starts gunicorn (sync workers for one
   thread, gthread otherwise) with production settings (DEBUG off) and
   ``DATABASE_CONN_MAX_AGE``, then drives each endpoint with N concurrent keep-alive clients,
   one endpoint at a time in the same run: a 2 s warm-up, then ``--seconds`` measured.
   Prints requests/s, p50, p99 and errors.

Endpoints: ``/api/v1/me/`` (the ceiling: token auth and a serializer, no domain query), the
dashboard's status partial (what htmx polls every 5 s), the telemetry API, the gate page, the
gates list (API) and the home page (the waiting gates). Session endpoints carry a session
cookie, API endpoints a personal token. No AWS anywhere (the environments point at a closed
port). Figures, not assertions: docs/performance.md ("Web") says what they mean.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings_test")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

SOURCE, TARGET = "us-east-1", "eu-central-1"
SNAPSHOT_EVERY = timedelta(seconds=30)
HOURS = 48

WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\\"requests\\": %d, \\"duration_us\\": %d, \\"p50_us\\": %d, \\"p90_us\\": %d, \\"p99_us\\": %d, "
    .. "\\"max_us\\": %d, \\"status_errors\\": %d, \\"socket_errors\\": %d}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, e.status, e.connect + e.read + e.write + e.timeout))
end
"""


# --- seeding ------------------------------------------------------------------------------------


def _payload(now: datetime, env_name: str, target_share: int, with_alarms: bool) -> dict:
    payload = {
        "route53_weights": {
            "record": f"api.{env_name}.example.com",
            "weights": {SOURCE: 100 - target_share, TARGET: target_share},
            "ttl": {SOURCE: 60, TARGET: 60},
        },
        "replication_latency": {
            "table": f"{env_name}-transactions",
            "window_seconds": 900,
            "directions": [
                {
                    "from": a,
                    "to": b,
                    "datapoints": 15,
                    "latest_at": (now - timedelta(minutes=1)).isoformat(),
                    "latest_average_ms": 118.0,
                    "latest_maximum_ms": 240.0,
                    "window_maximum_ms": 410.0,
                }
                for a, b in ((SOURCE, TARGET), (TARGET, SOURCE))
            ],
        },
        "transactions": {
            "regions": [
                {
                    "region": r,
                    "function": f"{env_name}-{r}-tx",
                    "minute": (now - timedelta(minutes=1)).isoformat(),
                    "per_minute": 30000.0,
                    "errors_per_minute": 2.0,
                }
                for r in (SOURCE, TARGET)
            ]
        },
        "dlq_depths": {
            "queues": [
                {"queue": f"{env_name}-{role}-dlq", "role": role, "region": r, "messages": 0}
                for r in (SOURCE, TARGET)
                for role in ("transactions", "replication", "events")
            ]
        },
        "executions": {"executions": [{"name": f"{env_name}-run", "status": "RUNNING", "error": ""}]},
        "stacks": {
            "stacks": [
                {"stack": f"{env_name}-{k}", "key": k, "region": r, "status": "UPDATE_COMPLETE", "healthy": True}
                for k, r in (
                    ("network", SOURCE),
                    ("network", TARGET),
                    ("data", SOURCE),
                    ("regional-source", SOURCE),
                    ("regional-target", TARGET),
                    ("routing", SOURCE),
                    ("events", SOURCE),
                    ("events", TARGET),
                    ("orchestration", SOURCE),
                )
            ]  # fmt: skip
        },
    }
    if with_alarms:
        payload["alarms"] = {
            "alarms": [
                {
                    "name": f"{env_name}-{r}-{m}",
                    "region": r,
                    "state": "OK",
                    "since": now.isoformat(),
                    "reason": "Threshold Crossed: no datapoints were breaching",
                    "metric": m,
                }
                for r in (SOURCE, TARGET)
                for m in ("ReplicationLatency", "Errors", "ApproximateNumberOfMessagesVisible")
            ]
        }
    return payload


def seed() -> dict:
    from django.contrib.auth.models import Group
    from django.test import Client

    from controlplane.accounts.models import User
    from controlplane.accounts.tokens import api_token_create
    from migrations_app import services
    from migrations_app.models import (
        Alert,
        Approval,
        Environment,
        Execution,
        Gate,
        GateCheck,
        GateDelivery,
        TelemetryPoint,
        TelemetrySnapshot,
    )
    from reconciliation.models import Finding, ReconciliationRun

    started = time.perf_counter()
    now = datetime.now(UTC)
    people = {}
    for username, roles in (("erin", ["engineer"]), ("alice", ["approver"]), ("bob", ["approver"]),
                            ("dana", ["auditor"]), ("lee", ["engineer", "approver", "auditor"])):  # fmt: skip
        user = User.objects.create(
            username=username, first_name=username.title(), email=f"{username}@example.com",
            idp_issuer="http://idp.bench", idp_subject=f"user-{username}", idp_authenticated_at=now,
        )  # fmt: skip
        user.groups.set([Group.objects.get_or_create(name=r)[0] for r in roles])
        people[username] = user

    environments = []
    for name in ("payments", "ledger", "cards"):
        environments.append(
            services.environment_create(
                actor=None,
                name=name,
                kind="sandbox",
                aws_endpoint_url="http://127.0.0.1:9",
                hosted_zone_name=f"{name}.example.com",
                record_name=f"api.{name}.example.com",
            )  # fmt: skip
        )
    env = environments[0]
    Environment.objects.filter(pk=env.pk).update(hosted_zone_id="Z0BENCH", state_machine_arn="arn:bench")

    check_keys = [
        ("replication_latency", "DynamoDB replication latency"), ("dlq_depth", "Dead-letter queues"),
        ("alarms", "CloudWatch alarms"), ("event_bus", "EventBridge bus policies"), ("drift", "Stack drift"),
        ("findings", "Reconciliation findings"), ("ttl", "Route 53 TTL settled"),
    ]  # fmt: skip
    gates, checks, approvals, deliveries = [], [], [], []
    plan = {"version": 1, "steps": [{"target_weight": 10}, {"target_weight": 100}], "window_seconds": 86400}
    for e in environments:
        for i in range(40):
            begun = now - timedelta(days=30) + timedelta(hours=12 * i)
            ex = Execution.objects.create(
                environment=e, name=f"{e.name}-old-{i}", arn=f"arn:aws:states:::execution:sm:{e.name}-old-{i}",
                status="SUCCEEDED", plan=plan, started_by=people["erin"], created_at=begun, started_at=begun,
                stopped_at=begun + timedelta(hours=3),
            )  # fmt: skip
            for step, weight in ((1, 10), (2, 100)):
                gates.append(
                    Gate(
                        execution=ex,
                        state_name=f"Gate{step:02}",
                        entered_at=f"{begun.isoformat()}-{step}",
                        step=step,
                        target_weights={SOURCE: 100 - weight, TARGET: weight},
                        task_token="x" * 80,
                        status="approved",
                        arrived_at=begun + timedelta(minutes=30 * step),
                        decided_at=begun + timedelta(minutes=30 * step + 5),
                        required_approvals=step,
                    )  # fmt: skip
                )
    running = Execution.objects.create(
        environment=env, name=f"{env.name}-run", arn=f"arn:aws:states:::execution:sm:{env.name}-run",
        status="RUNNING", plan=plan, started_by=people["erin"], created_at=now - timedelta(hours=2),
        started_at=now - timedelta(hours=2),
    )  # fmt: skip
    gates.append(
        Gate(
            execution=running,
            state_name="Gate01",
            entered_at="run-1",
            step=1,
            target_weights={SOURCE: 90, TARGET: 10},
            task_token="x" * 80,
            status="approved",
            arrived_at=now - timedelta(minutes=100),
            decided_at=now - timedelta(minutes=95),
        )  # fmt: skip
    )
    waiting = Gate(
        execution=running, state_name="Gate02", entered_at="run-2", step=2, target_weights={SOURCE: 0, TARGET: 100},
        task_token="x" * 80, required_approvals=2, arrived_at=now - timedelta(minutes=20),
    )  # fmt: skip
    gates.append(waiting)
    Gate.objects.bulk_create(gates)
    for g in gates:
        for key, label in check_keys:
            checks.append(
                GateCheck(
                    gate=g,
                    key=key,
                    label=label,
                    verdict="pass",
                    value="within limits",
                    detail={"measured": 118, "limit": 1000},
                    observed_at=g.arrived_at,
                    collected_at=g.arrived_at,
                )  # fmt: skip
            )
        if g.status == "approved":
            for who in ("alice", "bob")[: g.required_approvals]:
                approvals.append(
                    Approval(
                        gate=g,
                        approver=people[who],
                        decision="approve",
                        comment="lag fine, DLQs empty",
                        identity=people[who].idp_identity(),
                        created_at=g.decided_at,
                        evidence=[{"key": k, "verdict": "pass"} for k, _ in check_keys],
                    )  # fmt: skip
                )
            deliveries.append(
                GateDelivery(gate=g, kind="success", payload={}, status="delivered", delivered_at=g.decided_at)
            )
    GateCheck.objects.bulk_create(checks)
    Approval.objects.bulk_create(approvals)
    GateDelivery.objects.bulk_create(deliveries)

    snapshots, points = [], []
    count = int(timedelta(hours=HOURS) / SNAPSHOT_EVERY)
    for i in range(count):
        at = now - SNAPSHOT_EVERY * (count - 1 - i) - timedelta(seconds=5)
        alarms_ok = i < count - 6  # the newest three minutes: CloudWatch throttles the alarms read
        sources = {key: {"status": "ok", "duration_ms": 20} for key in _payload(at, env.name, 10, True)}
        if not alarms_ok:
            sources["alarms"] = {"status": "error", "error": "Rate exceeded", "code": "Throttling"}
        snapshots.append(
            TelemetrySnapshot(
                environment=env,
                slot=int(at.timestamp() // 30),
                status="complete" if alarms_ok else "partial",
                started_at=at - timedelta(milliseconds=300),
                collected_at=at,
                duration_ms=300,
                sources=sources,
                payload=_payload(at, env.name, 10 if at > now - timedelta(minutes=95) else 0, alarms_ok),
            )  # fmt: skip
        )
        for region, share in ((SOURCE, 90), (TARGET, 10)):
            points.append(TelemetryPoint(environment=env, metric="route53_weight", series=region, at=at, value=share))
    for m in range(HOURS * 60):
        minute = (now - timedelta(minutes=HOURS * 60 - m)).replace(second=0, microsecond=0)
        for a, b in ((SOURCE, TARGET), (TARGET, SOURCE)):
            points.append(
                TelemetryPoint(
                    environment=env,
                    metric="replication_latency",
                    series=f"{a}→{b}",
                    at=minute,
                    average=110 + m % 17,
                    maximum=230 + m % 41,
                )  # fmt: skip
            )
        for region in (SOURCE, TARGET):
            points.append(
                TelemetryPoint(environment=env, metric="transactions_per_minute", series=region, at=minute, value=30000)
            )
            points.append(TelemetryPoint(environment=env, metric="errors_per_minute", series=region, at=minute, value=2))  # fmt: skip
    TelemetrySnapshot.objects.bulk_create(snapshots, batch_size=500)
    TelemetryPoint.objects.bulk_create(points, batch_size=2000)

    runs = []
    for e in environments:
        for i in range(HOURS * 12):
            start = now - timedelta(minutes=5 * (HOURS * 12 - i))
            runs.append(
                ReconciliationRun(
                    environment=e,
                    window_start=start,
                    window_end=start + timedelta(minutes=5),
                    region_a=SOURCE,
                    region_b=TARGET,
                    status="clean",
                    started_at=start + timedelta(minutes=6),
                    finished_at=start + timedelta(minutes=6, seconds=3),
                    counts={SOURCE: 150000, TARGET: 150000},
                    buckets_compared=256,
                    keys_read=2000,
                    read_units=500.0,
                )  # fmt: skip
            )
    ReconciliationRun.objects.bulk_create(runs, batch_size=1000)
    findings = [
        Finding(
            environment=env,
            kind="missing_in_region",
            status="open" if i < 8 else "resolved",
            summary=f"tx-{i} missing in {TARGET}",
            regions=[TARGET],
            transaction_ids=[f"tx-{i}"],
            detected_at=now - timedelta(hours=i),
            fingerprint=f"bench-{i}",
        )  # fmt: skip
        for i in range(60)
    ]
    Finding.objects.bulk_create(findings)
    for i in range(4):
        Alert.objects.create(
            environment=env, kind=f"bench_{i}", level="warning", subject_type="gate", subject_id=str(waiting.pk),
            message=f"Gate waiting for {20 + i} minutes",
        )  # fmt: skip

    token = api_token_create(user=people["lee"], actor=people["lee"], name="bench", created_via="command").secret
    client = Client()
    client.force_login(people["lee"])
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    print(
        f"seeded in {time.perf_counter() - started:.1f} s: {len(snapshots):,} snapshots, {len(points):,} chart points, "
        f"{len(gates)} gates, {len(checks)} checks, {len(runs)} reconciliation runs"
    )
    return {"environment": env.name, "gate": waiting.pk, "token": token, "cookie": cookie}


def endpoints(seeded: dict) -> list[tuple[str, str, str]]:
    """(label, path, how it authenticates)."""
    env, gate = seeded["environment"], seeded["gate"]
    return [
        ("ceiling: GET /api/v1/me/", "/api/v1/me/", "token"),
        ("dashboard status partial (htmx)", f"/environments/{env}/dashboard/status/", "session"),
        ("telemetry API", f"/api/v1/environments/{env}/telemetry/", "token"),
        ("gate page", f"/gates/{gate}/", "session"),
        ("gates list API (page of 50)", "/api/v1/gates/", "token"),
        ("home page (waiting gates)", "/", "session"),
    ]


def headers_for(seeded: dict, auth: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {seeded['token']}"} if auth == "token" else {"Cookie": seeded["cookie"]}


# --- profiling in process ---------------------------------------------------------------------------


def profile(seeded: dict) -> list[dict]:
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    rows = []
    for label, path, auth in endpoints(seeded):
        extra = {"HTTP_AUTHORIZATION": f"Bearer {seeded['token']}"} if auth == "token" else {}
        if auth == "session":
            client.cookies[settings.SESSION_COOKIE_NAME] = seeded["cookie"].split("=", 1)[1]
        response = client.get(path, **extra)
        assert response.status_code == 200, (path, response.status_code)
        with CaptureQueriesContext(connection) as captured:
            client.get(path, **extra)
        queries = list(captured.captured_queries)  # read now: the next request resets the log
        times = []
        for _ in range(20):
            t0 = time.perf_counter()
            client.get(path, **extra)
            times.append(time.perf_counter() - t0)
        slowest = sorted(queries, key=lambda q: -float(q["time"]))[:1]
        rows.append(
            {
                "label": label,
                "queries": len(queries),
                "median_ms": statistics.median(times) * 1000,
                "bytes": len(response.content),
                "slowest_sql": (slowest[0]["sql"][:160] + f" ({slowest[0]['time']} s)") if slowest else "",
            }
        )
    return rows


# --- gunicorn and the load ------------------------------------------------------------------------


def database_url() -> str:
    d = connection.settings_dict
    password = f":{d['PASSWORD']}" if d.get("PASSWORD") else ""
    return f"postgres://{d['USER']}{password}@{d['HOST'] or '127.0.0.1'}:{d['PORT'] or 5432}/{d['NAME']}"


class Gunicorn:
    def __init__(self, *, workers: int, threads: int, conn_max_age: int, var_dir: str):
        from sandbox.processes import free_port

        self.port = free_port()
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "controlplane.settings",
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": "bench-web-secret-key-0123456789abcdef0123456789abcdef",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_SECURE_COOKIES": "false",
            "DATABASE_URL": database_url(),
            "DATABASE_CONN_MAX_AGE": str(conn_max_age),
            "CONTROLPLANE_VAR_DIR": var_dir,
            "LOG_LEVEL": "WARNING",
        }
        args = [sys.executable, "-m", "gunicorn", "controlplane.wsgi:application", "--bind", f"127.0.0.1:{self.port}"]
        args += ["--workers", str(workers), "--backlog", "2048", "--log-level", "warning"]
        if threads > 1:
            args += ["--worker-class", "gthread", "--threads", str(threads)]
        self.process = subprocess.Popen(args, cwd=ROOT, env=env)
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise SystemExit("gunicorn did not start") from None
                time.sleep(0.2)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def run_wrk(url: str, headers: dict, clients: int, seconds: int, script: str) -> dict:
    args = ["wrk", "-t1", f"-c{clients}", f"-d{seconds}s", "--timeout", "10s", "-s", script]
    for k, v in headers.items():
        args += ["-H", f"{k}: {v}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("WRKJSON "))
    data = json.loads(line[len("WRKJSON ") :])
    return {
        "rps": data["requests"] / (data["duration_us"] / 1e6),
        "p50_ms": data["p50_us"] / 1000,
        "p90_ms": data["p90_us"] / 1000,
        "p99_ms": data["p99_us"] / 1000,
        "max_ms": data["max_us"] / 1000,
        "requests": data["requests"],
        "errors": data["status_errors"] + data["socket_errors"],
    }


def run_python(url: str, headers: dict, clients: int, seconds: int, script: str) -> dict:
    """The fallback without wrk: one thread per client, each a keep-alive connection."""
    host, _, rest = url.removeprefix("http://").partition("/")
    path = "/" + rest
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client():
        conn, mine, bad = None, [], 0
        while time.monotonic() < deadline:
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(host, timeout=10)
                t0 = time.perf_counter()
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                mine.append(time.perf_counter() - t0)
                if response.status >= 400:
                    bad += 1
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except OSError:
                bad += 1
                conn = None
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000 if latencies else 0.0

    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": pct(50),
        "p90_ms": pct(90),
        "p99_ms": pct(99),
        "max_ms": latencies[-1] * 1000 if latencies else 0.0,
        "requests": len(latencies),
        "errors": errors[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=10, help="measured seconds per endpoint")
    parser.add_argument(
        "--configs",
        default="2x1:0,2x1:60,4x1:60,2x4:60",
        help="gunicorn WORKERSxTHREADS:DATABASE_CONN_MAX_AGE, comma-separated ('' profiles only)",
    )
    parser.add_argument("--only", default="", help="run only endpoints whose label contains this")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--keep-db", action="store_true", help="leave the seeded database for a look with psql")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        raise SystemExit("bench/web.py needs PostgreSQL: set DATABASE_URL=postgres://...")
    load = run_wrk if shutil.which("wrk") else run_python
    print(f"load generator: {'wrk' if load is run_wrk else 'Python threads (wrk not found)'}; {os.cpu_count()} CPUs")
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    var_dir = tempfile.mkdtemp(prefix="bench-web-")
    (Path(var_dir) / "staticfiles").mkdir()
    script = Path(var_dir) / "report.lua"
    script.write_text(WRK_SCRIPT)
    results: dict = {"profile": [], "load": []}
    try:
        seeded = seed()
        connection.close()
        print("\nin process, one request at a time (settings_test):")
        print(f"  {'endpoint':34} {'queries':>7} {'median ms':>9} {'bytes':>8}  slowest query")
        for row in profile(seeded):
            results["profile"].append(row)
            print(
                f"  {row['label']:34} {row['queries']:>7} {row['median_ms']:>9.1f} {row['bytes']:>8}  {row['slowest_sql']}"
            )
        connection.close()
        for config in filter(None, args.configs.split(",")):
            shape, _, age = config.partition(":")
            workers, _, threads = shape.partition("x")
            workers, threads, age = int(workers), int(threads or 1), int(age or 0)
            server = Gunicorn(workers=workers, threads=threads, conn_max_age=age, var_dir=var_dir)
            kind = "sync" if threads == 1 else f"gthread, {threads} threads"
            print(f"\ngunicorn {workers} workers ({kind}), DATABASE_CONN_MAX_AGE={age}, {args.clients} clients:")
            print(
                f"  {'endpoint':34} {'req/s':>7} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'max ms':>7} {'errors':>6}"
            )
            try:
                for label, path, auth in endpoints(seeded):
                    if args.only and args.only not in label:
                        continue
                    url = f"http://127.0.0.1:{server.port}{path}"
                    headers = headers_for(seeded, auth)
                    load(url, headers, args.clients, 2, str(script))  # warm-up: connections, caches
                    r = load(url, headers, args.clients, args.seconds, str(script))
                    results["load"].append({"config": config, "endpoint": label, **r})
                    print(
                        f"  {label:34} {r['rps']:>7.0f} {r['p50_ms']:>7.1f} {r['p90_ms']:>7.1f} {r['p99_ms']:>7.1f} "
                        f"{r['max_ms']:>7.0f} {r['errors']:>6}"
                    )
            finally:
                server.stop()
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2))
    finally:
        connection.close()
        if args.keep_db:
            print(f"kept the database {connection.settings_dict['NAME']}")
        else:
            connection.creation.destroy_test_db(old_name, verbosity=0)
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
