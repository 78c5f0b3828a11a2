"""Lambda metrics AWS publishes by itself, published in the sandbox instead (for the demo).

On AWS every invocation of a region's transaction function counts in ``AWS/Lambda
Invocations``; the dashboard's "transactions per minute" reads that. moto publishes no Lambda
metrics, and the demo sends no real traffic, so this thread publishes what a steady load
split by the Route 53 weights would produce: ``per_minute`` transactions a minute, shared
between the regions as the weighted records say (all-zero weights split evenly), with a
little noise. It stops with the demo. Tests publish their own datapoints instead.
"""

from __future__ import annotations

import random
import threading

import boto3

from controlplane.aws.clients import SANDBOX_CREDENTIALS


def _client(service: str, endpoint: str, region: str):
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id=SANDBOX_CREDENTIALS.access_key_id,
        aws_secret_access_key=SANDBOX_CREDENTIALS.secret_access_key,
    )


def route53_weights(*, endpoint: str, region: str, hosted_zone_id: str, record_name: str) -> dict[str, int]:
    name = record_name if record_name.endswith(".") else record_name + "."
    weights: dict[str, int] = {}
    pages = _client("route53", endpoint, region).get_paginator("list_resource_record_sets")
    for page in pages.paginate(HostedZoneId=hosted_zone_id):
        for rrset in page["ResourceRecordSets"]:
            if rrset["Name"].lower() == name.lower() and "SetIdentifier" in rrset:
                weights[rrset["SetIdentifier"]] = int(rrset.get("Weight", 0))
    return weights


def invocations_publish(*, endpoint: str, functions: dict[str, str], weights: dict[str, int], count: float) -> None:
    """Publish ``count`` invocations split by ``weights`` across ``functions`` ({region: name})."""
    total = sum(weights.get(r, 0) for r in functions)
    for region, function in functions.items():
        share = weights.get(region, 0) / total if total else 1 / len(functions)
        value = round(count * share * random.uniform(0.9, 1.1))
        _client("cloudwatch", endpoint, region).put_metric_data(
            Namespace="AWS/Lambda",
            MetricData=[
                {
                    "MetricName": "Invocations",
                    "Dimensions": [{"Name": "FunctionName", "Value": function}],
                    "Value": value,
                    "Unit": "Count",
                }
            ],
        )


class InvocationsPublisher(threading.Thread):
    """Every ``interval`` seconds, publish ``per_minute × interval / 60`` invocations."""

    def __init__(
        self,
        *,
        endpoint: str,
        home_region: str,
        hosted_zone_id: str,
        record_name: str,
        functions: dict[str, str],
        per_minute: float = 3000.0,
        interval: float = 15.0,
    ):
        super().__init__(name="sandbox-lambda-invocations", daemon=True)
        self.endpoint, self.home_region = endpoint, home_region
        self.hosted_zone_id, self.record_name = hosted_zone_id, record_name
        self.functions, self.per_minute, self.interval = functions, per_minute, interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                weights = route53_weights(
                    endpoint=self.endpoint,
                    region=self.home_region,
                    hosted_zone_id=self.hosted_zone_id,
                    record_name=self.record_name,
                )
                invocations_publish(
                    endpoint=self.endpoint,
                    functions=self.functions,
                    weights=weights,
                    count=self.per_minute * self.interval / 60,
                )
            except Exception:  # noqa: BLE001 - the sandbox may be stopping; try again next time
                pass
            self.stopped.wait(self.interval)

    def stop(self) -> None:
        self.stopped.set()
