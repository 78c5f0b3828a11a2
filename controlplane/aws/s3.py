"""Amazon S3: Lambda artifacts, and the document buckets' replication backfill."""

from __future__ import annotations

from collections.abc import Iterator

from controlplane.aws.clients import AwsTarget, client
from controlplane.aws.errors import AwsError, translated

SERVICE = "s3"


def object_exists(*, target: AwsTarget, bucket: str, key: str) -> bool:
    try:
        with translated(SERVICE, "HeadObject"):
            client(SERVICE, target).head_object(Bucket=bucket, Key=key)
    except AwsError as exc:
        if exc.code in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


def object_put(*, target: AwsTarget, bucket: str, key: str, body: bytes, content_type: str = "") -> None:
    extra = {"ContentType": content_type} if content_type else {}
    with translated(SERVICE, "PutObject"):
        client(SERVICE, target).put_object(Bucket=bucket, Key=key, Body=body, **extra)


def object_keys(*, target: AwsTarget, bucket: str, prefix: str = "") -> Iterator[str]:
    paginator = client(SERVICE, target).get_paginator("list_objects_v2")
    with translated(SERVICE, "ListObjectsV2"):
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                yield obj["Key"]


def object_copy(*, target: AwsTarget, source_bucket: str, key: str, destination_bucket: str) -> None:
    """Server-side copy into the destination bucket (``target`` is the destination's region)."""
    with translated(SERVICE, "CopyObject"):
        client(SERVICE, target).copy_object(
            Bucket=destination_bucket,
            Key=key,
            CopySource={"Bucket": source_bucket, "Key": key},
            MetadataDirective="COPY",
        )
