from __future__ import annotations

from datetime import UTC, timedelta

from django import forms
from django.utils import timezone

from audit.models import Outcome
from migrations_app.models import Environment

_DT = forms.DateTimeInput(attrs={"type": "datetime-local", "step": "1"}, format="%Y-%m-%dT%H:%M:%S")
_INPUT_FORMATS = ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"]


class UtcDateTimeField(forms.DateTimeField):
    """Times on these pages are UTC, whatever the browser's zone (they say so)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("widget", _DT)
        kwargs.setdefault("input_formats", _INPUT_FORMATS)
        super().__init__(**kwargs)

    def to_python(self, value):
        result = super().to_python(value)
        if result is not None:
            result = result.replace(tzinfo=UTC) if timezone.is_naive(result) else result.astimezone(UTC)
        return result


class AuditFilterForm(forms.Form):
    start = UtcDateTimeField(required=False, label="From (UTC)")
    end = UtcDateTimeField(required=False, label="Until (UTC)")
    actor = forms.CharField(required=False, max_length=255, help_text="Name, username, IdP subject or system:job")
    event_type = forms.CharField(
        required=False, max_length=64, label="Event type", widget=forms.TextInput(attrs={"list": "event-types"})
    )
    target = forms.CharField(required=False, max_length=255, label="Object")
    region = forms.CharField(required=False, max_length=32, widget=forms.TextInput(attrs={"list": "regions"}))
    outcome = forms.ChoiceField(required=False, choices=[("", "any"), *Outcome.choices])

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] <= data["start"]:
            raise forms.ValidationError("'Until' must be after 'From'.")
        return data


class ReportPackForm(forms.Form):
    environment = forms.ModelChoiceField(queryset=Environment.objects.order_by("name"), empty_label=None)
    period_start = UtcDateTimeField(label="Period start (UTC)")
    period_end = UtcDateTimeField(label="Period end (UTC)")
    region = forms.CharField(required=False, max_length=32, help_text="Blank for both regions.")
    subjects = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Data subjects",
        help_text="User ids, one per line: their transactions held in the chosen region.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            # Up to the next whole minute, so what just happened is inside the default period.
            now = timezone.now().replace(second=0, microsecond=0) + timedelta(minutes=1)
            self.initial.setdefault("period_end", now)
            self.initial.setdefault("period_start", now - timedelta(days=1))
