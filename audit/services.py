"""Writing the audit trail. Called by every mutating service inside its own transaction."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from audit.models import GENESIS_HASH, AuditChainHead, AuditEvent, Outcome
from audit.origin import current_origin


def _jsonable(value: dict | None) -> dict:
    # Round-trip through JSON so the stored value (and its hash) is what the database returns.
    return json.loads(json.dumps(value or {}, default=str, sort_keys=True))


def audit_record(
    *,
    actor,
    event_type: str,
    target: models.Model | None = None,
    target_type: str = "",
    target_id: str = "",
    target_repr: str = "",
    environment: str = "",
    region: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    outcome: str = Outcome.SUCCESS,
) -> AuditEvent:
    """Append one AuditEvent to the chain. ``actor`` is a user, or None for a system job."""
    origin = current_origin()
    if target is not None:
        target_type = target_type or target._meta.label_lower
        target_id = target_id or str(target.pk)
        target_repr = target_repr or str(target)[:255]
    if actor is not None:
        actor_name = f"{actor.get_full_name() or actor.username} ({actor.username})"
        issuer, subject = getattr(actor, "idp_issuer", ""), getattr(actor, "idp_subject", "")
    else:
        actor_name, issuer, subject = f"system:{origin.system or 'job'}", "", ""
    with transaction.atomic():
        head, _ = AuditChainHead.objects.select_for_update().get_or_create(pk=1, defaults={"last_hash": GENESIS_HASH})
        event = AuditEvent(
            occurred_at=timezone.now(),
            actor=actor,
            actor_name=actor_name[:255],
            actor_issuer=issuer,
            actor_subject=subject,
            event_type=event_type,
            target_type=target_type,
            target_id=target_id,
            target_repr=target_repr[:255],
            environment=environment,
            region=region,
            before=_jsonable(before),
            after=_jsonable(after),
            outcome=outcome,
            ip=origin.ip,
            user_agent=origin.user_agent,
            request_id=origin.request_id,
            prev_hash=head.last_hash,
        )
        event.hash = event.compute_hash()
        event.save()
        head.last_hash, head.last_event_id = event.hash, event.pk
        head.save(update_fields=["last_hash", "last_event_id"])
    return event


def audit_export(*, actor, filters: dict[str, Any]) -> Iterator[bytes]:
    """Record who exported which part of the trail (one AuditEvent, committed before the first
    byte leaves), then stream it as CSV. The page and the REST API call this."""
    from audit.exports import audit_csv_chunks
    from audit.selectors import audit_event_filter

    with transaction.atomic():
        audit_record(
            actor=actor,
            event_type="audit.exported",
            target_type="audit.auditevent",
            target_repr="audit trail CSV",
            after={k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in filters.items()},
        )
    return audit_csv_chunks(audit_event_filter(**filters))
