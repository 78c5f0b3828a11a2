"""The aggregates stream consumer (infra_templates/lambda/aggregates/handler.py) against the sandbox.

Stream records are built as DynamoDB Streams delivers them to Lambda (NEW_AND_OLD_IMAGES); the
aggregates table is a real table in the moto server, keyed as storage.yaml keys it.
"""

from __future__ import annotations

import hashlib
import os
import uuid

import boto3
import pytest

from sandbox.dataplane.lambdas import handler_module

REGION = "eu-central-1"
STREAM_ARN = "arn:aws:dynamodb:eu-central-1:123456789012:table/t/stream/2026-11-27T00:00:00.000"
WINDOW = "2026-11-27T04:00:00Z"


@pytest.fixture(scope="module")
def aggregates():
    # Imported as the zip lays it out (common/ beside handler.py), as the sandbox runs it.
    return handler_module("aggregates")


def create_aggregates_table(endpoint: str) -> str:
    """A table keyed as storage.yaml's AggregatesTable."""
    name = f"agg-{uuid.uuid4().hex[:8]}"
    boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint).create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "windowId", "AttributeType": "S"},
            {"AttributeName": "bucket", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "windowId", "KeyType": "HASH"}, {"AttributeName": "bucket", "KeyType": "RANGE"}],
    )
    return name


@pytest.fixture
def table(monkeypatch, sandbox_aws):
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox_aws)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    name = create_aggregates_table(sandbox_aws)
    monkeypatch.setenv("AGGREGATES_TABLE_NAME", name)
    return name


def image(transaction_id: str, *, version: int = 1, amount: int = 1000, origin: str = REGION, shard: int = 3) -> dict:
    return {
        "transactionId": {"S": transaction_id},
        "kind": {"S": "transaction"},
        "idempotencyKey": {"S": f"key-{transaction_id}"},
        "amount": {"N": str(amount)},
        "currency": {"S": "EUR"},
        "originRegion": {"S": origin},
        "version": {"N": str(version)},
        "timeBucket": {"S": WINDOW},
        "timeBucketShard": {"S": f"{WINDOW}#{shard}"},
    }


_sequence = iter(range(10**6, 10**9))


def record(event: str, *, old: dict | None = None, new: dict | None = None) -> dict:
    body = {"SequenceNumber": str(next(_sequence)), "StreamViewType": "NEW_AND_OLD_IMAGES"}
    key = (new or old)["transactionId"]
    body["Keys"] = {"transactionId": key}
    if old:
        body["OldImage"] = old
    if new:
        body["NewImage"] = new
    return {"eventName": event, "eventSource": "aws:dynamodb", "eventSourceARN": STREAM_ARN, "dynamodb": body}


def h(transaction_id: str, version: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{transaction_id}#{version}".encode()).digest()[:8], "big")


def rows(table: str, window: str = WINDOW) -> dict[str, dict]:
    client = boto3.client("dynamodb", region_name=REGION)
    items = client.query(
        TableName=table, KeyConditionExpression="windowId = :w", ExpressionAttributeValues={":w": {"S": window}}
    )["Items"]
    return {
        i["bucket"]["S"]: {k: int(v["N"]) for k, v in i.items() if "N" in v} | {"updatedAt": i["updatedAt"]["S"]}
        for i in items
    }


def test_a_batch_delivered_twice_counts_once(aggregates, table):
    batch = {"Records": [record("INSERT", new=image("t1", amount=1250)), record("INSERT", new=image("t2", amount=50))]}

    first = aggregates.handler(batch)
    again = aggregates.handler(batch)  # Lambda's retry of the same batch

    assert (first["applied"], again["applied"], again["skipped"]) == (1, 0, 1)
    row = rows(table)["3"]
    assert (row["count"], row["amountSum"], row["processedHere"]) == (2, 1300, 2)
    assert row["checksum"] == h("t1", 1) + h("t2", 1)


def test_modify_moves_the_checksum_and_remove_subtracts(aggregates, table):
    v1, v2 = image("t1", version=1, amount=100), image("t1", version=2, amount=300, origin="us-east-1")
    aggregates.handler({"Records": [record("INSERT", new=v1)]})
    aggregates.handler({"Records": [record("MODIFY", old=v1, new=v2)]})

    row = rows(table)["3"]
    assert (row["count"], row["amountSum"], row["checksum"]) == (1, 300, h("t1", 2))
    assert row["processedHere"] == 0  # the replacement came from us-east-1

    aggregates.handler({"Records": [record("REMOVE", old=v2)]})
    row = rows(table)["3"]
    assert (row["count"], row["amountSum"], row["checksum"], row["processedHere"]) == (0, 0, 0, 0)


def test_idempotency_markers_and_batch_markers_are_not_counted(aggregates, table):
    marker = {"transactionId": {"S": "idem#k1"}, "kind": {"S": "idempotency"}, "targetTransactionId": {"S": "t1"}}
    aggregates.handler({"Records": [record("INSERT", new=marker), record("INSERT", new=image("t1"))]})

    assert rows(table)["3"]["count"] == 1
    client = boto3.client("dynamodb", region_name=REGION)
    windows = {i["windowId"]["S"] for i in client.scan(TableName=table)["Items"]}
    assert windows - {WINDOW} and all(w.startswith("batch#") for w in windows - {WINDOW})


def test_the_checksum_does_not_depend_on_order(aggregates, table, monkeypatch):
    images = [image(f"t{i}", amount=i, shard=i % 2) for i in range(6)]
    aggregates.handler({"Records": [record("INSERT", new=i) for i in images]})
    forward = rows(table)

    other = create_aggregates_table(os.environ["AWS_ENDPOINT_URL"])
    monkeypatch.setenv("AGGREGATES_TABLE_NAME", other)
    for i in reversed(images):  # one record per batch, reverse order
        aggregates.handler({"Records": [record("INSERT", new=i)]})

    strip = lambda r: {b: {k: v for k, v in row.items() if k != "updatedAt"} for b, row in r.items()}  # noqa: E731
    assert strip(rows(other)) == strip(forward)


def test_a_batch_over_99_buckets_is_split_and_a_partial_retry_skips_applied_chunks(aggregates, table):
    records = [record("INSERT", new=image(f"t{i}", shard=i)) for i in range(150)]

    result = aggregates.handler({"Records": records})
    retry = aggregates.handler({"Records": records})

    assert (result["chunks"], result["applied"]) == (2, 2)
    assert (retry["applied"], retry["skipped"]) == (0, 2)
    counted = rows(table)
    assert len(counted) == 150 and all(r["count"] == 1 for r in counted.values())


def test_a_transaction_without_its_window_is_refused_with_a_clear_error(aggregates, table):
    broken = image("t1")
    del broken["timeBucketShard"]

    with pytest.raises(ValueError, match="lacks timeBucket/timeBucketShard"):
        aggregates.handler({"Records": [record("INSERT", new=broken)]})


# --- duplicate debits: a marker replaced by another transaction's (issue 5, reconciliation) ----


def _marker(key: str, target: str, created: str) -> dict:
    return {
        "transactionId": {"S": f"idem#{key}"},
        "kind": {"S": "idempotency"},
        "targetTransactionId": {"S": target},
        "createdAt": {"S": created},
    }


def _marker_record(key: str, old_target: str, new_target: str, sequence: str) -> dict:
    return {
        "eventName": "MODIFY",
        "eventSourceARN": STREAM_ARN,
        "dynamodb": {
            "SequenceNumber": sequence,
            "OldImage": _marker(key, old_target, "2026-11-27T04:03:10.100Z"),
            "NewImage": _marker(key, new_target, "2026-11-27T04:03:10.280Z"),
        },
    }


def test_a_replaced_marker_is_recorded_once_as_a_duplicate(aggregates, table):
    key = f"pay-{uuid.uuid4().hex[:6]}"
    batch = [_marker_record(key, "txn-x", "txn-y", "901"), _marker_record("same", "txn-z", "txn-z", "902")]

    first = aggregates.apply(batch, table=table, region=REGION, window_seconds=900)
    again = aggregates.apply(list(batch), table=table, region=REGION, window_seconds=900)  # a retry

    assert (first["duplicates"], again["duplicates"]) == (1, 1)
    ddb = boto3.client("dynamodb", region_name=REGION)
    item = ddb.get_item(TableName=table, Key={"windowId": {"S": "dup#2026-11-27T04:00:00Z"}, "bucket": {"S": key}})
    assert sorted(item["Item"]["transactionIds"]["SS"]) == ["txn-x", "txn-y"]
    count = ddb.query(
        TableName=table,
        KeyConditionExpression="windowId = :w",
        ExpressionAttributeValues={":w": {"S": "dup#2026-11-27T04:00:00Z"}},
    )["Count"]
    assert count == 1  # the unchanged marker is not a duplicate
