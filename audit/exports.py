"""Streaming the audit trail as CSV with constant memory.

On PostgreSQL the rows come from ``COPY (SELECT ...) TO STDOUT (FORMAT csv)``: the server
formats them and psycopg hands over blocks as they arrive, so the export runs near COPY's
own speed (bench/export.py measures it). Elsewhere (SQLite) a chunked ORM iterator feeds
Python's csv module. Both produce the same columns; each row carries every hashed field, so
``report_verify`` can recompute each entry's hash and link from the file alone.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime

from django.db import connection
from django.db.models import QuerySet

from audit.models import AuditEvent

COLUMNS = (
    "id",
    "occurred_at",
    "actor_id",
    "actor_name",
    "actor_issuer",
    "actor_subject",
    "event_type",
    "outcome",
    "target_type",
    "target_id",
    "target_repr",
    "environment",
    "region",
    "before",
    "after",
    "ip",
    "user_agent",
    "request_id",
    "prev_hash",
    "hash",
)
CHUNK_BYTES = 256 * 1024
ITERATOR_CHUNK_ROWS = 2000


def audit_csv_chunks(queryset: QuerySet[AuditEvent]) -> Iterator[bytes]:
    """The rows of ``queryset`` (any filter; exported in id order) as CSV blocks with a header."""
    queryset = queryset.order_by("id")
    if connection.vendor == "postgresql":
        yield from _copy_chunks(queryset)
    else:
        yield from _iterator_chunks(queryset)


def _copy_chunks(queryset: QuerySet[AuditEvent]) -> Iterator[bytes]:
    inner_sql, params = queryset.values_list(*COLUMNS).query.sql_with_params()
    inner = connection.ops.compose_sql(inner_sql, params)  # literals bound by psycopg, not by hand
    formatted = ", ".join(_pg_select(column) for column in COLUMNS)
    sql = f"COPY (SELECT {formatted} FROM ({inner}) AS e ORDER BY e.id) TO STDOUT (FORMAT csv, HEADER true)"
    buffer = bytearray()
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for block in copy:
            buffer += block
            if len(buffer) >= CHUNK_BYTES:
                yield bytes(buffer)
                buffer.clear()
    if buffer:
        yield bytes(buffer)


def _pg_select(column: str) -> str:
    if column == "occurred_at":
        return "to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"') AS occurred_at"
    if column == "ip":
        return "host(e.ip) AS ip"
    return f"e.{connection.ops.quote_name(column)}"


def _iterator_chunks(queryset: QuerySet[AuditEvent]) -> Iterator[bytes]:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in queryset.values_list(*COLUMNS).iterator(chunk_size=ITERATOR_CHUNK_ROWS):
        writer.writerow(_plain(column, value) for column, value in zip(COLUMNS, row, strict=True))
        if text.tell() >= CHUNK_BYTES:
            yield text.getvalue().encode()
            text.seek(0)
            text.truncate()
    if text.tell():
        yield text.getvalue().encode()


def _plain(column: str, value) -> str:
    if value is None:
        return ""
    if column == "occurred_at":
        return value.astimezone(UTC).isoformat()
    if column in ("before", "after"):
        return json.dumps(value, sort_keys=True)
    return str(value)


def content_from_csv_row(row: dict[str, str]) -> dict:
    """What the entry's hash covers, rebuilt from one exported row (see AuditEvent.content)."""
    return {
        "occurred_at": datetime.fromisoformat(row["occurred_at"]).astimezone(UTC).isoformat(),
        "actor_id": int(row["actor_id"]) if row["actor_id"] else None,
        "actor_name": row["actor_name"],
        "actor_issuer": row["actor_issuer"],
        "actor_subject": row["actor_subject"],
        "event_type": row["event_type"],
        "target_type": row["target_type"],
        "target_id": row["target_id"],
        "target_repr": row["target_repr"],
        "environment": row["environment"],
        "region": row["region"],
        "before": json.loads(row["before"]) if row["before"] else {},
        "after": json.loads(row["after"]) if row["after"] else {},
        "outcome": row["outcome"],
        "ip": row["ip"] or None,
        "user_agent": row["user_agent"],
        "request_id": row["request_id"],
        "prev_hash": row["prev_hash"],
    }
