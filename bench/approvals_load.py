"""50 concurrent approvers hammering 20 waiting gates: every gate delivered exactly once.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench CELERY_BROKER_URL=redis://127.0.0.1:6379/9 \\
        .venv/bin/python bench/approvals_load.py [--approvers 50] [--gates 20] [--clicks 4]

Starts its own moto server with the sandbox fault proxy in front of it (no fault switched on:
the proxy counts every SendTaskSuccess per task token), deploys ``--gates`` environments and
starts one cutover in each, so that many gates wait. Then ``--approvers`` threads, each a
signed-in approver with its own session (Django's test client through the whole middleware
stack, its own database connection), click Approve ``--clicks`` times on gates picked at
random, all at once. With a Redis CELERY_BROKER_URL a real Celery worker delivers the
decisions; otherwise they are delivered eagerly in the request, as in the tests.

Prints the clicks (accepted, refused), the click latency (p50, p95, max), the deliveries, and
how often Step Functions received SendTaskSuccess per gate, counted twice: at the proxy and in
each execution's history. Numbers, not assertions; it exits non-zero if a gate was not
delivered exactly once. PostgreSQL only (SQLite serialises every writer).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings_test")
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
USE_WORKER = os.environ.get("CELERY_BROKER_URL", "").startswith("redis://")
os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false" if USE_WORKER else "true"

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from sandbox import faults  # noqa: E402
from sandbox.processes import SandboxProcesses, free_port  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def start_worker(log_path: Path) -> subprocess.Popen:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    env = dict(
        os.environ,
        DATABASE_URL=f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        CELERY_TASK_ALWAYS_EAGER="false",
    )
    log = open(log_path, "wb")  # noqa: SIM115 - the worker's log for the run
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "controlplane", "worker", "--pool=solo", "--purge", "-l", "warning"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    time.sleep(1)
    return proc


def prepare_gates(*, count: int, endpoint: str, engineer, parallel: int = 4) -> list:
    """``count`` environments behind the proxy, each with one cutover waiting at its first gate
    (prepared ``parallel`` at a time)."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    def one(i: int):
        try:
            return prepare_gate(i=i, count=count, endpoint=endpoint, engineer=engineer)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        return list(pool.map(one, range(count)))


def prepare_gate(*, i: int, count: int, endpoint: str, engineer):
    from migrations_app import services
    from migrations_app.models import Execution, Gate
    from sandbox.environments import replication_latency_put, sandbox_environment_deploy

    env = sandbox_environment_deploy(endpoint, prefix="l")
    replication_latency_put(env, 120.0)
    name = env.name
    execution = services.execution_start(environment=env, actor=engineer)
    deadline = time.monotonic() + 180
    gate = None
    while gate is None or gate.checks.count() < 8:
        assert time.monotonic() < deadline, f"no gate with evidence for {name}"
        if Execution.objects.get(pk=execution.pk).status == Execution.Status.STARTING:
            services.execution_start_deliver(execution=execution)
        services.gate_intake_poll(environment=env, wait_seconds=1)
        gate = Gate.objects.filter(execution=execution, status=Gate.Status.WAITING).first()
        time.sleep(0.2)
    print(f"  gate {i + 1}/{count} waiting ({name})", flush=True)
    return gate


def hammer(*, approvers: list, gates: list, clicks: int) -> list[tuple[int, float]]:
    """Every approver clicks Approve ``clicks`` times on random gates, all threads released at once."""
    from django.db import connections
    from django.test import Client

    results: list[tuple[int, float]] = []
    lock = threading.Lock()
    start = threading.Barrier(len(approvers))

    def run(user, seed: int) -> None:
        client = Client()
        client.force_login(user)
        rng = random.Random(seed)
        start.wait()
        for _ in range(clicks):
            gate = rng.choice(gates)
            tick = time.perf_counter()
            response = client.post(f"/gates/{gate.pk}/decide/", {"decision": "approve"})
            elapsed = (time.perf_counter() - tick) * 1000
            with lock:
                results.append((response.status_code, elapsed))
        connections.close_all()

    threads = [threading.Thread(target=run, args=(u, i)) for i, u in enumerate(approvers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--approvers", type=int, default=50)
    parser.add_argument("--gates", type=int, default=20)
    parser.add_argument("--clicks", type=int, default=4, help="clicks per approver")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        print("PostgreSQL only: set DATABASE_URL=postgres://...", file=sys.stderr)
        return 2
    call_command("migrate", verbosity=0)
    logging.getLogger("django.request").setLevel(logging.ERROR)  # the expected 409s

    from django.contrib.auth.models import Group
    from django.utils import timezone

    from controlplane.accounts.models import User
    from controlplane.aws import stepfunctions
    from migrations_app.models import Approval, GateDelivery
    from migrations_app.watchdog import GATE_TASK_RESOURCE

    procs = SandboxProcesses(aws_port=free_port(), idp_port=0)
    procs.start_aws()
    proxy = faults.FaultProxy(upstream=procs.aws_endpoint).start()
    worker = start_worker(Path(settings.VAR_DIR) / "bench-approvals-worker.log") if USE_WORKER else None
    try:
        run = uuid.uuid4().hex[:6]
        approver_group = Group.objects.get_or_create(name="approver")[0]
        engineer = User.objects.create(username=f"eng-{run}", email=f"eng-{run}@example.com")
        engineer.groups.set([Group.objects.get_or_create(name="engineer")[0]])
        approvers = []
        for i in range(args.approvers):
            user = User.objects.create(
                username=f"appr-{run}-{i}",
                email=f"appr-{run}-{i}@example.com",
                idp_issuer="http://idp.bench",
                idp_subject=f"appr-{run}-{i}",
                idp_authenticated_at=timezone.now(),
            )
            user.groups.set([approver_group])
            approvers.append(user)

        print(f"preparing {args.gates} waiting gates (one deployed environment and cutover each)...", flush=True)
        tick = time.monotonic()
        gates = prepare_gates(count=args.gates, endpoint=proxy.url, engineer=engineer)
        print(f"prepared in {time.monotonic() - tick:.0f} s", flush=True)
        faults.calls_clear(proxy.url)

        tick = time.monotonic()
        results = hammer(approvers=approvers, gates=gates, clicks=args.clicks)
        hammer_seconds = time.monotonic() - tick
        deadline = time.monotonic() + 120
        pks = [g.pk for g in gates]
        while GateDelivery.objects.filter(gate__in=pks, status=GateDelivery.Status.DELIVERED).count() < len(gates):
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        settled_seconds = time.monotonic() - tick

        calls = faults.calls_list(proxy.url)
        sends = Counter(c["token_sha256"] for c in calls if c["operation"] == "SendTaskSuccess" and c["forwarded"])
        history_successes = []
        for gate in gates:
            gate.refresh_from_db()
            execution = gate.execution
            history = stepfunctions.execution_history(
                target=execution.environment.aws_target(), execution_arn=execution.arn
            )
            scheduled = [
                e for e in history if e.type == "TaskScheduled" and e.details.get("resource") == GATE_TASK_RESOURCE
            ]
            succeeded = [e for e in history if e.type == "TaskSucceeded" and e.details.get("resourceType") == "sqs"]
            history_successes.append(len(succeeded) if len(scheduled) >= 1 else -1)
        per_gate_sends = [sends.get(hashlib.sha256(g.task_token.encode()).hexdigest()[:16], 0) for g in gates]
        statuses = Counter(code for code, _ in results)
        latencies = [ms for _, ms in results]
        deliveries = Counter(GateDelivery.objects.filter(gate__in=pks).values_list("status", flat=True))
        approvals = Approval.objects.filter(gate__in=pks).count()

        print()
        print(
            f"{args.approvers} approvers x {args.clicks} clicks on {args.gates} gates "
            f"({'Celery worker over Redis' if USE_WORKER else 'eager delivery'}), PostgreSQL, moto behind the proxy"
        )
        print(
            f"  clicks: {len(results)} in {hammer_seconds:.1f} s; "
            + ", ".join(f"HTTP {code}: {n}" for code, n in sorted(statuses.items()))
        )
        print(
            f"  click latency: p50 {percentile(latencies, 0.5):.0f} ms, p95 {percentile(latencies, 0.95):.0f} ms, "
            f"max {max(latencies):.0f} ms, mean {statistics.mean(latencies):.0f} ms"
        )
        print(f"  approvals recorded: {approvals} (one per gate expected: {args.gates})")
        print(f"  deliveries: {dict(deliveries)}; all settled {settled_seconds:.1f} s after the first click")
        print(f"  SendTaskSuccess per gate at the proxy: {dict(Counter(per_gate_sends))} (gates by count)")
        print(f"  TaskSucceeded per gate in the histories: {dict(Counter(history_successes))} (gates by count)")
        once = (
            all(n == 1 for n in per_gate_sends)
            and all(n == 1 for n in history_successes)
            and deliveries.get(GateDelivery.Status.DELIVERED, 0) == len(gates)
            and approvals == len(gates)
        )
        print(f"  every gate delivered exactly once: {'yes' if once else 'NO'}")
        return 0 if once else 1
    finally:
        if worker is not None:
            worker.terminate()  # warm shutdown; a worker busy with queued evidence tasks is killed
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        proxy.stop()
        procs.stop()


if __name__ == "__main__":
    sys.exit(main())
