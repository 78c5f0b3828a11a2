"""The transaction and webhook handlers, run in-process against the sandbox AWS.

The handlers use plain ``boto3.client(...)``: boto3 reads AWS_ENDPOINT_URL and AWS_REGION
from the environment, so the tests only set those (moto server over HTTP, the session
fixture ``sandbox_aws``). No Django database is involved.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from cfnlint.decode import decode

LAMBDA_DIR = Path(__file__).resolve().parents[2] / "infra_templates" / "lambda"
DATA_TEMPLATE = LAMBDA_DIR.parent / "data.yaml"
REGION = "us-east-1"
TRACE_HEADER = "Root=1-6736a1f0-3c2d1e0f9a8b7c6d5e4f3a2b;Parent=53995c3f42cd8ad8;Sampled=1"
TRACE_ROOT = "1-6736a1f0-3c2d1e0f9a8b7c6d5e4f3a2b"


def _load(function: str):
    """Import <function>/handler.py as the packaged zip would lay it out: common/ beside it."""
    if str(LAMBDA_DIR) not in sys.path:
        sys.path.insert(0, str(LAMBDA_DIR))  # zip root stand-in: `from common import ledger`
    name = f"lambda_{function}_handler"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, LAMBDA_DIR / function / "handler.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def transaction_handler():
    return _load("transaction").handler


@pytest.fixture(scope="session")
def webhook_handler():
    return _load("webhook").handler


@pytest.fixture(scope="session")
def ledger():
    _load("transaction")
    from common import ledger

    return ledger


@pytest.fixture
def aws_env(monkeypatch, sandbox_aws):
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox_aws)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("_X_AMZN_TRACE_ID", TRACE_HEADER)
    monkeypatch.setenv("WINDOW_SECONDS", "300")
    monkeypatch.setenv("SHARDS", "16")
    return sandbox_aws


def table_definition() -> dict:
    """CreateTable arguments with data.yaml's key schema, indexes and stream."""
    template, problems = decode(str(DATA_TEMPLATE))
    assert template is not None, problems
    props = template["Resources"]["TransactionsTable"]["Properties"]
    plain = json.loads(json.dumps(props))  # cfn-lint nodes -> plain dicts and lists
    return {
        "AttributeDefinitions": plain["AttributeDefinitions"],
        "KeySchema": plain["KeySchema"],
        "GlobalSecondaryIndexes": plain["GlobalSecondaryIndexes"],
        "BillingMode": plain["BillingMode"],
        "StreamSpecification": {"StreamEnabled": True, **plain["StreamSpecification"]},
    }


@pytest.fixture
def dynamodb(aws_env):
    return boto3.client("dynamodb", region_name=REGION)


@pytest.fixture
def table(aws_env, dynamodb, monkeypatch):
    name = f"test-transactions-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(TableName=name, **table_definition())
    monkeypatch.setenv("TABLE_NAME", name)
    yield name
    dynamodb.delete_table(TableName=name)


@pytest.fixture
def bus(aws_env, monkeypatch):
    """A bus like events.yaml's, with a rule copying every transaction event to an SQS queue."""
    events = boto3.client("events", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    name = f"test-cutover-bus-{uuid.uuid4().hex[:8]}"
    events.create_event_bus(Name=name)
    queue_url = sqs.create_queue(QueueName=f"{name}-tap")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="tap", EventBusName=name, EventPattern=json.dumps({"source": ["cutover.transactions"]}))
    events.put_targets(Rule="tap", EventBusName=name, Targets=[{"Id": "tap", "Arn": queue_arn}])
    monkeypatch.setenv("EVENT_BUS_NAME", name)

    class Bus:
        def __init__(self):
            self.name = name

        def received(self, count: int, timeout: float = 5.0) -> list[dict]:
            """The events delivered so far, waiting until ``count`` have arrived."""
            found: list[dict] = []
            deadline = time.monotonic() + timeout
            while len(found) < count and time.monotonic() < deadline:
                messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
                for message in messages.get("Messages", []):
                    found.append(json.loads(message["Body"]))
                    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            return found

    yield Bus()
    events.remove_targets(Rule="tap", EventBusName=name, Ids=["tap"])
    events.delete_rule(Name="tap", EventBusName=name)
    events.delete_event_bus(Name=name)
    sqs.delete_queue(QueueUrl=queue_url)


def api_event(body, *, method: str = "POST", resource: str = "/api/v1/transactions", encode: bool = False) -> dict:
    """An API Gateway REST proxy event, as the regional stack's integration sends it."""
    raw = body if isinstance(body, str) or body is None else json.dumps(body)
    if encode and raw is not None:
        raw = base64.b64encode(raw.encode()).decode()
    return {
        "resource": resource,
        "path": resource,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json"},
        "body": raw,
        "isBase64Encoded": encode,
        "requestContext": {"stage": "v1", "requestId": str(uuid.uuid4())},
    }


pytestmark = pytest.mark.usefixtures("aws_env")

ISO_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def valid_body(**overrides) -> dict:
    body = {"idempotencyKey": f"key-{uuid.uuid4()}", "userId": "user-42", "amount": 1250, "currency": "EUR"}
    body.update(overrides)
    return body


def items(dynamodb, table) -> list[dict]:
    return dynamodb.scan(TableName=table, ConsistentRead=True)["Items"]


def call(handler, body, **kwargs) -> tuple[int, dict]:
    response = handler(api_event(body, **kwargs), None)
    assert response["headers"]["Content-Type"] == "application/json"
    return response["statusCode"], json.loads(response["body"])


# --- the write path ---------------------------------------------------------------------------


def test_valid_request_writes_the_transaction_and_its_marker_and_returns_201(transaction_handler, dynamodb, table, bus):
    body = valid_body()

    status, transaction = call(transaction_handler, body)

    assert status == 201
    assert uuid.UUID(transaction["transactionId"]).version == 4
    assert transaction["idempotencyKey"] == body["idempotencyKey"]
    assert transaction["userId"] == "user-42"
    assert transaction["amount"] == 1250
    assert transaction["currency"] == "EUR"
    assert transaction["originRegion"] == REGION
    assert transaction["version"] == 1
    assert transaction["kind"] == "transaction"
    assert ISO_MS.match(transaction["createdAt"])
    bucket, _, shard = transaction["timeBucketShard"].partition("#")
    assert bucket == transaction["timeBucket"]
    window = datetime.strptime(bucket, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert window.timestamp() % 300 == 0
    assert 0 <= int(shard) < 16

    stored = {item["transactionId"]["S"]: item for item in items(dynamodb, table)}
    assert set(stored) == {transaction["transactionId"], f"idem#{body['idempotencyKey']}"}
    marker = stored[f"idem#{body['idempotencyKey']}"]
    assert marker["kind"] == {"S": "idempotency"}
    assert marker["targetTransactionId"] == {"S": transaction["transactionId"]}
    assert stored[transaction["transactionId"]]["amount"] == {"N": "1250"}


def test_the_same_key_again_in_the_same_region_returns_the_original_with_200_and_writes_nothing(
    transaction_handler, dynamodb, table, bus
):
    body = valid_body()
    _, first = call(transaction_handler, body)
    before = items(dynamodb, table)

    status, again = call(transaction_handler, body)

    assert status == 200
    assert again == first
    assert len(items(dynamodb, table)) == len(before) == 2


def test_the_same_key_with_a_different_request_is_refused_with_409(transaction_handler, dynamodb, table, bus):
    body = valid_body()
    call(transaction_handler, body)

    status, error = call(transaction_handler, {**body, "amount": 99999})

    assert status == 409
    assert error["error"] == "idempotency_conflict"
    assert "different" in error["message"]
    assert len(items(dynamodb, table)) == 2


def test_the_marker_stays_out_of_the_indexes(transaction_handler, dynamodb, table, bus):
    body = valid_body()
    _, transaction = call(transaction_handler, body)

    by_key = dynamodb.query(
        TableName=table,
        IndexName="byIdempotencyKey",
        KeyConditionExpression="idempotencyKey = :k",
        ExpressionAttributeValues={":k": {"S": body["idempotencyKey"]}},
    )["Items"]
    by_bucket = dynamodb.query(
        TableName=table,
        IndexName="byTimeBucket",
        KeyConditionExpression="timeBucketShard = :s",
        ExpressionAttributeValues={":s": {"S": transaction["timeBucketShard"]}},
    )["Items"]

    assert [i["transactionId"]["S"] for i in by_key] == [transaction["transactionId"]]
    assert transaction["transactionId"] in [i["transactionId"]["S"] for i in by_bucket]
    assert all(i["version"] == {"N": "1"} for i in by_bucket)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (None, "body is empty"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        (valid_body(idempotencyKey=None), "idempotencyKey is required"),
        (valid_body(idempotencyKey="   "), "idempotencyKey is required"),
        (valid_body(idempotencyKey="k" * 256), "idempotencyKey is longer than 255"),
        (valid_body(userId=""), "userId is required"),
        (valid_body(userId=7), "userId is required"),
        (valid_body(amount=None), "amount is required"),
        (valid_body(amount=12.5), "integer number of cents"),
        (valid_body(amount="12.50"), "integer number of cents"),
        (valid_body(amount=True), "integer number of cents"),
        (valid_body(amount=0), "between 1 and"),
        (valid_body(amount=-100), "between 1 and"),
        (valid_body(amount=10**13), "between 1 and"),
        (valid_body(currency="eur"), "ISO 4217"),
        (valid_body(currency="EURO"), "ISO 4217"),
        (valid_body(currency=None), "currency is required"),
    ],
    ids=lambda value: "" if isinstance(value, dict) else None,
)
def test_bad_input_is_refused_with_400_and_a_clear_message(transaction_handler, dynamodb, table, bus, body, expected):
    status, error = call(transaction_handler, body)

    assert status == 400
    assert error["error"] == "bad_request"
    assert expected in error["message"]
    assert items(dynamodb, table) == []


def test_a_base64_encoded_body_is_accepted(transaction_handler, table, bus):
    status, _ = call(transaction_handler, valid_body(), encode=True)

    assert status == 201


# --- the event ---------------------------------------------------------------------------------


def test_the_event_is_published_with_the_transaction_id_and_the_trace_id(transaction_handler, table, bus):
    body = valid_body()
    _, transaction = call(transaction_handler, body)

    (event,) = bus.received(1)

    assert event["source"] == "cutover.transactions"
    assert event["detail-type"] == "TransactionCreated"
    detail = event["detail"]
    assert detail["transactionId"] == transaction["transactionId"]
    assert detail["idempotencyKey"] == body["idempotencyKey"]
    assert detail["originRegion"] == REGION
    assert detail["traceId"] == TRACE_ROOT
    assert detail["replayed"] is False


def test_a_repeat_publishes_again_with_the_same_transaction_id_for_consumers_to_deduplicate(
    transaction_handler, table, bus
):
    body = valid_body()
    _, transaction = call(transaction_handler, body)
    call(transaction_handler, body)

    events = bus.received(2)

    assert [e["detail"]["transactionId"] for e in events] == [transaction["transactionId"]] * 2
    assert sorted(e["detail"]["replayed"] for e in events) == [False, True]


# --- the webhook and the health check ---------------------------------------------------------


def test_the_webhook_goes_through_the_same_idempotent_write(webhook_handler, dynamodb, table, bus):
    body = valid_body(providerReference="pay_123", status="captured")
    resource = "/api/v1/payments/webhook"

    first_status, first = call(webhook_handler, body, resource=resource)
    again_status, again = call(webhook_handler, body, resource=resource)

    assert (first_status, again_status) == (201, 200)
    assert again["transactionId"] == first["transactionId"]
    assert first["channel"] == "webhook"
    assert len(items(dynamodb, table)) == 2
    assert bus.received(2)[0]["detail"]["channel"] == "webhook"


def test_the_webhook_refuses_bad_input(webhook_handler, table, bus):
    status, error = call(webhook_handler, valid_body(amount="ten"), resource="/api/v1/payments/webhook")

    assert status == 400
    assert "amount" in error["message"]


def test_health_answers_get(transaction_handler):
    status, body = call(transaction_handler, None, method="GET", resource="/health")

    assert (status, body) == (200, {"status": "ok", "region": REGION})


def test_other_methods_are_refused(transaction_handler, webhook_handler):
    assert call(transaction_handler, None, method="GET")[0] == 405
    assert call(webhook_handler, None, method="PUT", resource="/api/v1/payments/webhook")[0] == 405


# --- pure parts ---------------------------------------------------------------------------------


def test_the_shard_is_a_stable_hash_of_the_transaction_id(ledger):
    # Fixed value: reconciliation recomputes it in another process (Python's hash() is salted).
    assert ledger.shard_for("4b1f0c1e-2f6a-4d7e-9c1a-0f3b5e7d9a21", 16) == 0
    assert ledger.shard_for("4b1f0c1e-2f6a-4d7e-9c1a-0f3b5e7d9a21", 1000) == 392
    shards = {ledger.shard_for(str(uuid.uuid4()), 16) for _ in range(500)}
    assert shards == set(range(16))


def test_windows_are_epoch_aligned(ledger):
    moment = datetime(2026, 11, 3, 10, 7, 59, 999000, tzinfo=UTC)

    assert ledger.window_start(moment, 300) == datetime(2026, 11, 3, 10, 5, tzinfo=UTC)
    assert ledger.iso_ms(moment) == "2026-11-03T10:07:59.999Z"
