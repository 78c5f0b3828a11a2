"""Writing both regions' ledger tables by hand, for reconciliation tests and benchmarks.

With no replication running, a test decides exactly what each region holds: it builds
transaction items (the shape of infra_templates/lambda/common/ledger.py), writes them to one
region or both, and writes the aggregates the stream consumer would keep for them. Tables are
created when missing, with the keys and indexes of infra_templates/data.yaml.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime

from botocore.exceptions import ClientError

from controlplane.aws import dynamodb
from controlplane.aws.clients import AwsTarget, client
from reconciliation.compare import MOD, h64, shard_for


def iso_s(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_ms(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def tables_ensure(*, target: AwsTarget, environment_name: str) -> None:
    """``<env>-transactions`` (with its indexes) and ``<env>-aggregates`` in ``target``'s region."""
    ddb = client("dynamodb", target)
    specs = [
        {
            "TableName": f"{environment_name}-transactions",
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [
                {"AttributeName": n, "AttributeType": "S"}
                for n in ("transactionId", "idempotencyKey", "timeBucketShard")
            ],
            "KeySchema": [{"AttributeName": "transactionId", "KeyType": "HASH"}],
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": "byIdempotencyKey",
                    "KeySchema": [{"AttributeName": "idempotencyKey", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                },
                {
                    "IndexName": "byTimeBucket",
                    "KeySchema": [
                        {"AttributeName": "timeBucketShard", "KeyType": "HASH"},
                        {"AttributeName": "transactionId", "KeyType": "RANGE"},
                    ],
                    "Projection": {
                        "ProjectionType": "INCLUDE",
                        "NonKeyAttributes": ["version", "amount", "currency", "idempotencyKey", "originRegion"],
                    },
                },
            ],
        },
        {
            "TableName": f"{environment_name}-aggregates",
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [
                {"AttributeName": "windowId", "AttributeType": "S"},
                {"AttributeName": "bucket", "AttributeType": "S"},
            ],
            "KeySchema": [
                {"AttributeName": "windowId", "KeyType": "HASH"},
                {"AttributeName": "bucket", "KeyType": "RANGE"},
            ],
        },
    ]
    for spec in specs:
        try:
            ddb.create_table(**spec)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceInUseException":
                raise


def transaction_item(
    *,
    created_at: datetime,
    origin_region: str,
    window_seconds: int,
    buckets: int,
    amount: int = 1250,
    idempotency_key: str | None = None,
    transaction_id: str | None = None,
    version: int = 1,
    user_id: str = "user-1",
) -> dict:
    transaction_id = transaction_id or str(uuid.uuid4())
    epoch = int(created_at.timestamp())
    window = iso_s(datetime.fromtimestamp(epoch - epoch % window_seconds, tz=UTC))
    return {
        "transactionId": transaction_id,
        "kind": "transaction",
        "idempotencyKey": idempotency_key or f"key-{transaction_id}",
        "userId": user_id,
        "amount": amount,
        "currency": "EUR",
        "createdAt": iso_ms(created_at),
        "originRegion": origin_region,
        "version": version,
        "channel": "api",
        "timeBucket": window,
        "timeBucketShard": f"{window}#{shard_for(transaction_id, buckets)}",
    }


def aggregates_for(items: list[dict], *, region: str, buckets: int) -> list[dict]:
    """The aggregate rows the stream consumer would hold for ``items`` in ``region``."""
    rows: dict[tuple[str, int], dict] = defaultdict(lambda: {"count": 0, "amountSum": 0, "checksum": 0, "here": 0})
    for item in items:
        if item.get("kind") != "transaction":
            continue
        row = rows[(item["timeBucket"], shard_for(item["transactionId"], buckets))]
        row["count"] += 1
        row["amountSum"] += int(item["amount"])
        row["checksum"] = (row["checksum"] + h64(f"{item['transactionId']}#{item['version']}")) % MOD
        row["here"] += item["originRegion"] == region
    now = iso_ms(datetime.now(UTC))
    return [
        {
            "windowId": window,
            "bucket": str(bucket),
            "count": row["count"],
            "amountSum": row["amountSum"],
            "checksum": row["checksum"],
            "processedHere": row["here"],
            "updatedAt": now,
        }
        for (window, bucket), row in rows.items()
    ]


def region_write(
    *, target: AwsTarget, environment_name: str, items: list[dict], buckets: int, aggregates: bool = True
) -> None:
    """Put ``items`` in the region's transactions table and (by default) the matching aggregates.

    Aggregates are recomputed from ``items`` alone: write everything a region holds for a
    window in one call, or pass ``aggregates=False`` and write them with ``aggregates_write``.
    """
    dynamodb.items_write(target=target, table=f"{environment_name}-transactions", items=items)
    if aggregates:
        aggregates_write(
            target=target,
            environment_name=environment_name,
            rows=aggregates_for(items, region=target.region, buckets=buckets),
        )


def aggregates_write(*, target: AwsTarget, environment_name: str, rows: list[dict]) -> None:
    dynamodb.items_write(target=target, table=f"{environment_name}-aggregates", items=rows)
