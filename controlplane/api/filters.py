"""Filters of the list endpoints (django-filter), one FilterSet per resource."""

from __future__ import annotations

from datetime import UTC, timedelta

import django_filters as filters
from django import forms
from django_filters.fields import IsoDateTimeField

from audit.models import AuditEvent, ReportPack
from migrations_app.models import CutoverPlan, Deployment, Environment, Execution, Gate
from reconciliation.models import Finding, ReconciliationRun, WindowCount


class UtcDateTimeField(IsoDateTimeField):
    """ISO 8601 with an offset the world uses (PostgreSQL refuses beyond ±15:59), as UTC."""

    def to_python(self, value):
        parsed = super().to_python(value)
        offset = parsed.utcoffset() if parsed is not None else None
        if offset is None:
            return parsed
        if abs(offset) > timedelta(hours=14):
            raise forms.ValidationError("Enter a time zone offset between -14:00 and +14:00.", code="invalid")
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError("Enter a date between the years 1 and 9999.", code="invalid") from None


class UtcDateTimeFilter(filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField


class IdFilter(filters.NumberFilter):
    """A database id: a whole number that fits a bigint."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 2**63 - 1)
        super().__init__(*args, **kwargs)


class EnvironmentFilter(filters.FilterSet):
    kind = filters.ChoiceFilter(choices=Environment.Kind.choices)

    class Meta:
        model = Environment
        fields = ["kind"]


class PlanFilter(filters.FilterSet):
    environment = filters.CharFilter(field_name="environment__name", help_text="Environment name.")

    class Meta:
        model = CutoverPlan
        fields = ["environment", "version"]


class DeploymentFilter(filters.FilterSet):
    environment = filters.CharFilter(field_name="environment__name", help_text="Environment name.")
    status = filters.ChoiceFilter(choices=Deployment.Status.choices)

    class Meta:
        model = Deployment
        fields = ["environment", "status"]


class ExecutionFilter(filters.FilterSet):
    environment = filters.CharFilter(field_name="environment__name", help_text="Environment name.")
    status = filters.ChoiceFilter(choices=Execution.Status.choices)

    class Meta:
        model = Execution
        fields = ["environment", "status"]


class GateFilter(filters.FilterSet):
    environment = filters.CharFilter(field_name="execution__environment__name", help_text="Environment name.")
    status = filters.ChoiceFilter(choices=Gate.Status.choices)
    execution = IdFilter(field_name="execution_id")

    class Meta:
        model = Gate
        fields = ["environment", "status", "execution", "kind"]


class ReconciliationRunFilter(filters.FilterSet):
    environment = filters.CharFilter(field_name="environment__name", help_text="Environment name.")
    status = filters.ChoiceFilter(choices=ReconciliationRun.Status.choices)
    window_after = UtcDateTimeFilter(field_name="window_start", lookup_expr="gte")
    window_before = UtcDateTimeFilter(field_name="window_start", lookup_expr="lt")

    class Meta:
        model = ReconciliationRun
        fields = ["environment", "status", "region_a", "region_b", "window_after", "window_before"]


class WindowCountFilter(filters.FilterSet):
    environment = filters.CharFilter(field_name="environment__name", help_text="Environment name.")
    window_after = UtcDateTimeFilter(field_name="window_start", lookup_expr="gte")
    window_before = UtcDateTimeFilter(field_name="window_start", lookup_expr="lt")

    class Meta:
        model = WindowCount
        fields = ["environment", "region", "run", "window_after", "window_before"]


class FindingFilter(filters.FilterSet):
    environment = filters.CharFilter(field_name="environment__name", help_text="Environment name.")
    status = filters.ChoiceFilter(choices=Finding.Status.choices)
    kind = filters.ChoiceFilter(choices=Finding.Kind.choices)
    detected_after = UtcDateTimeFilter(field_name="detected_at", lookup_expr="gte")
    detected_before = UtcDateTimeFilter(field_name="detected_at", lookup_expr="lt")

    class Meta:
        model = Finding
        fields = ["environment", "status", "kind", "run", "detected_after", "detected_before"]


class AuditEventFilter(filters.FilterSet):
    occurred_after = UtcDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = UtcDateTimeFilter(field_name="occurred_at", lookup_expr="lt")
    actor = filters.CharFilter(field_name="actor__username", help_text="Username of the person who acted.")
    event_type = filters.CharFilter(help_text="Exact event type, e.g. gate.approve.")
    event_type_prefix = filters.CharFilter(
        field_name="event_type", lookup_expr="startswith", help_text="e.g. 'gate.' for every gate event."
    )
    target_type = filters.CharFilter(help_text="e.g. migrations_app.gate.")
    target_id = filters.CharFilter()
    environment = filters.CharFilter(help_text="Environment name.")
    outcome = filters.ChoiceFilter(choices=AuditEvent._meta.get_field("outcome").choices)

    class Meta:
        model = AuditEvent
        fields = [
            "occurred_after",
            "occurred_before",
            "actor",
            "event_type",
            "event_type_prefix",
            "target_type",
            "target_id",
            "environment",
            "outcome",
        ]


class ReportPackFilter(filters.FilterSet):
    environment = filters.CharFilter(field_name="environment__name", help_text="Environment name.")
    status = filters.ChoiceFilter(choices=ReportPack.Status.choices)

    class Meta:
        model = ReportPack
        fields = ["environment", "status"]
