from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class ReconciliationRun(models.Model):
    """One reconciliation of one closed window between the two regions of an environment.

    Unique per (environment, window_start, region pair): re-running a window updates this
    row (attempt + 1) and never duplicates findings; a run whose worker died stays RUNNING
    with an expired lease and is resumed by the next cycle.
    """

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        RECHECK = "recheck", "Mismatch may be replication in flight: re-checked next cycle"
        CLEAN = "clean", "Clean"
        FINDINGS = "findings", "Findings recorded"
        FAILED = "failed", "Failed"

    environment = models.ForeignKey(
        "migrations_app.Environment", on_delete=models.PROTECT, related_name="reconciliation_runs"
    )
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    region_a = models.CharField(max_length=32)  # the source region (us-east-1)
    region_b = models.CharField(max_length=32)  # the target region (eu-central-1)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    attempt = models.PositiveIntegerField(default=1)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    # {"us-east-1": {"count": n, "amount": cents, "checksum": "hex"}, "eu-central-1": {...}}
    counts = models.JSONField(default=dict, blank=True)
    buckets_compared = models.PositiveIntegerField(default=0)
    buckets_mismatched = models.PositiveIntegerField(default=0)
    keys_read = models.PositiveIntegerField(default=0)
    read_units = models.FloatField(default=0)
    # suspected differences awaiting the next cycle's re-check, and progress for resumption
    detail = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-window_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["environment", "window_start", "region_a", "region_b"], name="one_run_per_window_pair"
            )
        ]

    def __str__(self) -> str:
        return (
            f"{self.environment_id} {self.window_start:%Y-%m-%d %H:%M} {self.region_a}<->{self.region_b}: {self.status}"
        )


class WindowCount(models.Model):
    """Per window and region, what that region's replica held: the auditor's counts come from here.

    processed = items whose originRegion is this region (written by this region's Lambdas);
    stored = items in this region's replica; replicated_in = stored items written elsewhere.
    """

    environment = models.ForeignKey(
        "migrations_app.Environment", on_delete=models.PROTECT, related_name="window_counts"
    )
    run = models.ForeignKey(ReconciliationRun, on_delete=models.PROTECT, related_name="window_counts")
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    region = models.CharField(max_length=32)
    processed = models.PositiveBigIntegerField(default=0)
    stored = models.PositiveBigIntegerField(default=0)
    replicated_in = models.PositiveBigIntegerField(default=0)
    amount_sum = models.BigIntegerField(default=0)  # minor units (cents)
    findings = models.PositiveIntegerField(default=0)
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["window_start", "region"]
        constraints = [
            models.UniqueConstraint(
                fields=["environment", "window_start", "region"], name="one_count_per_window_region"
            )
        ]

    def __str__(self) -> str:
        return f"{self.window_start:%Y-%m-%d %H:%M} {self.region}: {self.stored} stored"


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
    run = models.ForeignKey(ReconciliationRun, null=True, blank=True, on_delete=models.PROTECT, related_name="findings")
    # What makes a finding the same finding on a re-run: kind + sorted transaction ids (or
    # kind + window + bucket for a count mismatch). Unique per environment.
    # NULL (not "") for findings made by hand, which the unique constraint must not compare.
    fingerprint = models.CharField(max_length=128, null=True, blank=True)  # noqa: DJ001
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
    acknowledgement_note = models.TextField(blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-detected_at"]
        constraints = [
            models.UniqueConstraint(fields=["environment", "fingerprint"], name="finding_once_per_fingerprint")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.summary}"
