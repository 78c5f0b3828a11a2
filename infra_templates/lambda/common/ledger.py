"""The idempotent write path shared by the transaction and the webhook Lambdas.

Packaged into every function's zip as ``common/`` beside the function's ``handler.py``
(see ../README.md), so both handlers do ``from common import ledger``.

One request writes two items in one DynamoDB transaction: the transaction itself and an
idempotency marker ``idem#<idempotencyKey>`` whose put is conditional on not existing. A
repeat of the key in the same region cancels the transaction on the marker's condition,
and the handler answers with the ORIGINAL transaction (200) instead of writing a new one.

The condition is evaluated against the local replica only (global tables across two
region sets are eventually consistent), so two regions can both accept one key; the
reconciliation job detects that through the byIdempotencyKey index. The marker carries
none of the index keys, so it never shows up in the indexes or in reconciliation drill-downs.

Stdlib and boto3 only. Clients are plain ``boto3.client(...)``: boto3 reads AWS_REGION and,
in the sandbox, AWS_ENDPOINT_URL by itself.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import os
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import boto3
from botocore.exceptions import ClientError

KIND_TRANSACTION = "transaction"
KIND_IDEMPOTENCY = "idempotency"
MARKER_PREFIX = "idem#"
EVENT_SOURCE = "cutover.transactions"
EVENT_DETAIL_TYPE = "TransactionCreated"

DEFAULT_WINDOW_SECONDS = 300  # 5-minute reconciliation windows
DEFAULT_SHARDS = 16  # hash buckets per window; must match the reconciliation job's setting

MAX_KEY_LENGTH = 255
MAX_USER_ID_LENGTH = 128
MAX_AMOUNT_CENTS = 10**12  # ten billion in major units: anything above is a client bug
CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")  # ISO 4217 alphabetic code

JSON_HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-store, no-cache"}


class BadRequest(ValueError):
    """The request cannot be accepted as sent; the message is shown to the caller."""


class IdempotencyConflict(Exception):
    """The idempotency key was already used for a different request."""


@dataclass(frozen=True)
class TransactionRequest:
    idempotency_key: str
    user_id: str
    amount: int  # minor units (cents)
    currency: str

    @property
    def fingerprint(self) -> str:
        """What a repeat must match to count as the same request."""
        raw = json.dumps([self.user_id, self.amount, self.currency], separators=(",", ":"))
        return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class Outcome:
    status: int  # 201 written now, 200 a repeat answered with the original
    transaction: dict


# --- configuration --------------------------------------------------------------------------


def _int_env(name: str, default: int) -> int:
    value = int(os.environ.get(name, default))
    if value < 1:
        raise RuntimeError(f"{name} must be a positive integer, not {value}")
    return value


def table_name() -> str:
    return os.environ["TABLE_NAME"]


def event_bus_name() -> str:
    return os.environ["EVENT_BUS_NAME"]


def region() -> str:
    return os.environ.get("AWS_REGION") or os.environ["AWS_DEFAULT_REGION"]


@functools.cache
def _client(service: str, region_name: str, endpoint: str | None):
    # Keyed on region and endpoint so that tests switching them get fresh clients; on
    # Lambda both are fixed, so there is one client per service per container.
    return boto3.client(service, region_name=region_name)


def client(service: str):
    return _client(service, region(), os.environ.get("AWS_ENDPOINT_URL"))


# --- pure parts (tested without AWS) ----------------------------------------------------------


def window_start(moment: datetime, seconds: int) -> datetime:
    """Start of the epoch-aligned window containing ``moment``."""
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=UTC)


def shard_for(transaction_id: str, shards: int) -> int:
    """Stable hash bucket of a transaction: first 8 bytes of SHA-256, big-endian, mod shards.

    Stable across processes and languages (Python's hash() is salted per process).
    """
    digest = hashlib.sha256(transaction_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % shards


def iso_ms(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def iso_s(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_body(event: dict) -> dict:
    body = event.get("body")
    if body is None or body == "":
        raise BadRequest("the request body is empty: send a JSON object")
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise BadRequest("the request body is not valid base64-encoded UTF-8")
    try:
        payload = json.loads(body)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc.msg} at position {exc.pos}")
    if not isinstance(payload, dict):
        raise BadRequest("the request body must be a JSON object")
    return payload


def _text(payload: dict, field: str, max_length: int) -> str:
    value = payload.get(field)
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"{field} is required and must be a non-empty string")
    if len(value) > max_length:
        raise BadRequest(f"{field} is longer than {max_length} characters")
    if any(ord(c) < 32 for c in value):
        raise BadRequest(f"{field} contains control characters")
    return value


def parse_request(payload: dict) -> TransactionRequest:
    key = _text(payload, "idempotencyKey", MAX_KEY_LENGTH)
    user_id = _text(payload, "userId", MAX_USER_ID_LENGTH)
    amount = payload.get("amount")
    # bool is an int in Python; 12.5 or "12.50" are refused: amounts are integer cents.
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise BadRequest("amount is required and must be an integer number of cents (e.g. 1250 for 12.50)")
    if not 0 < amount <= MAX_AMOUNT_CENTS:
        raise BadRequest(f"amount must be between 1 and {MAX_AMOUNT_CENTS} cents")
    currency = payload.get("currency")
    if not isinstance(currency, str) or not CURRENCY_CODE.match(currency):
        raise BadRequest("currency is required and must be a three-letter ISO 4217 code in capitals (e.g. EUR)")
    return TransactionRequest(idempotency_key=key, user_id=user_id, amount=amount, currency=currency)


def new_transaction(request: TransactionRequest, *, now: datetime, origin_region: str, channel: str) -> dict:
    transaction_id = str(uuid.uuid4())
    bucket = iso_s(window_start(now, _int_env("WINDOW_SECONDS", DEFAULT_WINDOW_SECONDS)))
    shard = shard_for(transaction_id, _int_env("SHARDS", DEFAULT_SHARDS))
    return {
        "transactionId": transaction_id,
        "kind": KIND_TRANSACTION,
        "idempotencyKey": request.idempotency_key,
        "userId": request.user_id,
        "amount": request.amount,
        "currency": request.currency,
        "createdAt": iso_ms(now),
        "originRegion": origin_region,
        "version": 1,
        "channel": channel,
        "timeBucket": bucket,
        "timeBucketShard": f"{bucket}#{shard}",
    }


def marker_for(transaction: dict, request: TransactionRequest) -> dict:
    # No idempotencyKey/userId/timeBucketShard attributes: the marker stays out of every index.
    return {
        "transactionId": MARKER_PREFIX + request.idempotency_key,
        "kind": KIND_IDEMPOTENCY,
        "targetTransactionId": transaction["transactionId"],
        "fingerprint": request.fingerprint,
        "originRegion": transaction["originRegion"],
        "createdAt": transaction["createdAt"],
    }


def to_attributes(item: dict) -> dict:
    out = {}
    for name, value in item.items():
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise TypeError(f"{name}: only strings and integers are stored, not {type(value).__name__}")
        out[name] = {"S": value} if isinstance(value, str) else {"N": str(value)}
    return out


def from_attributes(attributes: dict) -> dict:
    out = {}
    for name, typed in attributes.items():
        ((kind, value),) = typed.items()
        out[name] = int(value) if kind == "N" else value
    return out


def trace_id() -> str | None:
    """The X-Ray root id of this invocation, from the header Lambda puts in _X_AMZN_TRACE_ID."""
    header = os.environ.get("_X_AMZN_TRACE_ID")
    if not header:
        return None
    for part in header.split(";"):
        name, _, value = part.partition("=")
        if name.strip() == "Root" and value:
            return value.strip()
    return header


# --- AWS ---------------------------------------------------------------------------------------


def _marker_condition_failed(exc: ClientError) -> bool:
    if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return False
    reasons = exc.response.get("CancellationReasons") or []
    # Items are [transaction, marker]: only the marker's condition means "a repeat".
    return len(reasons) == 2 and reasons[1].get("Code") == "ConditionalCheckFailed"


def _get(key: str) -> dict | None:
    response = client("dynamodb").get_item(
        TableName=table_name(), Key={"transactionId": {"S": key}}, ConsistentRead=True
    )
    return from_attributes(response["Item"]) if "Item" in response else None


def _original(request: TransactionRequest) -> dict:
    marker = _get(MARKER_PREFIX + request.idempotency_key)
    if marker is None:  # markers are never deleted: a cancelled write implies one exists
        raise RuntimeError("the idempotency marker vanished after its condition failed")
    if marker.get("fingerprint") != request.fingerprint:
        raise IdempotencyConflict(
            "idempotencyKey was already used for a request with a different userId, amount or currency"
        )
    transaction = _get(marker["targetTransactionId"])
    if transaction is None:
        # The marker arrived from the other region before the transaction item did (items of
        # one DynamoDB transaction replicate separately): answer with what the marker knows.
        return {
            "transactionId": marker["targetTransactionId"],
            "idempotencyKey": request.idempotency_key,
            "originRegion": marker["originRegion"],
            "createdAt": marker["createdAt"],
            "replicating": True,
        }
    return transaction


def record(request: TransactionRequest, *, channel: str, now: datetime | None = None) -> Outcome:
    """Write the transaction once per idempotency key (per region) and publish its event."""
    transaction = new_transaction(request, now=now or datetime.now(UTC), origin_region=region(), channel=channel)
    marker = marker_for(transaction, request)
    try:
        client("dynamodb").transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": table_name(),
                        "Item": to_attributes(transaction),
                        "ConditionExpression": "attribute_not_exists(transactionId)",
                    }
                },
                {
                    "Put": {
                        "TableName": table_name(),
                        "Item": to_attributes(marker),
                        "ConditionExpression": "attribute_not_exists(transactionId)",
                    }
                },
            ],
            ClientRequestToken=transaction["transactionId"],
        )
    except ClientError as exc:
        if not _marker_condition_failed(exc):
            raise
        original = _original(request)
        # Publish again: a repeat is how a client recovers from a lost response, and the
        # first publish may be what was lost. Consumers de-duplicate on transactionId.
        publish(original, replayed=True)
        return Outcome(status=200, transaction=original)
    publish(transaction, replayed=False)
    return Outcome(status=201, transaction=transaction)


def publish(transaction: dict, *, replayed: bool) -> None:
    """Announce the transaction on this region's bus (forwarded to the peer region's bus).

    EventBridge carries the X-Ray trace only as the PutEvents TraceHeader, and not across
    regions or through archive replays, so the trace id also travels in the payload.
    """
    detail = {
        "transactionId": transaction["transactionId"],  # the de-duplication key for consumers
        "idempotencyKey": transaction["idempotencyKey"],
        "originRegion": transaction["originRegion"],
        "createdAt": transaction["createdAt"],
        "version": transaction.get("version"),
        "channel": transaction.get("channel"),
        "replayed": replayed,
        "traceId": trace_id(),
    }
    entry = {
        "Source": EVENT_SOURCE,
        "DetailType": EVENT_DETAIL_TYPE,
        "Detail": json.dumps(detail),
        "EventBusName": event_bus_name(),
        "Resources": [f"transaction/{transaction['transactionId']}"],
    }
    if os.environ.get("_X_AMZN_TRACE_ID"):
        entry["TraceHeader"] = os.environ["_X_AMZN_TRACE_ID"]
    response = client("events").put_events(Entries=[entry])
    if response.get("FailedEntryCount"):
        # The write is committed; failing the request would not undo it. The error fails
        # the invocation (Errors alarm), and the client's retry re-publishes (see record()).
        raise RuntimeError(f"event for {transaction['transactionId']} not published: {response['Entries']}")


# --- API Gateway proxy -------------------------------------------------------------------------


def respond(status: int, body: dict) -> dict:
    return {"statusCode": status, "headers": dict(JSON_HEADERS), "body": json.dumps(body)}


def handle(event: dict, *, channel: str) -> dict:
    """The POST path both handlers share: parse, validate, record, answer."""
    try:
        request = parse_request(parse_body(event))
    except BadRequest as exc:
        return respond(400, {"error": "bad_request", "message": str(exc)})
    try:
        outcome = record(request, channel=channel)
    except IdempotencyConflict as exc:
        return respond(409, {"error": "idempotency_conflict", "message": str(exc)})
    return respond(outcome.status, outcome.transaction)
