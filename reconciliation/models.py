from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Finding(models.Model):
    """A discrepancy between the regions found by reconciliation, and what people did about it.

    Open findings block the cutover's close-window gate. Detection fills these (issue 5);
    the lifecycle (open -> acknowledged -> resolved) is here so the gate can rely on it.
    """

    class Kind(models.TextChoices):
        MISSING_IN_REGION = "missing_in_region", "Missing in a region"
        CONFLICTING_VERSIONS = "conflicting_versions", "Conflicting versions"
        DUPLICATE_DEBIT = "duplicate_debit", "Duplicate debit"
        COUNT_MISMATCH = "count_mismatch", "Count mismatch"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved"

    UNRESOLVED = (Status.OPEN, Status.ACKNOWLEDGED)

    environment = models.ForeignKey("migrations_app.Environment", on_delete=models.PROTECT, related_name="findings")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    window_start = models.DateTimeField(null=True, blank=True)
    transaction_ids = models.JSONField(default=list, blank=True)
    regions = models.JSONField(default=list, blank=True)
    summary = models.CharField(max_length=512)
    detail = models.JSONField(default=dict, blank=True)
    detected_at = models.DateTimeField(default=timezone.now)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-detected_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.summary}"
