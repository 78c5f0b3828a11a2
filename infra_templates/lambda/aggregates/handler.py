"""The transactions table's stream consumer: per-window, per-bucket aggregates in this region.

Triggered by the event source mapping on this region's replica stream (NEW_AND_OLD_IMAGES).
For every ``kind == "transaction"`` item it keeps, in this region's aggregates table, one item
per (window, bucket):

- ``windowId`` = the item's ``timeBucket`` (``YYYY-MM-DDTHH:MM:SSZ``), ``bucket`` = the shard
  number after the ``#`` of its ``timeBucketShard``, in decimal without padding;
- ``count``, ``amountSum`` (cents), ``checksum`` (the raw sum of h(transactionId + "#" +
  version), h = first 8 bytes of SHA-256 big-endian: order-independent; compare mod 2**64),
  ``processedHere`` (items whose ``originRegion`` is this region), ``updatedAt``.

An INSERT adds the new image, a REMOVE subtracts the old one, a MODIFY subtracts the old and
adds the new (a last-writer-wins replacement by another version moves the checksum).

Exactly once per batch: Lambda retries a failed batch with the same records, so every batch
is applied in DynamoDB transactions that also create a marker item ``batch#<digest of the
stream ARN and the sequence-number range>`` with ``attribute_not_exists``; a retry finds the
marker, its transaction is cancelled, and nothing is counted twice. A transaction holds at
most 100 items, so the per-(window, bucket) deltas are cut into chunks of 99 plus one marker
each (the marker's ``bucket`` is the chunk number); a retry after a partial failure skips the
chunks already applied. Keep BisectBatchOnFunctionError off: a bisected retry would be a
different batch.

Duplicate debits. Two regions that both accept one idempotency key write two transactions
(different ids: every aggregate still agrees once both have replicated) and two markers
``idem#<key>`` under the same item key. Replication's last-writer-wins then replaces one
region's marker with the other's: a MODIFY of a marker whose ``targetTransactionId`` changes,
which happens for no other reason (markers are written once). For each, the consumer adds both
ids to the string set ``transactionIds`` of the aggregates item ``windowId = "dup#<window>"``,
``bucket = <idempotency key>`` (an ADD to a set: applying it twice changes nothing). The
reconciliation job reads those items per window (docs/decisions/0020).

Environment: AGGREGATES_TABLE_NAME; WINDOW_SECONDS (for the duplicate items' window); AWS_REGION (the region whose items count in
``processedHere``). Stdlib and boto3 only.
"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta

import boto3
from botocore.exceptions import ClientError

KIND_TRANSACTION = "transaction"
BATCH_PREFIX = "batch#"
DUPLICATE_PREFIX = "dup#"
MARKER_PREFIX = "idem#"
KIND_IDEMPOTENCY = "idempotency"
DEFAULT_WINDOW_SECONDS = 900
MAX_TRANSACTION_ITEMS = 100
MARKER_RETENTION = timedelta(days=7)  # the marker only has to outlive Lambda's retries

_clients: dict[tuple[str, str | None], object] = {}


def _dynamodb():
    region = os.environ.get("AWS_REGION") or os.environ["AWS_DEFAULT_REGION"]
    key = (region, os.environ.get("AWS_ENDPOINT_URL"))
    if key not in _clients:
        _clients[key] = boto3.client("dynamodb", region_name=region)
    return _clients[key]


def item_hash(transaction_id: str, version: int) -> int:
    """h(transactionId + "#" + version): the first 8 bytes of SHA-256, big-endian, unsigned."""
    digest = hashlib.sha256(f"{transaction_id}#{version}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _value(image: dict, name: str):
    typed = image.get(name)
    if not typed:
        return None
    ((kind, value),) = typed.items()
    if kind == "N":
        return int(value) if value.lstrip("-").isdigit() else int(float(value))
    return value


def contribution(image: dict | None, region: str) -> tuple[tuple[str, str], dict[str, int]] | None:
    """What one item image adds to its (window, bucket); None for anything but a transaction."""
    if not image or _value(image, "kind") != KIND_TRANSACTION:
        return None
    window = _value(image, "timeBucket")
    shard_key = _value(image, "timeBucketShard")
    transaction_id = _value(image, "transactionId")
    if not window or not shard_key or not transaction_id or "#" not in shard_key:
        raise ValueError(f"transaction {transaction_id!r} lacks timeBucket/timeBucketShard")
    bucket = str(int(shard_key.rsplit("#", 1)[1]))
    version = _value(image, "version") or 0
    return (window, bucket), {
        "count": 1,
        "amountSum": _value(image, "amount") or 0,
        "checksum": item_hash(transaction_id, version),
        "processedHere": 1 if _value(image, "originRegion") == region else 0,
    }


def deltas_for(records: list[dict], region: str) -> dict[tuple[str, str], dict[str, int]]:
    """Sum of the changes a batch of stream records makes, per (window, bucket); zero rows dropped."""
    totals: dict[tuple[str, str], dict[str, int]] = {}

    def add(part, sign: int) -> None:
        if part is None:
            return
        key, values = part
        row = totals.setdefault(key, {"count": 0, "amountSum": 0, "checksum": 0, "processedHere": 0})
        for name, value in values.items():
            row[name] += sign * value

    for record in records:
        images = record.get("dynamodb") or {}
        add(contribution(images.get("OldImage"), region), -1)
        add(contribution(images.get("NewImage"), region), +1)
    return {key: row for key, row in totals.items() if any(row.values())}


def _window_of(stamp: str, window_seconds: int) -> str:
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    epoch = int(moment.timestamp())
    start = datetime.fromtimestamp(epoch - epoch % window_seconds, tz=UTC)
    return start.strftime("%Y-%m-%dT%H:%M:%SZ")


def marker_conflicts(records: list[dict], window_seconds: int) -> dict[tuple[str, str], set[str]]:
    """Idempotency markers that replication replaced with another transaction's: per
    ("dup#<window>", idempotency key), the transaction ids both markers named."""
    out: dict[tuple[str, str], set[str]] = {}
    for record in records:
        images = record.get("dynamodb") or {}
        old, new = images.get("OldImage"), images.get("NewImage")
        if not old or not new or _value(new, "kind") != KIND_IDEMPOTENCY:
            continue
        before, after = _value(old, "targetTransactionId"), _value(new, "targetTransactionId")
        marker = _value(new, "transactionId") or ""
        if not before or not after or before == after or not marker.startswith(MARKER_PREFIX):
            continue
        stamps = [t for t in (_value(old, "createdAt"), _value(new, "createdAt")) if t]
        if not stamps:
            continue
        window = _window_of(min(stamps), window_seconds)
        out.setdefault((DUPLICATE_PREFIX + window, marker[len(MARKER_PREFIX) :]), set()).update({before, after})
    return out


def batch_id(records: list[dict]) -> str:
    """The same for every delivery of the same batch (Lambda retries with the same records)."""
    first, last = records[0], records[-1]
    raw = "|".join(
        [
            first.get("eventSourceARN", ""),
            (first.get("dynamodb") or {}).get("SequenceNumber", first.get("eventID", "")),
            (last.get("dynamodb") or {}).get("SequenceNumber", last.get("eventID", "")),
            str(len(records)),
        ]
    )
    return BATCH_PREFIX + hashlib.sha256(raw.encode()).hexdigest()[:40]


def _already_applied(exc: ClientError) -> bool:
    if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return False
    reasons = exc.response.get("CancellationReasons") or []
    return bool(reasons) and reasons[0].get("Code") == "ConditionalCheckFailed"


def apply(
    records: list[dict], *, table: str, region: str, now: datetime | None = None, window_seconds: int | None = None
) -> dict[str, int]:
    """Apply one batch once. Returns what was done (for logs and tests)."""
    now = now or datetime.now(UTC)
    window_seconds = window_seconds or int(os.environ.get("WINDOW_SECONDS") or DEFAULT_WINDOW_SECONDS)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    if not records:
        return {"records": 0, "chunks": 0, "applied": 0, "skipped": 0}
    deltas = deltas_for(records, region)
    marker_id = batch_id(records)
    keys = sorted(deltas)  # the same chunks on every retry
    per_chunk = MAX_TRANSACTION_ITEMS - 1
    chunks = [keys[i : i + per_chunk] for i in range(0, len(keys), per_chunk)] or [[]]
    applied = skipped = 0
    for number, chunk in enumerate(chunks):
        items = [
            {
                "Put": {
                    "TableName": table,
                    "Item": {
                        "windowId": {"S": marker_id},
                        "bucket": {"S": str(number)},
                        "records": {"N": str(len(records))},
                        "rows": {"N": str(len(chunk))},
                        "createdAt": {"S": stamp},
                        "expiresAt": {"N": str(int((now + MARKER_RETENTION).timestamp()))},
                    },
                    "ConditionExpression": "attribute_not_exists(windowId)",
                }
            }
        ]
        for window, bucket in chunk:
            row = deltas[(window, bucket)]
            items.append(
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"windowId": {"S": window}, "bucket": {"S": bucket}},
                        "UpdateExpression": "ADD #count :count, amountSum :amount, checksum :checksum, "
                        "processedHere :here SET updatedAt = :now",
                        "ExpressionAttributeNames": {"#count": "count"},
                        "ExpressionAttributeValues": {
                            ":count": {"N": str(row["count"])},
                            ":amount": {"N": str(row["amountSum"])},
                            ":checksum": {"N": str(row["checksum"])},
                            ":here": {"N": str(row["processedHere"])},
                            ":now": {"S": stamp},
                        },
                    }
                }
            )
        try:
            _dynamodb().transact_write_items(TransactItems=items)
            applied += 1
        except ClientError as exc:
            if not _already_applied(exc):
                raise  # the batch fails and Lambda retries it; applied chunks are skipped then
            skipped += 1
    conflicts = marker_conflicts(records, window_seconds)
    for (window_id, key), ids in sorted(conflicts.items()):
        _dynamodb().update_item(
            TableName=table,
            Key={"windowId": {"S": window_id}, "bucket": {"S": key}},
            UpdateExpression="ADD transactionIds :ids SET updatedAt = :now",
            ExpressionAttributeValues={":ids": {"SS": sorted(ids)}, ":now": {"S": stamp}},
        )
    return {
        "records": len(records),
        "chunks": len(chunks),
        "applied": applied,
        "skipped": skipped,
        "duplicates": len(conflicts),
    }


def handler(event: dict, context: object = None) -> dict:
    records = event.get("Records") or []
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or ""
    return apply(records, table=os.environ["AGGREGATES_TABLE_NAME"], region=region)
