"""Reconciliation read cost vs a naive full scan, in the sandbox; extrapolated to 9 M per window.

Not part of ``make test``. Needs PostgreSQL (a throw-away ``test_<name>`` database is made):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench .venv/bin/python bench/reconciliation_reads.py \
        [--sizes 20000,100000] [--buckets 2048] [--differing 0,1,2,4]

For each size N it starts from two regions holding the same N transactions of one 15-minute
window (written with BatchWriteItem, items and the aggregates the stream consumer would keep),
then makes 0, 1, 2, 4 keys differ (the target region holds another version) and runs the real
``reconciliation_window_run``: aggregates of both regions (one Query each), then keys of the
mismatched buckets only. It compares that with a naive reconciliation: a full Scan of both
regions' tables. Reported per run: items read, read units as the sandbox reports them (moto
answers a flat 1.0 per Query/Scan page), and read units modelled as AWS bills them (0.5 per
started 4 KB of the bytes each eventually consistent request returns; per item for
BatchGetItem). The growth with N is then fitted (linear in N) and extrapolated to 9,000,000
transactions per window (10,000 TPS over 15 minutes).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings_test")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

from controlplane.aws import dynamodb  # noqa: E402
from migrations_app.models import Environment  # noqa: E402
from reconciliation import selectors, services  # noqa: E402
from sandbox import ledger_fixture  # noqa: E402
from sandbox.processes import SandboxProcesses, free_port  # noqa: E402

WINDOW_SECONDS = 900
TARGET = 9_000_000
A, B = "us-east-1", "eu-central-1"


def load(env: Environment, n: int, buckets: int, window: datetime) -> tuple[list[dict], dict, float]:
    started = time.perf_counter()
    items = []
    for i in range(n):
        items.append(
            ledger_fixture.transaction_item(
                created_at=window + timedelta(seconds=(i * WINDOW_SECONDS) / n),
                origin_region=(A, B)[i % 2],
                window_seconds=WINDOW_SECONDS,
                buckets=buckets,
                amount=100 + i % 9000,
                transaction_id=str(uuid.uuid4()),
                user_id=f"user-{i % 5000}",
            )
        )
    rows = {}
    for region in (A, B):
        target = env.aws_target(region)
        ledger_fixture.tables_ensure(target=target, environment_name=env.name)
        dynamodb.items_write(target=target, table=f"{env.name}-transactions", items=items)
        rows[region] = {r["bucket"]: r for r in ledger_fixture.aggregates_for(items, region=region, buckets=buckets)}
        ledger_fixture.aggregates_write(target=target, environment_name=env.name, rows=list(rows[region].values()))
    return items, rows, time.perf_counter() - started


def make_differ(env: Environment, item: dict, rows: dict, buckets: int) -> None:
    """The target region holds version 2 of ``item`` (an update the source never got)."""
    changed = {**item, "version": 2}
    target = env.aws_target(B)
    dynamodb.items_write(target=target, table=f"{env.name}-transactions", items=[changed])
    bucket = str(ledger_fixture.shard_for(item["transactionId"], buckets))
    row = dict(rows[B][bucket])
    row["checksum"] = (
        row["checksum"]
        - ledger_fixture.h64(f"{item['transactionId']}#1")
        + ledger_fixture.h64(f"{item['transactionId']}#2")
    ) % ledger_fixture.MOD
    rows[B][bucket] = row
    ledger_fixture.aggregates_write(target=target, environment_name=env.name, rows=[row])


def naive_computed(items: list[dict]) -> dict:
    """What a full Scan of both tables returns, from the items written (the sandbox's Scan takes
    minutes at 100,000 items): the same items, sized the same way, in 1 MB pages."""
    sizes = [dynamodb.item_size(dynamodb._attributes(item)) for item in items]
    pages, page = [], 0
    for size in sizes:  # a Scan page stops at 1 MB
        if page + size > 1024 * 1024:
            pages.append(page)
            page = 0
        page += size
    pages.append(page)
    return {
        "items": 2 * len(items),
        "units": float(2 * len(pages)),
        "modelled": 2 * sum(0.5 * -(-p // 4096) for p in pages),
        "bytes": 2 * sum(sizes),
        "requests": 2 * len(pages),
        "seconds": 0.0,
        "computed": True,
    }


def naive(env: Environment) -> dict:
    meter = dynamodb.ReadMeter()
    started = time.perf_counter()
    for region in (A, B):
        dynamodb.table_scan(target=env.aws_target(region), table=f"{env.name}-transactions", meter=meter)
    return {
        "items": meter.items,
        "units": meter.read_units,
        "modelled": meter.modelled_units,
        "bytes": meter.bytes,
        "requests": meter.requests,
        "seconds": time.perf_counter() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000,100000")
    parser.add_argument("--buckets", type=int, default=2048)
    parser.add_argument("--differing", default="0,1,2,4")
    parser.add_argument(
        "--scan-up-to", type=int, default=20000, help="really Scan only up to this N; above, compute from the items"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    differing = sorted(int(k) for k in args.differing.split(","))
    settings.RECONCILIATION_WINDOW_SECONDS = WINDOW_SECONDS
    settings.RECONCILIATION_BUCKETS = args.buckets

    procs = SandboxProcesses(aws_port=free_port(), idp_port=0)
    procs.start_aws()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    results: dict[int, dict] = {}
    try:
        window = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)
        for n in sizes:
            env = Environment.objects.create(
                name=f"bench{n}",
                aws_endpoint_url=procs.aws_endpoint,
                hosted_zone_name="bench.example.com",
                record_name="api.bench.example.com",
            )
            items, rows, seconds = load(env, n, args.buckets, window)
            print(
                f"N={n:,}: wrote {2 * n:,} items and {sum(len(r) for r in rows.values()):,} aggregate rows in {seconds:.0f} s"
            )
            results[n] = {"runs": {}, "naive": None}
            done = 0
            for k in differing:
                for item in items[done:k]:
                    make_differ(env, item, rows, args.buckets)
                done = max(done, k)
                started = time.perf_counter()
                run = services.reconciliation_window_run(
                    environment=env,
                    window_start=window,
                    now=window + timedelta(hours=1),
                    force=True,
                    lag=selectors.Lag(current=0.1),
                )
                elapsed = time.perf_counter() - started
                assert run.status != run.Status.FAILED, run.error
                results[n]["runs"][k] = {
                    "items": run.detail["items_read"],
                    "keys": run.keys_read,
                    "mismatched": run.buckets_mismatched,
                    "units": run.read_units,
                    "modelled": run.detail["modelled_read_units"],
                    "bytes": run.detail["bytes_read"],
                    "requests": run.detail["requests"],
                    "seconds": elapsed,
                    "status": run.status,
                }
            results[n]["naive"] = naive(env) if n <= args.scan_up_to else naive_computed(items)
            if n <= args.scan_up_to:
                check = naive_computed(items)
                print(
                    f"N={n:,}: scanned {results[n]['naive']['bytes']:,} bytes; computed from the items: "
                    f"{check['bytes']:,} bytes"
                )
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        procs.stop()

    print()
    print(f"{'N/region':>10} {'differing':>9} {'buckets x':>9} {'items read':>10} {'requests':>8} "
          f"{'RU (moto)':>9} {'RU (AWS model)':>14} {'time':>7}")  # fmt: skip
    for n, r in results.items():
        for k, x in r["runs"].items():
            print(f"{n:>10,} {k:>9} {x['mismatched']:>9} {x['items']:>10,} {x['requests']:>8,} "
                  f"{x['units']:>9,.1f} {x['modelled']:>14,.1f} {x['seconds']:>6.1f}s")  # fmt: skip
        x = r["naive"]
        how = "computed" if x.get("computed") else f"{x['seconds']:>6.1f}s"
        print(f"{n:>10,} {'naive scan':>9} {'':>9} {x['items']:>10,} {'':>8} {x['units']:>9,.1f} "
              f"{x['modelled']:>14,.1f} {how:>7}")  # fmt: skip
    if len(sizes) >= 2:
        lo, hi = sizes[0], sizes[-1]
        print()
        print(f"Extrapolated to {TARGET:,} per window (linear fit through N={lo:,} and N={hi:,}):")

        def fit(v_lo: float, v_hi: float) -> float:
            slope = (v_hi - v_lo) / (hi - lo)
            return v_hi + slope * (TARGET - hi)

        def units(x_lo: dict, x_hi: dict) -> tuple[float, float]:
            # Bytes grow smoothly with N; read units are 0.5 per started 4 KB of each request,
            # so 0.5 x (requests + bytes / 4 KB) bounds them from above.
            nbytes = fit(x_lo["bytes"], x_hi["bytes"])
            return nbytes, 0.5 * (x_hi["requests"] + nbytes / 4096)

        naive_bytes, naive_units = units(results[lo]["naive"], results[hi]["naive"])
        naive_items = fit(results[lo]["naive"]["items"], results[hi]["naive"]["items"])
        print(f"  naive scan: {naive_items:,.0f} items, {naive_bytes / 1e9:,.2f} GB, {naive_units:,.0f} RU (AWS model)")
        for k in differing:
            items = fit(results[lo]["runs"][k]["items"], results[hi]["runs"][k]["items"])
            nbytes, ru = units(results[lo]["runs"][k], results[hi]["runs"][k])
            print(
                f"  {k} differing: {items:,.0f} items, {nbytes / 1e6:,.2f} MB, {ru:,.1f} RU (AWS model): "
                f"{naive_units / ru:,.0f}x fewer"
            )


if __name__ == "__main__":
    main()
