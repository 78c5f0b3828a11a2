"""Amazon Route 53: the weighted records that split traffic between the two regions."""

from __future__ import annotations

from dataclasses import dataclass

from controlplane.aws.clients import AwsTarget, client
from controlplane.aws.errors import AwsError, translated

SERVICE = "route53"
MAX_WEIGHT = 255  # Route 53 accepts 0..255


@dataclass(frozen=True)
class WeightedRecord:
    name: str
    type: str
    set_identifier: str
    weight: int
    ttl: int
    values: tuple[str, ...]


def _fqdn(name: str) -> str:
    return name if name.endswith(".") else name + "."


def hosted_zone_find(*, target: AwsTarget, name: str) -> str | None:
    """The id of the hosted zone ``name``, or None."""
    with translated(SERVICE, "ListHostedZonesByName"):
        zones = client(SERVICE, target).list_hosted_zones_by_name(DNSName=_fqdn(name)).get("HostedZones", [])
    for zone in zones:
        if zone["Name"] == _fqdn(name):
            return zone["Id"].split("/")[-1]
    return None


def hosted_zone_ensure(*, target: AwsTarget, name: str) -> str:
    """The id of the public hosted zone ``name``, created if missing."""
    r53 = client(SERVICE, target)
    with translated(SERVICE, "ListHostedZonesByName"):
        zones = r53.list_hosted_zones_by_name(DNSName=_fqdn(name)).get("HostedZones", [])
    for zone in zones:
        if zone["Name"] == _fqdn(name):
            return zone["Id"].split("/")[-1]
    with translated(SERVICE, "CreateHostedZone"):
        zone = r53.create_hosted_zone(Name=_fqdn(name), CallerReference=f"cutover-{name}")["HostedZone"]
    return zone["Id"].split("/")[-1]


def weighted_records_upsert(
    *,
    target: AwsTarget,
    hosted_zone_id: str,
    name: str,
    record_type: str,
    ttl: int,
    records: dict[str, tuple[int, str]],
) -> None:
    """UPSERT one weighted record per set identifier: ``{set_id: (weight, value)}``."""
    for set_id, (weight, _value) in records.items():
        if not 0 <= weight <= MAX_WEIGHT:
            # Route 53 refuses this; the sandbox would accept it, so check here.
            raise AwsError(
                f"weight {weight} for {set_id} is outside 0..{MAX_WEIGHT}", code="InvalidInput", permanent=True
            )
    changes = [
        {
            "Action": "UPSERT",
            "ResourceRecordSet": {
                "Name": _fqdn(name),
                "Type": record_type,
                "SetIdentifier": set_id,
                "Weight": weight,
                "TTL": ttl,
                "ResourceRecords": [{"Value": value}],
            },
        }
        for set_id, (weight, value) in records.items()
    ]
    with translated(SERVICE, "ChangeResourceRecordSets"):
        client(SERVICE, target).change_resource_record_sets(
            HostedZoneId=hosted_zone_id, ChangeBatch={"Comment": "cutover control plane", "Changes": changes}
        )


def weighted_records_list(*, target: AwsTarget, hosted_zone_id: str, name: str) -> list[WeightedRecord]:
    r53 = client(SERVICE, target)
    out: list[WeightedRecord] = []
    with translated(SERVICE, "ListResourceRecordSets"):
        for page in r53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=hosted_zone_id):
            for rrset in page["ResourceRecordSets"]:
                if _fqdn(rrset["Name"]).lower() != _fqdn(name).lower() or "SetIdentifier" not in rrset:
                    continue
                out.append(
                    WeightedRecord(
                        name=rrset["Name"],
                        type=rrset["Type"],
                        set_identifier=rrset["SetIdentifier"],
                        weight=int(rrset.get("Weight", 0)),
                        ttl=int(rrset.get("TTL", 0)),
                        values=tuple(r["Value"] for r in rrset.get("ResourceRecords", [])),
                    )
                )
    return out
