"""DynamoDB: reading one region's replica of the transactions table (data-subject exports) and, for
reconciliation, the regional aggregates tables and the drill-down indexes."""

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
    updated_at: str = ""  # set by writes after the first (version > 1), where the data plane keeps it


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
        updated_at=str(plain.get("updatedAt", "")),
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


# --- reconciliation reads -------------------------------------------------------------------
# Every read asks for ReturnConsumedCapacity TOTAL and adds what it cost to a ReadMeter, so a
# reconciliation run records the read units it spent. Keys are paginated to the end.

BY_IDEMPOTENCY_KEY_INDEX = "byIdempotencyKey"
BY_TIME_BUCKET_INDEX = "byTimeBucket"
BATCH_GET_MAX = 100
BATCH_WRITE_MAX = 25
BOOKKEEPING_PREFIX = "batch#"  # aggregates-table rows of the stream consumer, not windows


def item_size(item: dict) -> int:
    """An item's size as DynamoDB bills it, near enough: attribute names plus values (strings
    in UTF-8, numbers about one byte per two digits plus one)."""
    size = 0
    for name, typed in item.items():
        size += len(name.encode())
        ((kind, value),) = typed.items()
        if kind == "S":
            size += len(value.encode())
        elif kind == "N":
            size += (len(value.lstrip("-").replace(".", "")) + 1) // 2 + 1
        else:
            size += len(str(value).encode())
    return size


@dataclass
class ReadMeter:
    """What a sequence of reads cost: requests made, items returned, the read units DynamoDB
    reported (ReturnConsumedCapacity TOTAL), and the read units AWS would bill for the bytes
    returned (``modelled_units``: 0.5 per started 4 KB per request for eventually consistent
    Query/Scan, per item for BatchGetItem), because the sandbox reports a flat figure."""

    requests: int = 0
    items: int = 0
    read_units: float = 0.0
    bytes: int = 0
    modelled_units: float = 0.0

    def add(self, response: dict, items: list[dict], *, per_item: bool = False) -> None:
        self.requests += 1
        self.items += len(items)
        consumed = response.get("ConsumedCapacity")
        for entry in consumed if isinstance(consumed, list) else [consumed] if consumed else []:
            self.read_units += float(entry.get("CapacityUnits") or 0.0)
        sizes = [item_size(i) for i in items]
        self.bytes += sum(sizes)
        if per_item:
            self.modelled_units += sum(0.5 * max(1, -(-s // 4096)) for s in sizes)
        else:
            self.modelled_units += 0.5 * max(1, -(-sum(sizes) // 4096))


@dataclass(frozen=True)
class BucketAggregate:
    """One (window, bucket) row of a region's aggregates table, as the stream consumer keeps it."""

    bucket: int
    count: int
    amount_sum: int
    checksum: int  # mod 2**64
    processed_here: int


@dataclass(frozen=True)
class KeyVersion:
    """A transaction as the byTimeBucket index projects it (no createdAt: see transactions_get)."""

    transaction_id: str
    version: int
    amount: int
    currency: str
    idempotency_key: str
    origin_region: str


def _plain(item: dict) -> dict:
    return {key: _deserializer.deserialize(value) for key, value in item.items()}


def _query_all(ddb, kwargs: dict, meter: ReadMeter, operation: str = "Query") -> Iterator[dict]:
    kwargs = {**kwargs, "ReturnConsumedCapacity": "TOTAL"}
    call = ddb.query if operation == "Query" else ddb.scan
    while True:
        with translated(SERVICE, operation):
            page = call(**kwargs)
        items = page.get("Items", [])
        meter.add(page, items)
        yield from items
        last = page.get("LastEvaluatedKey")
        if not last:
            return
        kwargs["ExclusiveStartKey"] = last


def window_aggregates(*, target: AwsTarget, table: str, window_id: str, meter: ReadMeter) -> dict[int, BucketAggregate]:
    """Every bucket row of one window in a region's aggregates table, by bucket number.

    A bucket with no row had no transaction: callers treat it as zeros.
    """
    ddb = client(SERVICE, target)
    out: dict[int, BucketAggregate] = {}
    kwargs = {
        "TableName": table,
        "KeyConditionExpression": "windowId = :w",
        "ExpressionAttributeValues": {":w": {"S": window_id}},
    }
    for item in _query_all(ddb, kwargs, meter):
        plain = _plain(item)
        try:
            bucket = int(str(plain.get("bucket", "")))
        except ValueError:
            continue  # not a bucket row
        out[bucket] = BucketAggregate(
            bucket=bucket,
            count=int(plain.get("count", 0)),
            amount_sum=int(plain.get("amountSum", 0)),
            checksum=int(plain.get("checksum", 0)) % 2**64,
            processed_here=int(plain.get("processedHere", 0)),
        )
    return out


DUPLICATE_PREFIX = "dup#"  # aggregates rows the consumer writes when a marker was replaced


def window_duplicates(*, target: AwsTarget, table: str, window_id: str, meter: ReadMeter) -> dict[str, set[str]]:
    """Idempotency keys the region's stream consumer saw accepted twice in a window (a marker
    replaced by another transaction's): ``{key: {transaction ids}}``."""
    ddb = client(SERVICE, target)
    kwargs = {
        "TableName": table,
        "KeyConditionExpression": "windowId = :w",
        "ExpressionAttributeValues": {":w": {"S": DUPLICATE_PREFIX + window_id}},
    }
    out: dict[str, set[str]] = {}
    for item in _query_all(ddb, kwargs, meter):
        plain = _plain(item)
        out.setdefault(str(plain.get("bucket", "")), set()).update(str(i) for i in plain.get("transactionIds") or ())
    return out


def bucket_keys(*, target: AwsTarget, table: str, time_bucket_shard: str, meter: ReadMeter) -> list[KeyVersion]:
    """The transactions of one window's hash bucket in a region's replica (byTimeBucket index)."""
    ddb = client(SERVICE, target)
    kwargs = {
        "TableName": table,
        "IndexName": BY_TIME_BUCKET_INDEX,
        "KeyConditionExpression": "timeBucketShard = :s",
        "ExpressionAttributeValues": {":s": {"S": time_bucket_shard}},
    }
    out = []
    for item in _query_all(ddb, kwargs, meter):
        plain = _plain(item)
        out.append(
            KeyVersion(
                transaction_id=str(plain.get("transactionId", "")),
                version=int(plain.get("version", 0)),
                amount=int(plain.get("amount", 0)),
                currency=str(plain.get("currency", "")),
                idempotency_key=str(plain.get("idempotencyKey", "")),
                origin_region=str(plain.get("originRegion", "")),
            )
        )
    return out


def transaction_ids_by_idempotency_key(
    *, target: AwsTarget, table: str, idempotency_key: str, meter: ReadMeter
) -> list[str]:
    """Every transactionId written under one idempotency key in a region's replica, sorted."""
    ddb = client(SERVICE, target)
    kwargs = {
        "TableName": table,
        "IndexName": BY_IDEMPOTENCY_KEY_INDEX,
        "KeyConditionExpression": "idempotencyKey = :k",
        "ExpressionAttributeValues": {":k": {"S": idempotency_key}},
    }
    return sorted(str(_plain(item)["transactionId"]) for item in _query_all(ddb, kwargs, meter))


def transactions_get(
    *, target: AwsTarget, table: str, transaction_ids: list[str], meter: ReadMeter, max_rounds: int = 8
) -> dict[str, LedgerTransaction]:
    """BatchGetItem (eventually consistent) of the given ids; ids not in the replica are absent."""
    ddb = client(SERVICE, target)
    out: dict[str, LedgerTransaction] = {}
    ids = sorted(set(transaction_ids))
    for start in range(0, len(ids), BATCH_GET_MAX):
        request = {table: {"Keys": [{"transactionId": {"S": i}} for i in ids[start : start + BATCH_GET_MAX]]}}
        for _ in range(max_rounds):
            with translated(SERVICE, "BatchGetItem"):
                page = ddb.batch_get_item(RequestItems=request, ReturnConsumedCapacity="TOTAL")
            items = page.get("Responses", {}).get(table, [])
            meter.add(page, items, per_item=True)
            for item in items:
                found = _transaction(item)
                out[found.transaction_id] = found
            request = page.get("UnprocessedKeys") or {}
            if not request:
                break
        else:
            raise AwsError(
                "BatchGetItem left keys unprocessed after retries",
                code="UnprocessedKeys",
                permanent=False,
                service=SERVICE,
                operation="BatchGetItem",
            )
    return out


def table_scan(*, target: AwsTarget, table: str, meter: ReadMeter) -> int:
    """A full Scan of a table, counting items: what reconciling without aggregates would read."""
    return sum(1 for _ in _query_all(client(SERVICE, target), {"TableName": table}, meter, operation="Scan"))


def items_write(*, target: AwsTarget, table: str, items: list[dict], max_rounds: int = 20) -> int:
    """BatchWriteItem of plain items (str/int values), 25 a request, retrying unprocessed ones."""
    ddb = client(SERVICE, target)
    written = 0
    for start in range(0, len(items), BATCH_WRITE_MAX):
        chunk = items[start : start + BATCH_WRITE_MAX]
        request = {table: [{"PutRequest": {"Item": _attributes(item)}} for item in chunk]}
        for _ in range(max_rounds):
            with translated(SERVICE, "BatchWriteItem"):
                page = ddb.batch_write_item(RequestItems=request)
            request = page.get("UnprocessedItems") or {}
            if not request:
                break
        else:
            raise AwsError(
                "BatchWriteItem left items unprocessed after retries",
                code="UnprocessedItems",
                permanent=False,
                service=SERVICE,
                operation="BatchWriteItem",
            )
        written += len(chunk)
    return written


def _attributes(item: dict) -> dict:
    out = {}
    for name, value in item.items():
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise TypeError(f"{name}: only strings and integers are written, not {type(value).__name__}")
        out[name] = {"S": value} if isinstance(value, str) else {"N": str(value)}
    return out
