"""Amazon CloudWatch: metric statistics (replication latency), alarms, and our own metrics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from controlplane.aws.clients import AwsTarget, client
from controlplane.aws.errors import translated

SERVICE = "cloudwatch"


@dataclass(frozen=True)
class Datapoint:
    timestamp: datetime
    average: float | None
    maximum: float | None
    sample_count: float | None
    unit: str = ""
    sum: float | None = None


@dataclass(frozen=True)
class Alarm:
    name: str
    state: str  # OK | ALARM | INSUFFICIENT_DATA
    reason: str
    updated_at: datetime | None
    metric: str  # empty for composite alarms
    namespace: str


def _dimensions(dimensions: dict[str, str]) -> list[dict[str, str]]:
    return [{"Name": k, "Value": str(v)} for k, v in sorted(dimensions.items())]


def metric_statistics(
    *,
    target: AwsTarget,
    namespace: str,
    metric: str,
    dimensions: dict[str, str],
    start: datetime,
    end: datetime,
    period: int,
    statistics: list[str],
) -> list[Datapoint]:
    """GetMetricStatistics: one Datapoint per period that has data, oldest first."""
    with translated(SERVICE, "GetMetricStatistics"):
        resp = client(SERVICE, target).get_metric_statistics(
            Namespace=namespace,
            MetricName=metric,
            Dimensions=_dimensions(dimensions),
            StartTime=start,
            EndTime=end,
            Period=period,
            Statistics=list(statistics),
        )
    points = [
        Datapoint(
            timestamp=p["Timestamp"],
            average=p.get("Average"),
            maximum=p.get("Maximum"),
            sample_count=p.get("SampleCount"),
            unit=p.get("Unit", "") or "",
            sum=p.get("Sum"),
        )
        for p in resp.get("Datapoints", [])
    ]
    points.sort(key=lambda p: p.timestamp)
    return points


def alarms_list(*, target: AwsTarget, prefix: str) -> list[Alarm]:
    """Every metric and composite alarm whose name starts with ``prefix``, by name."""
    out: list[Alarm] = []
    with translated(SERVICE, "DescribeAlarms"):
        pages = client(SERVICE, target).get_paginator("describe_alarms").paginate(AlarmNamePrefix=prefix)
        for page in pages:
            for a in page.get("MetricAlarms", []):
                out.append(
                    Alarm(
                        name=a["AlarmName"],
                        state=a.get("StateValue", ""),
                        reason=a.get("StateReason", "") or "",
                        updated_at=a.get("StateUpdatedTimestamp"),
                        metric=a.get("MetricName", "") or "",
                        namespace=a.get("Namespace", "") or "",
                    )
                )
            for a in page.get("CompositeAlarms", []):
                out.append(
                    Alarm(
                        name=a["AlarmName"],
                        state=a.get("StateValue", ""),
                        reason=a.get("StateReason", "") or "",
                        updated_at=a.get("StateUpdatedTimestamp"),
                        metric="",
                        namespace="",
                    )
                )
    out.sort(key=lambda a: a.name)
    return out


def metric_put(
    *,
    target: AwsTarget,
    namespace: str,
    metric: str,
    dimensions: dict[str, str],
    value: float,
    unit: str,
    timestamp: datetime | None = None,
) -> None:
    """PutMetricData of one value (``timestamp`` defaults to now, as CloudWatch sets it)."""
    datum: dict = {"MetricName": metric, "Dimensions": _dimensions(dimensions), "Value": value, "Unit": unit}
    if timestamp is not None:
        datum["Timestamp"] = timestamp
    with translated(SERVICE, "PutMetricData"):
        client(SERVICE, target).put_metric_data(Namespace=namespace, MetricData=[datum])
