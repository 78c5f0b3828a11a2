"""Audit-trail CSV export vs PostgreSQL's own COPY, on the same data in the same run.

Not part of ``make test``. Needs PostgreSQL:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench .venv/bin/python bench/export.py [--rows 1000000]

Creates a throw-away database (``test_<name>``, migrated like the test suite's), loads N
hash-chained audit entries with COPY FROM, then times, on the same rows:

1. ``COPY audit_auditevent TO STDOUT (FORMAT csv)``: the floor (the server's own CSV);
2. ``audit.exports.audit_csv_chunks``: what the page's CSV download and the report pack use;
3. the ORM iterator path (what SQLite uses), on a tenth of the rows, for comparison;

and the memory each export needs: the process's resident set sampled every 10 ms during the
run (growth over the start), and tracemalloc's peak of Python allocations in a second pass.
Memory is "flat" when it does not grow with the number of rows: the run repeats the export
on a tenth of the rows to show that.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import threading
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings_test")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402

from audit.exports import _iterator_chunks, audit_csv_chunks  # noqa: E402
from audit.models import GENESIS_HASH, AuditChainHead, AuditEvent, canonical_bytes  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


class RssSampler(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.start_rss = rss_bytes()
        self.peak = self.start_rss
        self._halt = threading.Event()

    def run(self):
        while not self._halt.is_set():
            self.peak = max(self.peak, rss_bytes())
            time.sleep(0.01)

    def stop(self) -> int:
        self._halt.set()
        self.join()
        return self.peak - self.start_rss


def load(rows: int) -> float:
    """N entries as audit_record would write them (hash chain included), through COPY FROM."""
    started = time.perf_counter()
    columns = (
        "occurred_at", "actor_id", "actor_name", "actor_issuer", "actor_subject", "event_type", "target_type",
        "target_id", "target_repr", "environment", "region", "before", "after", "outcome", "ip", "user_agent",
        "request_id", "prev_hash", "hash",
    )  # fmt: skip
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    kinds = ("gate.approve", "gate.delivered", "deployment.confirm", "auth.sign_in", "report.downloaded")
    prev = GENESIS_HASH
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY audit_auditevent ({', '.join(columns)}) FROM STDIN") as copy:
            for i in range(rows):
                content = {
                    "occurred_at": (t0 + timedelta(milliseconds=37 * i)).isoformat(),
                    "actor_id": None,
                    "actor_name": f"Person {i % 97} (user{i % 97})",
                    "actor_issuer": "https://idp.example.com",
                    "actor_subject": f"sub-{i % 97:08d}",
                    "event_type": kinds[i % len(kinds)],
                    "target_type": "migrations_app.gate",
                    "target_id": str(i // 3),
                    "target_repr": f"cutover-2026-{i // 1000} / Step{i % 6}",
                    "environment": "prod",
                    "region": "eu-central-1" if i % 2 else "",
                    "before": {"status": "waiting", "approvals": i % 3},
                    "after": {"status": "approved", "approvals": i % 3 + 1, "comment": "replication lag 120 ms"},
                    "outcome": "success",
                    "ip": f"10.0.{i % 250}.{i % 200 + 1}",
                    "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0",
                    "request_id": f"{i:032x}",
                    "prev_hash": prev,
                }
                digest = hashlib.sha256(canonical_bytes(content)).hexdigest()
                copy.write_row(
                    [
                        content["occurred_at"], None, content["actor_name"], content["actor_issuer"],
                        content["actor_subject"], content["event_type"], content["target_type"], content["target_id"],
                        content["target_repr"], content["environment"], content["region"],
                        json.dumps(content["before"]), json.dumps(content["after"]), content["outcome"],
                        content["ip"], content["user_agent"], content["request_id"], prev, digest,
                    ]
                )  # fmt: skip
                prev = digest
        last_id = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()
        AuditChainHead.objects.update_or_create(pk=1, defaults={"last_hash": prev, "last_event_id": last_id})
        cursor.execute("ANALYZE audit_auditevent")
    return time.perf_counter() - started


def copy_baseline(max_id: int | None):
    where = f" WHERE id <= {int(max_id)}" if max_id else ""
    sql = f"COPY (SELECT * FROM audit_auditevent{where}) TO STDOUT (FORMAT csv, HEADER true)"
    total = 0
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for block in copy:
            total += len(block)
    return total


def ours(max_id: int | None):
    qs = AuditEvent.objects.all() if not max_id else AuditEvent.objects.filter(id__lte=max_id)
    return sum(len(chunk) for chunk in audit_csv_chunks(qs))


def orm_iterator(max_id: int | None):
    qs = AuditEvent.objects.all() if not max_id else AuditEvent.objects.filter(id__lte=max_id)
    return sum(len(chunk) for chunk in _iterator_chunks(qs.order_by("id")))


def measure(name: str, fn, rows: int, max_id: int | None) -> dict:
    sampler = RssSampler()
    sampler.start()
    started = time.perf_counter()
    size = fn(max_id)
    seconds = time.perf_counter() - started
    rss_growth = sampler.stop()
    tracemalloc.start()
    fn(max_id)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "name": name,
        "rows": rows,
        "seconds": seconds,
        "rows_per_s": rows / seconds,
        "mb": size / 1e6,
        "rss_growth_mb": rss_growth / 1e6,
        "py_peak_mb": peak / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--skip-orm", action="store_true", help="skip the (slow) ORM iterator path")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        raise SystemExit("bench/export.py needs PostgreSQL: set DATABASE_URL=postgres://...")
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        load_seconds = load(args.rows)
        print(f"loaded {args.rows:,} hash-chained entries in {load_seconds:.1f} s")
        first_id = AuditEvent.objects.order_by("id").values_list("id", flat=True).first()
        tenth = first_id + args.rows // 10 - 1
        results = []
        for label, max_id, rows in (("all", None, args.rows), ("tenth", tenth, args.rows // 10)):
            results.append(measure(f"COPY ... TO STDOUT ({label})", copy_baseline, rows, max_id))
            results.append(measure(f"audit_csv_chunks ({label})", ours, rows, max_id))
            if not args.skip_orm and label == "tenth":  # ~100x slower: a tenth shows the rate
                results.append(measure(f"ORM iterator + csv ({label})", orm_iterator, rows, max_id))
        print(f"{'export':34} {'rows':>10} {'s':>7} {'rows/s':>10} {'MB out':>8} {'RSS +MB':>8} {'py peak MB':>10}")
        for r in results:
            print(
                f"{r['name']:34} {r['rows']:>10,} {r['seconds']:>7.2f} {r['rows_per_s']:>10,.0f} {r['mb']:>8.1f} "
                f"{r['rss_growth_mb']:>8.1f} {r['py_peak_mb']:>10.2f}"
            )
        base, mine = results[0], results[1]
        print(f"audit_csv_chunks / COPY time ratio (all rows): {mine['seconds'] / base['seconds']:.2f}x (goal <= 2x)")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
