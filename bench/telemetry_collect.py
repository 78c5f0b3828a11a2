"""How long one telemetry collection cycle takes against the sandbox AWS (moto server).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench .venv/bin/python bench/telemetry_collect.py [cycles]

Starts its own moto server, deploys one environment's nine stacks, publishes replication
latency and Lambda invocations, then runs ``telemetry_collect`` ``cycles`` times (default 20)
and prints the per-cycle and per-source durations. With no DATABASE_URL it uses a throwaway
SQLite file. Numbers, not assertions: see docs/architecture.md for what they mean.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings_test")
os.environ.setdefault("DATABASE_URL", f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

from sandbox.processes import SandboxProcesses, free_port  # noqa: E402


def main(cycles: int) -> None:
    call_command("migrate", verbosity=0)
    from controlplane.aws import cloudwatch
    from migrations_app import deployments, telemetry
    from migrations_app.models import TelemetrySnapshot
    from sandbox.environments import replication_latency_put, sandbox_environment_deploy

    procs = SandboxProcesses(aws_port=free_port(), idp_port=0)
    procs.start_aws()
    try:
        started = time.monotonic()
        env = sandbox_environment_deploy(procs.aws_endpoint, prefix="b")
        print(f"deployed 9 stacks in {time.monotonic() - started:.1f} s")
        replication_latency_put(env, 150.0)
        known = deployments.outputs_known(environment=env)
        for role in ("source", "target"):
            fn = known[f"regional-{role}"]["TransactionFunctionArn"].split(":")[6]
            cloudwatch.metric_put(
                target=env.aws_target(env.region_for(role)),
                namespace="AWS/Lambda",
                metric="Invocations",
                dimensions={"FunctionName": fn},
                value=1000,
                unit="Count",
            )
        durations, per_source = [], {}
        for cycle in range(cycles):
            # Free the current slot, as the next beat tick would find it.
            TelemetrySnapshot.objects.filter(environment=env, slot__gte=0).update(slot=-1 - cycle)
            tick = time.monotonic()
            snap = telemetry.telemetry_collect(environment=env)
            durations.append((time.monotonic() - tick) * 1000)
            assert snap.status == TelemetrySnapshot.Status.COMPLETE, snap.sources
            for key, status in snap.sources.items():
                per_source.setdefault(key, []).append(status["duration_ms"])
        durations.sort()
        print(f"{cycles} cycles, one environment, moto server on this machine:")
        print(
            f"  per cycle: median {statistics.median(durations):.0f} ms, "
            f"p90 {durations[int(0.9 * (len(durations) - 1))]:.0f} ms, max {durations[-1]:.0f} ms"
        )
        for key, values in per_source.items():
            print(f"  {key:<22} median {statistics.median(values):.0f} ms, max {max(values)} ms")
    finally:
        procs.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
