"""Writes of reconciliation that people make: acknowledging and resolving findings.

Each runs in one transaction, claims its transition with a conditional update (two clicks or
two pipelines cannot both win) and writes one AuditEvent.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from controlplane.accounts.models import Role
from migrations_app.errors import CutoverError, NotAllowed
from reconciliation.models import Finding

# Engineers investigate findings, compliance approvers decide they are dealt with; auditors read.
FINDING_ROLES = (Role.ENGINEER, Role.APPROVER)
NOTE_MAX = 4000


def _check(actor, note: str, what: str) -> str:
    if actor is None or not any(actor.has_role(r) for r in FINDING_ROLES):
        raise NotAllowed(f"Only engineers and compliance approvers may {what} a finding.")
    note = (note or "").strip()
    if not note:
        raise CutoverError(f"To {what} a finding, write a note saying what was found or done.")
    if len(note) > NOTE_MAX:
        raise CutoverError(f"The note is too long ({NOTE_MAX} characters at most).")
    return note


def finding_acknowledge(*, finding: Finding, actor, note: str) -> Finding:
    """Someone has seen the finding and is on it. It still blocks the close-window gate."""
    note = _check(actor, note, "acknowledge")
    with transaction.atomic():
        now = timezone.now()
        claimed = Finding.objects.filter(pk=finding.pk, status=Finding.Status.OPEN).update(
            status=Finding.Status.ACKNOWLEDGED, acknowledged_by=actor, acknowledged_at=now, acknowledgement_note=note
        )
        finding = Finding.objects.select_related("environment").get(pk=finding.pk)
        if not claimed:
            raise CutoverError(
                f"This finding is {finding.get_status_display().lower()}; only an open one is acknowledged."
            )
        audit_record(
            actor=actor,
            event_type="finding.acknowledge",
            target=finding,
            environment=finding.environment.name,
            before={"status": Finding.Status.OPEN},
            after={"status": Finding.Status.ACKNOWLEDGED, "note": note},
        )
    return finding


def finding_resolve(*, finding: Finding, actor, note: str) -> Finding:
    """The discrepancy is dealt with (refunded, replayed, explained). An open finding may be
    resolved directly; a resolved one stays resolved."""
    note = _check(actor, note, "resolve")
    with transaction.atomic():
        now = timezone.now()
        before = Finding.objects.select_for_update().get(pk=finding.pk).status
        claimed = Finding.objects.filter(pk=finding.pk, status__in=Finding.UNRESOLVED).update(
            status=Finding.Status.RESOLVED, resolved_by=actor, resolved_at=now, resolution_note=note
        )
        finding = Finding.objects.select_related("environment").get(pk=finding.pk)
        if not claimed:
            raise CutoverError("This finding is resolved already.")
        audit_record(
            actor=actor,
            event_type="finding.resolve",
            target=finding,
            environment=finding.environment.name,
            before={"status": before},
            after={"status": Finding.Status.RESOLVED, "note": note},
        )
    return finding
