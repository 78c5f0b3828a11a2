from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path

from django.conf import settings
from django.db import models
from django.utils import timezone

GENESIS_HASH = "0" * 64


class Outcome(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure"


class AuditEvent(models.Model):
    """One entry of the append-only audit trail (PCI DSS v4.0 10.2.2 fields).

    Each row stores the SHA-256 of its canonical content and of the previous row's hash,
    so a changed or removed row breaks the chain from that row on.
    """

    occurred_at = models.DateTimeField(db_index=True)
    # who
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_name = models.CharField(max_length=255)  # frozen at the time of the event
    actor_issuer = models.CharField(max_length=255, blank=True)
    actor_subject = models.CharField(max_length=255, blank=True)
    # what
    event_type = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=255, blank=True)
    environment = models.CharField(max_length=64, blank=True, db_index=True)
    # The AWS region the action concerns, where one does (a stack, a replica read, a pack's
    # region); blank for actions spanning both regions (a weight shift) or none (a sign-in).
    region = models.CharField(max_length=32, blank=True, db_index=True)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.SUCCESS)
    # from where
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    request_id = models.CharField(max_length=128, blank=True)
    # chain
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["target_type", "target_id"])]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.actor_name} {self.event_type} {self.target_repr}"

    def content(self) -> dict:
        """What the hash covers: every field but the id and the hash itself."""
        return {
            "occurred_at": self.occurred_at.isoformat(),
            "actor_id": self.actor_id,
            "actor_name": self.actor_name,
            "actor_issuer": self.actor_issuer,
            "actor_subject": self.actor_subject,
            "event_type": self.event_type,
            "target_type": self.target_type,
            "target_id": self.target_id,
            "target_repr": self.target_repr,
            "environment": self.environment,
            "region": self.region,
            "before": self.before,
            "after": self.after,
            "outcome": self.outcome,
            "ip": self.ip,
            "user_agent": self.user_agent,
            "request_id": self.request_id,
            "prev_hash": self.prev_hash,
        }

    def canonical(self) -> bytes:
        return canonical_bytes(self.content())

    def compute_hash(self) -> str:
        return hashlib.sha256(self.canonical()).hexdigest()


def canonical_bytes(content: dict) -> bytes:
    """The bytes an entry's hash is taken over (also used to re-check exported entries).

    ``region`` was added after the first entries were written: it is part of the content only
    when set, so the hashes of earlier entries (all without a region) stay what they were.
    """
    content = dict(content)
    if not content.get("region"):
        content.pop("region", None)
    return json.dumps(content, sort_keys=True, separators=(",", ":"), default=str).encode()


def content_hash(content: dict) -> str:
    return hashlib.sha256(canonical_bytes(content)).hexdigest()


class AuditChainHead(models.Model):
    """A single row locked by every writer, so the chain has one order and no forks."""

    last_hash = models.CharField(max_length=64, default=GENESIS_HASH)
    last_event_id = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"audit chain head at event {self.last_event_id}: {self.last_hash[:12]}"


class ReportPack(models.Model):
    """An auditor's evidence pack for a period: built by a Celery task into one signed ZIP.

    The ZIP lives under ``REPORTS_DIR``; this row holds who asked for what, the build's
    progress, and the ZIP's SHA-256 (the manifest inside is what proves the contents).
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        BUILDING = "building", "Building"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    environment = models.ForeignKey("migrations_app.Environment", on_delete=models.PROTECT, related_name="report_packs")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    region = models.CharField(max_length=32, blank=True, help_text="Blank: both regions.")
    subjects = models.JSONField(default=list, blank=True, help_text="Data-subject (user) ids to export.")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    stage = models.CharField(max_length=128, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True, help_text="A worker owns the build until then.")
    error = models.TextField(blank=True)
    size_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    manifest = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-requested_at"]

    def __str__(self) -> str:
        region = self.region or "both regions"
        return f"report pack {self.period_start:%Y-%m-%d %H:%M}–{self.period_end:%Y-%m-%d %H:%M} {region}"

    @property
    def is_ready(self) -> bool:
        return self.status == self.Status.READY

    @property
    def is_pending(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.BUILDING)

    def zip_path(self):
        return Path(settings.REPORTS_DIR) / f"{self.uid}.zip"

    def download_name(self) -> str:
        region = self.region or "all"
        return (
            f"report-pack-{self.environment.name}-{region}-{self.period_start:%Y%m%dT%H%M}-"
            f"{self.period_end:%Y%m%dT%H%M}-{str(self.uid)[:8]}.zip"
        )
