"""AWS::S3::BucketPolicy, which moto's CloudFormation skips: PutBucketPolicy on the bucket.

moto enforces a bucket policy's ``Principal: "*"`` statements on every request but cannot
evaluate conditions: it treats a statement whose Condition it cannot check as matching, so the
usual "Deny unless aws:SecureTransport" statement denied every request. Here statements with a
Condition are left out of enforcement (GetBucketPolicy still returns them).
"""

from __future__ import annotations

import json
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.iam.access_control import IAMPolicy, PermissionResult
from moto.s3.exceptions import MissingBucket
from moto.s3.models import FakeBucket, S3Backend, s3_backends
from moto.utilities.utils import get_partition

from .cfn_resource import SandboxResource, to_json_text


def _backend(account_id: str, region: str) -> S3Backend:
    return s3_backends[account_id][get_partition(region)]


class BucketPolicy(SandboxResource, CloudFormationModel):
    def __init__(self, name: str, bucket: str):
        self.name = name
        self.bucket = bucket

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::S3::BucketPolicy"

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> BucketPolicy:
        props = cloudformation_json["Properties"]
        policy = to_json_text(props["PolicyDocument"]).encode()
        _backend(account_id, region_name).put_bucket_policy(props["Bucket"], policy)
        return cls(resource_name, props["Bucket"])

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: BucketPolicy,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> BucketPolicy:
        if cloudformation_json["Properties"]["Bucket"] != original_resource.bucket:
            original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(original_resource.name, cloudformation_json, account_id, region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        try:
            _backend(account_id, region_name).delete_bucket_policy(self.bucket)
        except MissingBucket:
            pass  # the bucket went first

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        bucket = (cloudformation_json.get("Properties") or {}).get("Bucket", "")
        cls(resource_name, bucket).delete(account_id, region_name)


def bucket_get_permission(self: FakeBucket, action: str, resource: str) -> Any:
    if self.policy is None:
        return PermissionResult.NEUTRAL
    policy = json.loads(self.policy)
    statements = policy.get("Statement") or []
    statements = [statements] if isinstance(statements, dict) else statements
    enforceable = [s for s in statements if "Condition" not in s]
    if not enforceable:
        return PermissionResult.NEUTRAL
    return IAMPolicy(json.dumps({**policy, "Statement": enforceable})).is_action_permitted(action, resource)


def install() -> None:
    FakeBucket.get_permission = bucket_get_permission  # type: ignore[method-assign]
