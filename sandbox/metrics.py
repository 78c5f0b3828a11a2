"""Metrics AWS publishes by itself, published in the sandbox instead.

DynamoDB publishes ReplicationLatency for a global table in each sending region; moto does
not replicate and publishes nothing. Until the sandbox replicator (issue 5) measures the lag
of the copies it makes, the demo publishes a plausible lag (80-250 ms) so gate evidence has
datapoints, as it would on AWS.
"""

from __future__ import annotations

import random
import threading

import boto3

from controlplane.aws.clients import SANDBOX_CREDENTIALS


def replication_latency_publish(*, endpoint: str, table: str, regions: tuple[str, str], milliseconds: float) -> None:
    for sending, receiving in (regions, regions[::-1]):
        boto3.client(
            "cloudwatch",
            region_name=sending,
            endpoint_url=endpoint,
            aws_access_key_id=SANDBOX_CREDENTIALS.access_key_id,
            aws_secret_access_key=SANDBOX_CREDENTIALS.secret_access_key,
        ).put_metric_data(
            Namespace="AWS/DynamoDB",
            MetricData=[
                {
                    "MetricName": "ReplicationLatency",
                    "Dimensions": [
                        {"Name": "TableName", "Value": table},
                        {"Name": "ReceivingRegion", "Value": receiving},
                    ],
                    "Value": milliseconds,
                    "Unit": "Milliseconds",
                }
            ],
        )


class ReplicationLatencyPublisher(threading.Thread):
    """Publishes a lag every ``interval`` seconds until stopped."""

    def __init__(self, *, endpoint: str, table: str, regions: tuple[str, str], interval: float = 20.0):
        super().__init__(name="sandbox-replication-latency", daemon=True)
        self.endpoint, self.table, self.regions, self.interval = endpoint, table, regions, interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                replication_latency_publish(
                    endpoint=self.endpoint, table=self.table, regions=self.regions, milliseconds=random.uniform(80, 250)
                )
            except Exception:  # noqa: BLE001 - the sandbox may be stopping; try again next time
                pass
            self.stopped.wait(self.interval)

    def stop(self) -> None:
        self.stopped.set()
