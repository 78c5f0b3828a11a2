"""DynamoDB: reading one region's replica of the transactions table (data-subject exports)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from boto3.dynamodb.types import TypeDeserializer

from controlplane.aws.clients import AwsTarget, client
from controlplane.aws.errors import AwsError, translated

SERVICE = "dynamodb"
BY_USER_INDEX = "byUser"
_deserializer = TypeDeserializer()


@dataclass(frozen=True)
class LedgerTransaction:
    """One transaction item as the Lambdas write it (infra_templates/lambda/common/ledger.py)."""

    transaction_id: str
    user_id: str
    amount: int  # minor units (cents)
    currency: str
    created_at: str  # ISO 8601, milliseconds, UTC ("...Z")
    origin_region: str
    version: int
    channel: str
    idempotency_key: str


def _transaction(item: dict) -> LedgerTransaction:
    plain = {key: _deserializer.deserialize(value) for key, value in item.items()}
    return LedgerTransaction(
        transaction_id=str(plain.get("transactionId", "")),
        user_id=str(plain.get("userId", "")),
        amount=int(plain.get("amount", 0)),
        currency=str(plain.get("currency", "")),
        created_at=str(plain.get("createdAt", "")),
        origin_region=str(plain.get("originRegion", "")),
        version=int(plain.get("version", 0)),
        channel=str(plain.get("channel", "")),
        idempotency_key=str(plain.get("idempotencyKey", "")),
    )


def transactions_by_user(
    *, target: AwsTarget, table: str, user_id: str, page_size: int = 500
) -> Iterator[LedgerTransaction]:
    """Every transaction of ``user_id`` in the replica at ``target``'s region, oldest first.

    Queries the ``byUser`` index (userId, createdAt; all attributes projected) page by page,
    so memory stays flat whatever the number of items. Index reads are eventually consistent.
    """
    ddb = client(SERVICE, target)
    kwargs = {
        "TableName": table,
        "IndexName": BY_USER_INDEX,
        "KeyConditionExpression": "userId = :u",
        "ExpressionAttributeValues": {":u": {"S": user_id}},
        "Limit": page_size,
    }
    while True:
        with translated(SERVICE, "Query"):
            page = ddb.query(**kwargs)
        for item in page.get("Items", []):
            yield _transaction(item)
        last = page.get("LastEvaluatedKey")
        if not last:
            return
        kwargs["ExclusiveStartKey"] = last


def table_stream_arn(*, target: AwsTarget, table: str) -> str | None:
    """The stream of ``table``'s replica in ``target``'s region (each replica has its own), or
    None when the table does not exist there yet or has no stream."""
    ddb = client(SERVICE, target)
    try:
        with translated(SERVICE, "DescribeTable"):
            description = ddb.describe_table(TableName=table)["Table"]
    except AwsError as exc:
        if exc.code == "ResourceNotFoundException":
            return None
        raise
    return description.get("LatestStreamArn") or None
