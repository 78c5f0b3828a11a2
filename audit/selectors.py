from __future__ import annotations

from django.db.models import QuerySet

from audit.models import AuditEvent


def audit_event_list(
    *, target_type: str = "", target_ids: list[str] | None = None, limit: int = 200
) -> QuerySet[AuditEvent]:
    qs = AuditEvent.objects.order_by("-id")
    if target_type:
        qs = qs.filter(target_type=target_type)
    if target_ids is not None:
        qs = qs.filter(target_id__in=target_ids)
    return qs[:limit]
