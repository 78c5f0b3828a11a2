"""How fast the sandbox data plane goes: requests through the real Lambda handlers, and the
replication lag it measures, at increasing offered rates.

    .venv/bin/python bench/dataplane.py [--rates 2,5,10,20] [--seconds 15]

Starts its own moto server and makes one environment's tables, buses and buckets directly
(sandbox.dataplane.resources), starts the data plane (replication + aggregates consumers, lag
100-300 ms with 2 % spikes of 0.6-1.5 s), then for each rate sends transactions for
``--seconds`` (30 % followed by a webhook callback 5 s later, 30 % of those in the other
region) and prints: offered and achieved transactions/s, all requests/s, replication lag
p50/p99 of the run's copies, duplicates. Numbers, not assertions.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings_test")
os.environ.setdefault("DATABASE_URL", f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3")

import django  # noqa: E402

django.setup()

from sandbox.dataplane.config import LagDistribution  # noqa: E402
from sandbox.dataplane.plane import DataPlane  # noqa: E402
from sandbox.dataplane.resources import dataplane_resources_create  # noqa: E402
from sandbox.dataplane.traffic import TrafficGenerator, TrafficProfile  # noqa: E402
from sandbox.processes import SandboxProcesses, free_port  # noqa: E402


def main(rates: list[float], seconds: float) -> None:
    procs = SandboxProcesses(aws_port=free_port(), idp_port=0)
    procs.start_aws()
    try:
        config = dataplane_resources_create(endpoint=procs.aws_endpoint, environment=f"b{uuid.uuid4().hex[:8]}")
        plane = DataPlane(config, directory=Path(tempfile.mkdtemp()), lag=LagDistribution(), seed=1)
        plane.start()
        print(
            f"{'offered tx/s':>12} {'achieved tx/s':>13} {'requests/s':>10} {'lag p50 ms':>10} {'lag p99 ms':>10} "
            f"{'copies':>6} {'dup 201':>7} {'errors':>6}"
        )
        for rate in rates:
            profile = TrafficProfile(
                rate=rate,
                weights={config.source_region: 50, config.target_region: 50},
                callback_share=0.3,
                callback_delay=5.0,
                cross_region_callback_share=0.3,
            )
            generator = TrafficGenerator(config, plane.runtime, plane.control, profile, seed=int(rate * 10))
            started = time.time()
            generator.run(seconds, drain=False)
            sent_for = time.time() - started
            achieved = generator.counts["transactions"] / sent_for
            requests = sum(generator.by_region.values()) / sent_for
            generator.run(0)  # the callbacks still due
            plane.wait_settled(30)
            lag = plane.replicator.lag_since(started)
            print(
                f"{rate:>12g} {achieved:>13.1f} {requests:>10.1f} {lag['p50'] or 0:>10.0f} {lag['p99'] or 0:>10.0f} "
                f"{lag['samples']:>6} {generator.counts['duplicates_201']:>7} {generator.errors:>6}"
            )
        plane.stop()
        plane.join(10)
    finally:
        procs.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="2,5,10,20")
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    main([float(r) for r in args.rates.split(",")], args.seconds)
