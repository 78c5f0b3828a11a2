"""sandbox/moto_ext/streams.py: a stream reader keeps reading through cancelled transactions."""

from __future__ import annotations

import uuid

import boto3
import pytest
from botocore.exceptions import ClientError

REGION = "eu-central-1"


def test_a_cancelled_transaction_leaves_no_trace_and_the_reader_goes_on(sandbox_aws):
    kwargs = dict(region_name=REGION, endpoint_url=sandbox_aws, aws_access_key_id="t", aws_secret_access_key="t")
    ddb, streams = boto3.client("dynamodb", **kwargs), boto3.client("dynamodbstreams", **kwargs)
    table = f"s-{uuid.uuid4().hex[:8]}"
    stream_arn = ddb.create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    ddb.put_item(TableName=table, Item={"id": {"S": "marker"}, "n": {"N": "1"}})

    with pytest.raises(ClientError, match="TransactionCanceled"):
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"id": {"S": "new"}}}},
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"id": {"S": "marker"}},
                        "UpdateExpression": "SET n = :two",
                        "ExpressionAttributeValues": {":two": {"N": "2"}},
                    }
                },
                {"Put": {"TableName": table, "Item": {"id": {"S": "marker2"}}}},
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": {"id": {"S": "absent"}},
                        "ConditionExpression": "attribute_exists(id)",
                    }
                },
            ]
        )
    ddb.put_item(TableName=table, Item={"id": {"S": "after"}})

    assert "Item" not in ddb.get_item(TableName=table, Key={"id": {"S": "new"}})
    assert ddb.get_item(TableName=table, Key={"id": {"S": "marker"}})["Item"]["n"] == {"N": "1"}
    records = streams.get_records(ShardIterator=iterator)["Records"]
    assert [(r["eventName"], r["dynamodb"]["Keys"]["id"]["S"]) for r in records] == [
        ("INSERT", "marker"),
        ("INSERT", "after"),
    ]
    assert {r["awsRegion"] for r in records} == {REGION}
    assert [int(r["dynamodb"]["SequenceNumber"]) for r in records] == sorted(
        int(r["dynamodb"]["SequenceNumber"]) for r in records
    )
