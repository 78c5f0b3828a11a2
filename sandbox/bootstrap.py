"""What a real AWS account already has before the control plane deploys into it, made in the
sandbox: the public hosted zone of the domain (on AWS it exists, delegated by the registrar)."""

from __future__ import annotations

import boto3

from controlplane.aws.clients import SANDBOX_CREDENTIALS


def account_bootstrap(*, endpoint: str, hosted_zone_name: str) -> str:
    """Create the hosted zone if missing; returns its id."""
    r53 = boto3.client(
        "route53",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id=SANDBOX_CREDENTIALS.access_key_id,
        aws_secret_access_key=SANDBOX_CREDENTIALS.secret_access_key,
    )
    name = hosted_zone_name.rstrip(".") + "."
    for zone in r53.list_hosted_zones_by_name(DNSName=name).get("HostedZones", []):
        if zone["Name"] == name:
            return zone["Id"].split("/")[-1]
    return r53.create_hosted_zone(Name=name, CallerReference=f"sandbox-{name}")["HostedZone"]["Id"].split("/")[-1]
