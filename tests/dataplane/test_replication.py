"""Replication between the two regions' tables and buckets (sandbox/dataplane/replication.py)."""

from __future__ import annotations

import time
import uuid

from sandbox.dataplane.traffic import TrafficGenerator, TrafficProfile

from .conftest import SOURCE, TARGET, item, wait_until


def generator(plane) -> TrafficGenerator:
    return TrafficGenerator(plane.config, plane.runtime, plane.control, TrafficProfile(rate=0), seed=1)


def test_a_write_lands_in_the_other_region_after_the_lag_and_the_lag_is_published(plane):
    status, tx = generator(plane).send(
        "api", SOURCE, {"idempotencyKey": f"k-{uuid.uuid4()}", "userId": "u1", "amount": 500, "currency": "EUR"}
    )
    assert status == 201

    copy = wait_until(lambda: item(plane.config, TARGET, tx["transactionId"]))
    assert copy["replicatedFrom"] == {"S": SOURCE}
    assert copy["amount"] == {"N": "500"} and copy["originRegion"] == {"S": SOURCE}
    assert plane.wait_settled()
    assert min(plane.replicator.lags_ms) >= 100  # drawn from 100-300 ms, measured from the write
    # The copy is not sent back: the source still has the original, without the marker.
    assert "replicatedFrom" not in item(plane.config, SOURCE, tx["transactionId"])

    plane.replicator._metrics.setdefault((SOURCE, TARGET), [])
    plane.replicator.publish_metrics()
    cloudwatch = plane.config.client("cloudwatch", SOURCE)
    stats = cloudwatch.get_metric_statistics(
        Namespace="AWS/DynamoDB",
        MetricName="ReplicationLatency",
        Dimensions=[
            {"Name": "TableName", "Value": plane.config.transactions_table},
            {"Name": "ReceivingRegion", "Value": TARGET},
        ],
        StartTime=time.time() - 600,
        EndTime=time.time() + 60,
        Period=60,
        Statistics=["SampleCount", "Minimum"],
    )["Datapoints"]
    assert sum(d["SampleCount"] for d in stats) >= 2  # the transaction and its idempotency marker
    assert min(d["Minimum"] for d in stats) >= 100


def _put(plane, region: str, transaction_id: str, *, version: int, amount: int, stamp: str) -> None:
    plane.config.client("dynamodb", region).put_item(
        TableName=plane.config.transactions_table,
        Item={
            "transactionId": {"S": transaction_id},
            "kind": {"S": "transaction"},
            "idempotencyKey": {"S": f"lww-{transaction_id}"},
            "amount": {"N": str(amount)},
            "version": {"N": str(version)},
            "originRegion": {"S": region},
            "createdAt": {"S": stamp},
            "timeBucket": {"S": "2026-11-27T00:00:00Z"},
            "timeBucketShard": {"S": "2026-11-27T00:00:00Z#1"},
        },
    )


def test_last_writer_wins_on_version_then_timestamp(plane):
    higher_version, later_stamp = f"lww-{uuid.uuid4()}", f"lww-{uuid.uuid4()}"
    # Version 2 written first in the source beats version 1 written later in the target.
    _put(plane, SOURCE, higher_version, version=2, amount=200, stamp="2026-11-27T00:00:01.000Z")
    _put(plane, TARGET, higher_version, version=1, amount=100, stamp="2026-11-27T00:00:09.000Z")
    # Same version: the later timestamp wins.
    _put(plane, SOURCE, later_stamp, version=1, amount=111, stamp="2026-11-27T00:00:01.000Z")
    _put(plane, TARGET, later_stamp, version=1, amount=999, stamp="2026-11-27T00:00:02.000Z")

    assert plane.wait_settled()
    for region in (SOURCE, TARGET):
        assert item(plane.config, region, higher_version)["amount"] == {"N": "200"}
        assert item(plane.config, region, later_stamp)["amount"] == {"N": "999"}
    assert plane.replicator.counts["superseded"] >= 2


def test_paused_copies_land_on_resume_and_off_discards_them(plane):
    gen = generator(plane)
    body = {"userId": "u2", "amount": 700, "currency": "EUR"}

    plane.control.set_mode("paused")
    _, held = gen.send("api", SOURCE, {**body, "idempotencyKey": f"p-{uuid.uuid4()}"})
    assert plane.wait_settled()
    assert plane.replicator.queued() >= 2 and item(plane.config, TARGET, held["transactionId"]) is None

    plane.control.set_mode("on")
    wait_until(lambda: item(plane.config, TARGET, held["transactionId"]))

    plane.control.set_mode("off")
    _, dropped = gen.send("api", TARGET, {**body, "idempotencyKey": f"o-{uuid.uuid4()}"})
    assert plane.wait_settled()
    plane.control.set_mode("on")  # switching back on does not replay what was written while off
    assert plane.wait_settled()
    assert item(plane.config, SOURCE, dropped["transactionId"]) is None
    assert plane.status()["counts"]["discarded"] >= 2


def test_a_new_document_is_copied_to_the_target_regions_bucket(plane):
    buckets = plane.config.document_buckets
    key = f"kyc/{uuid.uuid4()}.pdf"
    plane.config.client("s3", SOURCE).put_object(Bucket=buckets[SOURCE], Key=key, Body=b"%PDF-1.7 passport")

    def copied():
        listing = plane.config.client("s3", TARGET).list_objects_v2(Bucket=buckets[TARGET], Prefix=key)
        return listing.get("KeyCount", 0)

    wait_until(copied)
    obj = plane.config.client("s3", TARGET).get_object(Bucket=buckets[TARGET], Key=key)
    assert obj["Body"].read() == b"%PDF-1.7 passport"
    assert obj["Metadata"]["replicated-from"] == SOURCE
