"""Each injected fault leaves the divergence it claims; fault-free traffic leaves none."""

from __future__ import annotations

from sandbox.dataplane.lambdas import handler_module
from sandbox.dataplane.traffic import (
    TrafficGenerator,
    TrafficProfile,
    fault_conflicting_update,
    fault_dropped_replica_write,
    fault_duplicate_debit,
    fault_lost_write,
)

from .conftest import SOURCE, TARGET, item


def generator(plane, **profile) -> TrafficGenerator:
    return TrafficGenerator(plane.config, plane.runtime, plane.control, TrafficProfile(**profile), seed=3)


def by_key(plane, region: str, key: str) -> set[str]:
    response = plane.config.client("dynamodb", region).query(
        TableName=plane.config.transactions_table,
        IndexName="byIdempotencyKey",
        KeyConditionExpression="idempotencyKey = :k",
        ExpressionAttributeValues={":k": {"S": key}},
    )
    return {i["transactionId"]["S"] for i in response["Items"]}


def aggregates(plane, region: str) -> dict[tuple[str, str], tuple[int, int, int]]:
    ddb = plane.config.client("dynamodb", region)
    out = {}
    for page in ddb.get_paginator("scan").paginate(TableName=plane.config.aggregates_table):
        for i in page["Items"]:
            if not i["windowId"]["S"].startswith("batch#"):
                key = (i["windowId"]["S"], i["bucket"]["S"])
                out[key] = (int(i["count"]["N"]), int(i["amountSum"]["N"]), int(i["checksum"]["N"]) % 2**64)
    return out


def expected_aggregates(plane, region: str) -> dict[tuple[str, str], tuple[int, int, int]]:
    """What the aggregates must be, computed from the items the region holds."""
    h = handler_module("aggregates").item_hash
    ddb = plane.config.client("dynamodb", region)
    out: dict = {}
    for page in ddb.get_paginator("scan").paginate(TableName=plane.config.transactions_table):
        for i in page["Items"]:
            if i.get("kind", {}).get("S") != "transaction":
                continue
            key = (i["timeBucket"]["S"], str(int(i["timeBucketShard"]["S"].rsplit("#", 1)[1])))
            count, total, checksum = out.get(key, (0, 0, 0))
            out[key] = (
                count + 1,
                total + int(i["amount"]["N"]),
                (checksum + h(i["transactionId"]["S"], int(i["version"]["N"]))) % 2**64,
            )
    return out


def test_steady_traffic_leaves_both_regions_and_their_aggregates_equal(plane):
    gen = generator(plane, rate=8, callback_share=0.5, callback_delay=4, cross_region_callback_share=0.5)
    gen.profile.weights = {SOURCE: 50, TARGET: 50}

    for _ in range(12):
        gen.transaction()
    gen.run(0)  # the callbacks, each 4 s after its transaction
    assert plane.wait_settled()

    assert gen.counts["transactions"] >= 10 and gen.counts["cross_region_callbacks"] >= 1
    assert gen.counts["duplicates_201"] == 0 and gen.errors == 0
    source, target = aggregates(plane, SOURCE), aggregates(plane, TARGET)
    nonzero = {k: v for k, v in source.items() if v[0]}
    assert nonzero and nonzero == {k: v for k, v in target.items() if v[0]}
    # The consumers (the real aggregates Lambda on each stream) agree with the items themselves.
    assert {k: v for k, v in expected_aggregates(plane, SOURCE).items() if v[0]} == nonzero


def test_the_race_accepts_one_key_in_both_regions(plane):
    gen = generator(plane, rate=0)

    fault_duplicate_debit(gen, first_region="source", second_region="target", delay_ms=180)
    assert plane.wait_settled()

    (row,) = gen.injected
    assert row.expect == "duplicate_debit" and row.regions == [SOURCE, TARGET]
    assert len(set(row.transaction_ids)) == 2
    # After replication both regions hold both debits under the one key.
    assert by_key(plane, SOURCE, row.idempotency_key) == set(row.transaction_ids)
    assert by_key(plane, TARGET, row.idempotency_key) == set(row.transaction_ids)


def test_a_dropped_replica_write_is_missing_in_the_peer_for_good(plane):
    gen = generator(plane, rate=0)

    fault_dropped_replica_write(gen, region="source")
    assert plane.wait_settled()

    (transaction_id,) = gen.injected[0].transaction_ids
    assert item(plane.config, SOURCE, transaction_id) is not None
    assert item(plane.config, TARGET, transaction_id) is None
    assert (gen.injected[0].expect, gen.injected[0].missing_in) == ("missing_in_region", TARGET)


def test_a_lost_write_is_present_only_in_the_peer(plane):
    gen = generator(plane, rate=0)

    fault_lost_write(gen, region="source")
    assert plane.wait_settled()

    (transaction_id,) = gen.injected[0].transaction_ids
    assert item(plane.config, SOURCE, transaction_id) is None
    assert item(plane.config, TARGET, transaction_id) is not None
    assert (gen.injected[0].expect, gen.injected[0].missing_in) == ("missing_in_region", SOURCE)


def test_a_conflicting_update_leaves_one_version_with_two_amounts(plane):
    gen = generator(plane, rate=0)

    fault_conflicting_update(gen, region="source")
    assert plane.wait_settled()

    (transaction_id,) = gen.injected[0].transaction_ids
    source, target = item(plane.config, SOURCE, transaction_id), item(plane.config, TARGET, transaction_id)
    assert source["version"] == target["version"] == {"N": "2"}
    assert int(target["amount"]["N"]) - int(source["amount"]["N"]) == 100
    assert gen.injected[0].expect == "conflicting_version"
