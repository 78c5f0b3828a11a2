"""An environment's data-plane resources made directly in the sandbox AWS, without the stacks.

For the tests and the benchmark: the two regions' transactions tables (keys, indexes and
stream as data.yaml defines them), aggregates tables (as storage.yaml), cutover buses and
document buckets, named as the stacks name them. Deploying the nine stacks takes seconds per
environment; this takes a fraction of one.
"""

from __future__ import annotations

import json

from cfnlint.decode import decode

from .config import DataPlaneConfig
from .lambdas import LAMBDA_DIR

TEMPLATES = LAMBDA_DIR.parent


def _properties(template: str, resource: str) -> dict:
    body, problems = decode(str(TEMPLATES / template))
    if body is None:
        raise RuntimeError(f"{template} does not parse: {problems}")
    return json.loads(json.dumps(body))["Resources"][resource]["Properties"]


def dataplane_resources_create(
    *, endpoint: str, environment: str, regions: tuple[str, str] = ("us-east-1", "eu-central-1"), shards: int = 16
) -> DataPlaneConfig:
    transactions = _properties("data.yaml", "TransactionsTable")
    aggregates = _properties("storage.yaml", "AggregatesTable")
    config = DataPlaneConfig(
        environment=environment,
        endpoint=endpoint,
        source_region=regions[0],
        target_region=regions[1],
        event_buses={r: f"{environment}-cutover" for r in regions},
        document_buckets={r: f"{environment}-documents-{r}" for r in regions},
        window_seconds=900,
        shards=shards,
    )
    for region in regions:
        ddb = config.client("dynamodb", region)
        ddb.create_table(
            TableName=config.transactions_table,
            AttributeDefinitions=transactions["AttributeDefinitions"],
            KeySchema=transactions["KeySchema"],
            GlobalSecondaryIndexes=transactions["GlobalSecondaryIndexes"],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, **transactions["StreamSpecification"]},
        )
        ddb.create_table(
            TableName=config.aggregates_table,
            AttributeDefinitions=aggregates["AttributeDefinitions"],
            KeySchema=aggregates["KeySchema"],
            BillingMode="PAY_PER_REQUEST",
        )
        config.client("events", region).create_event_bus(Name=config.event_buses[region])
        s3 = config.client("s3", region)
        if region == "us-east-1":
            s3.create_bucket(Bucket=config.document_buckets[region])
        else:
            s3.create_bucket(
                Bucket=config.document_buckets[region], CreateBucketConfiguration={"LocationConstraint": region}
            )
    return config
