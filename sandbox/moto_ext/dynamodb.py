"""DynamoDB for CloudFormation: AWS::DynamoDB::GlobalTable, and AWS::DynamoDB::Table settings
moto ignores.

moto skips AWS::DynamoDB::GlobalTable. Here it creates one table of the same name in every
region of ``Replicas`` (moto keeps regions apart, so these are independent tables: nothing
replicates items between them), each with the key schema, attribute definitions, indexes,
billing mode and stream of the template, and the replica's point-in-time recovery, deletion
protection and tags. DescribeTable then shows ``GlobalTableVersion`` and the other regions
under ``Replicas``, as for a version 2019.11.21 global table.

moto's AWS::DynamoDB::Table ignores PointInTimeRecoverySpecification and
TimeToLiveSpecification and cannot be updated at all; both are filled in here.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.utils import random_suffix
from moto.core.common_models import CloudFormationModel
from moto.dynamodb.exceptions import ResourceNotFoundException
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.dynamodb.models.table import Table

from .cfn_resource import SandboxResource, cfn_tags, to_bool

GLOBAL_TABLE_VERSION = "2019.11.21"


def _backend(account_id: str, region: str) -> DynamoDBBackend:
    return dynamodb_backends[account_id][region]


def _table_or_none(account_id: str, region: str, name: str) -> Table | None:
    try:
        return _backend(account_id, region).get_table(name)
    except ResourceNotFoundException:
        return None


def table_id(table: Table) -> str:
    if getattr(table, "sandbox_table_id", None) is None:
        table.sandbox_table_id = str(uuid.uuid4())
    return table.sandbox_table_id


def _stream(spec: dict[str, Any] | None) -> dict[str, Any] | None:
    if spec and spec.get("StreamViewType") and to_bool(spec.get("StreamEnabled"), True):
        return {"StreamEnabled": True, "StreamViewType": spec["StreamViewType"]}
    return None


def _billing_mode(props: dict[str, Any]) -> str:
    return "PAY_PER_REQUEST" if props.get("BillingMode") == "PAY_PER_REQUEST" else "PROVISIONED"


def _global_table_throughput(settings: dict[str, Any] | None, replica: dict[str, Any] | None) -> dict[str, int] | None:
    """A GlobalTable's provisioned capacity: write units from WriteProvisionedThroughputSettings
    (the autoscaling minimum), read units from the replica's settings."""
    if settings is None:
        return None
    write = settings.get("WriteCapacityAutoScalingSettings", {}).get("MinCapacity", 1)
    read_settings = (replica or {}).get("ReadProvisionedThroughputSettings") or {}
    read = read_settings.get("ReadCapacityUnits") or read_settings.get("ReadCapacityAutoScalingSettings", {}).get(
        "MinCapacity", 1
    )
    return {"ReadCapacityUnits": int(read), "WriteCapacityUnits": int(write)}


def _global_indexes(props: dict[str, Any], replica: dict[str, Any] | None, global_table: bool) -> list[dict[str, Any]]:
    indexes = []
    for index in props.get("GlobalSecondaryIndexes") or []:
        spec = {"IndexName": index["IndexName"], "KeySchema": index["KeySchema"], "Projection": index["Projection"]}
        if global_table:
            throughput = _global_table_throughput(index.get("WriteProvisionedThroughputSettings"), None)
        else:
            throughput = index.get("ProvisionedThroughput")
        if throughput and _billing_mode(props) == "PROVISIONED":
            spec["ProvisionedThroughput"] = {k: int(v) for k, v in throughput.items()}
        indexes.append(spec)
    return indexes


def _sse(props: dict[str, Any], replica: dict[str, Any] | None) -> dict[str, Any] | None:
    sse = props.get("SSESpecification") or {}
    if not to_bool(sse.get("SSEEnabled")):
        return None
    spec: dict[str, Any] = {"Enabled": True, "SSEType": sse.get("SSEType", "KMS")}
    key = ((replica or {}).get("SSESpecification") or {}).get("KMSMasterKeyId") or sse.get("KMSMasterKeyId")
    if key:
        spec["KMSMasterKeyId"] = key
    return spec


def apply_table_settings(
    table: Table,
    backend: DynamoDBBackend,
    *,
    pitr: dict[str, Any] | None,
    ttl: dict[str, Any] | None,
    deletion_protection: Any,
    tags: list[dict[str, Any]] | None,
) -> None:
    """The settings CreateTable does not take, as CloudFormation applies them after creating."""
    enabled = to_bool((pitr or {}).get("PointInTimeRecoveryEnabled"))
    currently = table.continuous_backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    if enabled != currently or (enabled and pitr and "RecoveryPeriodInDays" in pitr):
        spec: dict[str, Any] = {"PointInTimeRecoveryEnabled": enabled}
        if enabled and pitr and pitr.get("RecoveryPeriodInDays"):
            spec["RecoveryPeriodInDays"] = int(pitr["RecoveryPeriodInDays"])
        backend.update_continuous_backups(table.name, spec)
    if ttl and ttl.get("AttributeName"):
        backend.update_time_to_live(
            table.name, {"Enabled": to_bool(ttl.get("Enabled")), "AttributeName": ttl["AttributeName"]}
        )
    elif table.ttl.get("TimeToLiveStatus") == "ENABLED":
        table.ttl = {"TimeToLiveStatus": "DISABLED"}
    table.deletion_protection_enabled = to_bool(deletion_protection)
    if tags is not None:
        table.tags = cfn_tags(tags)


def update_table_in_place(
    table: Table,
    backend: DynamoDBBackend,
    *,
    attribute_definitions: list[dict[str, str]],
    billing_mode: str,
    throughput: dict[str, int] | None,
    global_indexes: list[dict[str, Any]],
    stream: dict[str, Any] | None,
    sse: dict[str, Any] | None,
) -> None:
    wanted = {i["IndexName"]: i for i in global_indexes}
    current = {i.name: i for i in table.global_indexes}
    for name, spec in wanted.items():
        if name in current and (
            current[name].schema != spec["KeySchema"] or current[name].projection != spec["Projection"]
        ):
            raise ValidationError(
                message="Cannot update GSI's properties other than Provisioned Throughput and Contributor Insights "
                f"Specification. You can create a new GSI with a different name: {name}"
            )
    table.attr = attribute_definitions
    table.billing_mode = billing_mode
    if throughput:
        table.throughput = {**{k: int(v) for k, v in throughput.items()}, "NumberOfDecreasesToday": 0}
    updates: list[dict[str, Any]] = [{"Delete": {"IndexName": name}} for name in current if name not in wanted]
    updates += [{"Create": spec} for name, spec in wanted.items() if name not in current]
    if updates:
        backend.update_table_global_indexes(table, updates)
    old_stream = table.stream_specification if table.stream_specification.get("StreamEnabled") else None
    if (old_stream or {}).get("StreamViewType") != (stream or {}).get("StreamViewType"):
        table.latest_stream_label = None
        table.stream_shard = None
        table.set_stream_specification(copy.deepcopy(stream))
    if sse != table.sse_specification and (sse or table.sse_specification):
        table.sse_specification = sse
        if sse and "KMSMasterKeyId" not in sse:
            sse["KMSMasterKeyId"] = table._get_default_encryption_key(table.account_id, table.region_name)


# --- AWS::DynamoDB::GlobalTable ------------------------------------------------------------


class GlobalTable(SandboxResource, CloudFormationModel):
    """A global table: a table of one name in each replica region, reached through the stack's."""

    ATTRIBUTES = ("Arn", "StreamArn", "TableId")

    def __init__(self, name: str, account_id: str, region_name: str, regions: list[str]):
        self.name = name
        self.account_id = account_id
        self.region_name = region_name
        self.regions = regions

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::DynamoDB::GlobalTable"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "TableName"

    @property
    def physical_resource_id(self) -> str:
        return self.name

    def home_table(self) -> Table:
        return _backend(self.account_id, self.region_name).get_table(self.name)

    def attributes(self) -> dict[str, Any]:
        table = self.home_table()
        description = table.describe()["TableDescription"]
        return {
            "Arn": table.table_arn,
            "StreamArn": description.get("LatestStreamArn"),
            "TableId": table_id(table),
        }

    @staticmethod
    def _check(props: dict[str, Any], region_name: str) -> list[dict[str, Any]]:
        replicas = props.get("Replicas") or []
        regions = [r.get("Region") for r in replicas]
        if region_name not in regions:
            raise ValidationError(
                message=f"Replicas must include the region of the stack ({region_name}); got {regions}"
            )
        if len(set(regions)) != len(regions):
            raise ValidationError(message=f"Replicas name a region more than once: {regions}")
        if len(regions) > 1 and not _stream(props.get("StreamSpecification")):
            raise ValidationError(
                message="StreamSpecification with a StreamViewType is required for a global table with more "
                "than one replica"
            )
        return replicas

    @staticmethod
    def _create_replica(name: str, props: dict[str, Any], replica: dict[str, Any], account_id: str) -> Table:
        region = replica["Region"]
        backend = _backend(account_id, region)
        billing_mode = _billing_mode(props)
        table = backend.create_table(
            name=name,
            schema=props["KeySchema"],
            attr=props["AttributeDefinitions"],
            throughput=(
                _global_table_throughput(props.get("WriteProvisionedThroughputSettings"), replica)
                if billing_mode == "PROVISIONED"
                else None
            ),
            billing_mode=billing_mode,
            global_indexes=_global_indexes(props, replica, global_table=True),
            indexes=props.get("LocalSecondaryIndexes") or [],
            streams=_stream(props.get("StreamSpecification")),
            sse_specification=_sse(props, replica),
            tags=cfn_tags(replica.get("Tags")),
            deletion_protection_enabled=False,
            warm_throughput=None,
        )
        apply_table_settings(
            table,
            backend,
            pitr=replica.get("PointInTimeRecoverySpecification"),
            ttl=props.get("TimeToLiveSpecification"),
            deletion_protection=replica.get("DeletionProtectionEnabled"),
            tags=replica.get("Tags"),
        )
        return table

    @staticmethod
    def _mark_replicas(name: str, account_id: str, regions: list[str]) -> None:
        for region in regions:
            table = _table_or_none(account_id, region, name)
            if table is not None:
                table.sandbox_replica_regions = list(regions)

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> GlobalTable:
        props = cloudformation_json["Properties"]
        replicas = cls._check(props, region_name)
        created: list[str] = []
        try:
            for replica in replicas:
                cls._create_replica(resource_name, props, replica, account_id)
                created.append(replica["Region"])
        except Exception:
            for region in created:
                _backend(account_id, region).tables.pop(resource_name, None)
            raise
        cls._mark_replicas(resource_name, account_id, created)
        return cls(resource_name, account_id, region_name, created)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: GlobalTable,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> GlobalTable:
        props = cloudformation_json["Properties"]
        replicas = cls._check(props, region_name)
        home = original_resource.home_table()
        name = props.get("TableName") or original_resource.name
        key_schema_changed = home.schema != props["KeySchema"]
        if name != original_resource.name or key_schema_changed:
            if name == original_resource.name:
                if "TableName" in props:
                    raise ValidationError(
                        message="CloudFormation cannot update a stack when a custom-named resource requires "
                        f"replacing. Rename {name} and update the stack again."
                    )
                name = f"{original_resource.name.rsplit('-', 1)[0]}-{random_suffix()}"
            replacement = cls.create_from_cloudformation_json(name, cloudformation_json, account_id, region_name)
            if cloudformation_json.get("UpdateReplacePolicy") != "Retain":
                original_resource.delete(account_id, region_name)
            return replacement

        wanted = {r["Region"]: r for r in replicas}
        for region in [r for r in original_resource.regions if r not in wanted]:
            _backend(account_id, region).delete_table(name)
        for region, replica in wanted.items():
            table = _table_or_none(account_id, region, name)
            if table is None:
                table = cls._create_replica(name, props, replica, account_id)
                table.items = copy.deepcopy(home.items)  # a new replica starts with the table's items
                continue
            backend = _backend(account_id, region)
            billing_mode = _billing_mode(props)
            update_table_in_place(
                table,
                backend,
                attribute_definitions=props["AttributeDefinitions"],
                billing_mode=billing_mode,
                throughput=(
                    _global_table_throughput(props.get("WriteProvisionedThroughputSettings"), replica)
                    if billing_mode == "PROVISIONED"
                    else None
                ),
                global_indexes=_global_indexes(props, replica, global_table=True),
                stream=_stream(props.get("StreamSpecification")),
                sse=_sse(props, replica),
            )
            apply_table_settings(
                table,
                backend,
                pitr=replica.get("PointInTimeRecoverySpecification"),
                ttl=props.get("TimeToLiveSpecification"),
                deletion_protection=replica.get("DeletionProtectionEnabled"),
                tags=replica.get("Tags") or [],
            )
        regions = list(wanted)
        cls._mark_replicas(name, account_id, regions)
        original_resource.regions = regions
        return original_resource

    def delete(self, account_id: str, region_name: str) -> None:
        for region in self.regions:
            if _table_or_none(account_id, region, self.name) is not None:
                _backend(account_id, region).delete_table(self.name)

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        regions = [r["Region"] for r in cloudformation_json.get("Properties", {}).get("Replicas") or []]
        cls(resource_name, account_id, region_name, regions or [region_name]).delete(account_id, region_name)


# --- AWS::DynamoDB::Table: what moto leaves out ----------------------------------------------

_original_table_create = Table.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]
_original_table_describe = Table.describe


def _table_sse(props: dict[str, Any]) -> dict[str, Any] | None:
    """AWS::DynamoDB::Table's SSESpecification (SSEEnabled...) as moto's table keeps it (Enabled...)."""
    sse = props.get("SSESpecification") or {}
    if not to_bool(sse.get("SSEEnabled")):
        return None
    spec: dict[str, Any] = {"Enabled": True, "SSEType": sse.get("SSEType", "KMS")}
    if sse.get("KMSMasterKeyId"):
        spec["KMSMasterKeyId"] = sse["KMSMasterKeyId"]
    return spec


def table_create_from_cloudformation_json(
    cls: type[Table],
    resource_name: str,
    cloudformation_json: dict[str, Any],
    account_id: str,
    region_name: str,
    **kwargs: Any,
) -> Table:
    props = cloudformation_json["Properties"]
    table = _original_table_create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
    table.sse_specification = None
    sse = _table_sse(props)
    if sse:
        table.sse_specification = sse
        if "KMSMasterKeyId" not in sse:
            sse["KMSMasterKeyId"] = table._get_default_encryption_key(account_id, region_name)
    apply_table_settings(
        table,
        _backend(account_id, region_name),
        pitr=props.get("PointInTimeRecoverySpecification"),
        ttl=props.get("TimeToLiveSpecification"),
        deletion_protection=props.get("DeletionProtectionEnabled"),
        tags=props.get("Tags"),
    )
    return table


def table_update_from_cloudformation_json(
    cls: type[Table],
    original_resource: Table,
    new_resource_name: str,
    cloudformation_json: dict[str, Any],
    account_id: str,
    region_name: str,
) -> Table:
    props = cloudformation_json["Properties"]
    name = props.get("TableName") or original_resource.name
    if name != original_resource.name or original_resource.schema != props.get("KeySchema"):
        if name == original_resource.name:
            if "TableName" in props:
                raise ValidationError(
                    message="CloudFormation cannot update a stack when a custom-named resource requires replacing. "
                    f"Rename {name} and update the stack again."
                )
            name = f"{original_resource.name.rsplit('-', 1)[0]}-{random_suffix()}"
        replacement = Table.create_from_cloudformation_json(name, cloudformation_json, account_id, region_name)
        if cloudformation_json.get("UpdateReplacePolicy") != "Retain":
            original_resource.delete(account_id, region_name)
        return replacement
    backend = _backend(account_id, region_name)
    billing_mode = _billing_mode(props)
    update_table_in_place(
        original_resource,
        backend,
        attribute_definitions=props.get("AttributeDefinitions", original_resource.attr),
        billing_mode=billing_mode,
        throughput=props.get("ProvisionedThroughput") if billing_mode == "PROVISIONED" else None,
        global_indexes=_global_indexes(props, None, global_table=False),
        stream=_stream(props.get("StreamSpecification")),
        sse=_table_sse(props) or None,
    )
    apply_table_settings(
        original_resource,
        backend,
        pitr=props.get("PointInTimeRecoverySpecification"),
        ttl=props.get("TimeToLiveSpecification"),
        deletion_protection=props.get("DeletionProtectionEnabled"),
        tags=props.get("Tags") or [],
    )
    return original_resource


def table_describe(self: Table, base_key: str = "TableDescription") -> dict[str, Any]:
    """moto's, with TableId, and for a global table its version and the other replicas."""
    result = _original_table_describe(self, base_key)
    body = result[base_key]
    body["TableId"] = table_id(self)
    regions = getattr(self, "sandbox_replica_regions", None)
    if regions:
        body["GlobalTableVersion"] = GLOBAL_TABLE_VERSION
        body["Replicas"] = [{"RegionName": r, "ReplicaStatus": "ACTIVE"} for r in regions if r != self.region_name]
    return result


def install() -> None:
    Table.create_from_cloudformation_json = classmethod(table_create_from_cloudformation_json)  # type: ignore[method-assign,assignment]
    Table.update_from_cloudformation_json = classmethod(table_update_from_cloudformation_json)  # type: ignore[method-assign,assignment]
    Table.describe = table_describe  # type: ignore[method-assign]
