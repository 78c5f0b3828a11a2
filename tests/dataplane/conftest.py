"""A data plane over tables, buses and buckets made directly in the sandbox AWS (no stacks, no
database: quicker than deploying nine stacks per test), keyed and streamed as data.yaml and
storage.yaml make them. One set per module; every test uses its own idempotency keys."""

from __future__ import annotations

import time
import uuid

import pytest

from sandbox.dataplane.config import DataPlaneConfig, LagDistribution
from sandbox.dataplane.plane import DataPlane
from sandbox.dataplane.resources import dataplane_resources_create

SOURCE, TARGET = "us-east-1", "eu-central-1"


@pytest.fixture(scope="module")
def plane_config(sandbox_aws) -> DataPlaneConfig:
    return dataplane_resources_create(
        endpoint=sandbox_aws, environment=f"dp{uuid.uuid4().hex[:8]}", regions=(SOURCE, TARGET)
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
