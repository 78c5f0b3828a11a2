"""Reconciliation compute: aggregate + compare of N synthetic records in process (records/s).

Not part of ``make test``. No services needed:

    .venv/bin/python bench/reconciliation_compute.py [--records 10000000] [--buckets 2048]

Streams N (transactionId, version, amount) records through ``reconciliation.compare.aggregate``
for each of two regions (the second differs in a handful of records: one missing, one other
version), then compares the two sets of bucket rows with ``buckets_mismatched`` and reports
records per second for the aggregation and the time of the comparison. This is the arithmetic
the stream consumer does per record and the job does per bucket; the job itself never sees
records, only the buckets.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reconciliation.compare import aggregate, buckets_mismatched  # noqa: E402


def records(n: int, *, variant: bool):
    for i in range(n):
        if variant and i == 7:
            continue  # missing in this region
        version = 2 if variant and i == 11 else 1
        yield f"txn-{i:012d}", version, 100 + i % 9000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--buckets", type=int, default=2048)
    args = parser.parse_args()
    timings = []
    rows = []
    for variant in (False, True):
        started = time.perf_counter()
        agg = aggregate(records(args.records, variant=variant), args.buckets)
        timings.append(time.perf_counter() - started)
        rows.append({b: r.key() for b, r in agg.items()})
    started = time.perf_counter()
    mismatched = buckets_mismatched(rows[0], rows[1])
    compare_seconds = time.perf_counter() - started
    total = 2 * args.records
    print(f"aggregated {total:,} records (2 regions x {args.records:,}) into {args.buckets} buckets each "
          f"in {sum(timings):.1f} s: {total / sum(timings):,.0f} records/s")  # fmt: skip
    print(f"compared {len(rows[0]):,} bucket rows per region in {compare_seconds * 1000:.1f} ms: "
          f"{len(mismatched)} mismatched {mismatched}")  # fmt: skip
    print(f"aggregate + compare: {total / (sum(timings) + compare_seconds):,.0f} records/s")


if __name__ == "__main__":
    main()
