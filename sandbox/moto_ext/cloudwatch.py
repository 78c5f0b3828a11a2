"""AWS::CloudWatch::Alarm, which moto's CloudFormation skips: PutMetricAlarm in the stack's region.

The alarm is stored like one made through the API (DescribeAlarms, SetAlarmState); moto never
evaluates it.
"""

from __future__ import annotations

from typing import Any

from moto.cloudwatch.models import (
    CloudWatchBackend,
    Dimension,
    Metric,
    MetricDataQuery,
    MetricStat,
    cloudwatch_backends,
)
from moto.core.common_models import CloudFormationModel

from .cfn_resource import SandboxResource, cfn_tags, to_bool


def _backend(account_id: str, region: str) -> CloudWatchBackend:
    return cloudwatch_backends[account_id][region]


def _number(value: Any, kind: type = int) -> Any:
    return None if value is None else kind(value)


def _metric_queries(metrics: list[dict[str, Any]] | None) -> list[MetricDataQuery] | None:
    if not metrics:
        return None
    queries = []
    for query in metrics:
        stat = query.get("MetricStat")
        metric_stat = None
        if stat:
            metric = stat.get("Metric") or {}
            metric_stat = MetricStat(
                metric=Metric(
                    metric_name=metric.get("MetricName"),
                    namespace=metric.get("Namespace"),
                    dimensions=[Dimension(d["Name"], str(d["Value"])) for d in metric.get("Dimensions") or []],
                ),
                period=_number(stat.get("Period")),
                stat=stat.get("Stat"),
                unit=stat.get("Unit"),
            )
        queries.append(
            MetricDataQuery(
                query_id=query["Id"],
                label=query.get("Label"),
                period=_number(query.get("Period")),
                return_data=to_bool(query.get("ReturnData"), True),
                expression=query.get("Expression"),
                metric_stat=metric_stat,
            )
        )
    return queries


class Alarm(SandboxResource, CloudFormationModel):
    ATTRIBUTES = ("Arn",)

    def __init__(self, name: str, arn: str, region_name: str):
        self.name = name
        self.arn = arn
        self.region_name = region_name

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudWatch::Alarm"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "AlarmName"

    @property
    def physical_resource_id(self) -> str:
        return self.name

    def attributes(self) -> dict[str, Any]:
        return {"Arn": self.arn}

    @classmethod
    def put(cls, name: str, props: dict[str, Any], account_id: str, region_name: str) -> Alarm:
        alarm = _backend(account_id, region_name).put_metric_alarm(
            name=name,
            namespace=props.get("Namespace"),
            metric_name=props.get("MetricName"),
            metric_data_queries=_metric_queries(props.get("Metrics")),
            comparison_operator=props["ComparisonOperator"],
            evaluation_periods=_number(props["EvaluationPeriods"]),
            datapoints_to_alarm=_number(props.get("DatapointsToAlarm")),
            period=_number(props.get("Period")),
            threshold=_number(props.get("Threshold"), float),
            statistic=props.get("Statistic"),
            extended_statistic=props.get("ExtendedStatistic"),
            description=props.get("AlarmDescription"),
            dimensions=[{"Name": d["Name"], "Value": str(d["Value"])} for d in props.get("Dimensions") or []],
            alarm_actions=list(props.get("AlarmActions") or []),
            ok_actions=list(props.get("OKActions") or []),
            insufficient_data_actions=list(props.get("InsufficientDataActions") or []),
            unit=props.get("Unit"),
            actions_enabled=to_bool(props.get("ActionsEnabled"), True),
            treat_missing_data=props.get("TreatMissingData"),
            evaluate_low_sample_count_percentile=props.get("EvaluateLowSampleCountPercentile"),
            threshold_metric_id=props.get("ThresholdMetricId"),
            tags=cfn_tags(props.get("Tags")) or None,
        )
        return cls(name, alarm.alarm_arn, region_name)

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Alarm:
        return cls.put(resource_name, cloudformation_json["Properties"], account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: Alarm,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Alarm:
        alarm = cls.put(new_resource_name, cloudformation_json["Properties"], account_id, region_name)
        if new_resource_name != original_resource.name:
            original_resource.delete(account_id, region_name)
        return alarm

    def delete(self, account_id: str, region_name: str) -> None:
        _backend(account_id, self.region_name).delete_alarms([self.name])

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        _backend(account_id, region_name).delete_alarms([resource_name])
