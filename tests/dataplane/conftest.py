"""A data plane over tables, buses and buckets made directly in the sandbox AWS (no stacks, no
database: quicker than deploying nine stacks per test), keyed and streamed as data.yaml and
storage.yaml make them. One set per module; every test uses its own idempotency keys."""

from __future__ import annotations

import json
import time
import uuid

import boto3
import pytest
from cfnlint.decode import decode

from sandbox.dataplane.config import DataPlaneConfig, LagDistribution
from sandbox.dataplane.plane import DataPlane
from sandbox.processes import PROJECT_DIR

SOURCE, TARGET = "us-east-1", "eu-central-1"


def _client(endpoint: str, service: str, region: str):
    return boto3.client(
        service, region_name=region, endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing"
    )


def _template(name: str) -> dict:
    template, problems = decode(str(PROJECT_DIR / "infra_templates" / name))
    assert template is not None, problems
    return json.loads(json.dumps(template))


@pytest.fixture(scope="module")
def plane_config(sandbox_aws) -> DataPlaneConfig:
    env = f"dp{uuid.uuid4().hex[:8]}"
    transactions = _template("data.yaml")["Resources"]["TransactionsTable"]["Properties"]
    aggregates = _template("storage.yaml")["Resources"]["AggregatesTable"]["Properties"]
    buses, buckets = {}, {}
    for region in (SOURCE, TARGET):
        ddb = _client(sandbox_aws, "dynamodb", region)
        ddb.create_table(
            TableName=f"{env}-transactions",
            AttributeDefinitions=transactions["AttributeDefinitions"],
            KeySchema=transactions["KeySchema"],
            GlobalSecondaryIndexes=transactions["GlobalSecondaryIndexes"],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, **transactions["StreamSpecification"]},
        )
        ddb.create_table(
            TableName=f"{env}-aggregates",
            AttributeDefinitions=aggregates["AttributeDefinitions"],
            KeySchema=aggregates["KeySchema"],
            BillingMode="PAY_PER_REQUEST",
        )
        buses[region] = f"{env}-cutover"
        _client(sandbox_aws, "events", region).create_event_bus(Name=buses[region])
        buckets[region] = f"{env}-documents-{region}"
        s3 = _client(sandbox_aws, "s3", region)
        if region == "us-east-1":
            s3.create_bucket(Bucket=buckets[region])
        else:
            s3.create_bucket(Bucket=buckets[region], CreateBucketConfiguration={"LocationConstraint": region})
    return DataPlaneConfig(
        environment=env,
        endpoint=sandbox_aws,
        source_region=SOURCE,
        target_region=TARGET,
        event_buses=buses,
        document_buckets=buckets,
        window_seconds=900,
        shards=16,
    )


@pytest.fixture
def plane(plane_config, tmp_path):
    """The data plane running in a thread, default lag (100-300 ms, 2 % spikes), its own control dir."""
    running = DataPlane(plane_config, directory=tmp_path, lag=LagDistribution(), idle_sleep=0.05, seed=7)
    running.start()
    yield running
    running.stop()
    running.join(timeout=10)


def item(config: DataPlaneConfig, region: str, transaction_id: str) -> dict | None:
    return (
        config.client("dynamodb", region)
        .get_item(
            TableName=config.transactions_table, Key={"transactionId": {"S": transaction_id}}, ConsistentRead=True
        )
        .get("Item")
    )


def wait_until(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout}s")
