"""Reads of the audit trail and of report packs, shared by the pages and the REST API."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q, QuerySet

from audit.models import AuditEvent, ReportPack


def audit_event_list(
    *, target_type: str = "", target_ids: list[str] | None = None, limit: int | None = 200
) -> QuerySet[AuditEvent]:
    qs = AuditEvent.objects.order_by("-id")
    if target_type:
        qs = qs.filter(target_type=target_type)
    if target_ids is not None:
        qs = qs.filter(target_id__in=target_ids)
    return qs[:limit] if limit else qs


def audit_event_filter(
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    actor: str = "",
    event_type: str = "",
    target: str = "",
    target_type: str = "",
    target_id: str = "",
    region: str = "",
    environment: str = "",
    outcome: str = "",
) -> QuerySet[AuditEvent]:
    """The trail filtered as an auditor asks, newest first (unsliced: paginate or stream it).

    ``start`` inclusive, ``end`` exclusive (UTC). ``actor`` matches the frozen display name
    (part of it), or exactly a username's user, an IdP subject, or ``system:<job>``.
    ``event_type`` matches exactly, or a prefix ending in a dot (``gate.``). ``target``
    matches part of the object's description; ``target_type``/``target_id`` exactly.
    ``region`` matches exactly; ``-`` asks for entries without a region.
    """
    qs = AuditEvent.objects.order_by("-id")
    if start:
        qs = qs.filter(occurred_at__gte=start)
    if end:
        qs = qs.filter(occurred_at__lt=end)
    actor = actor.strip()
    if actor:
        qs = qs.filter(Q(actor_name__icontains=actor) | Q(actor__username=actor) | Q(actor_subject=actor))
    event_type = event_type.strip()
    if event_type:
        qs = (
            qs.filter(event_type__startswith=event_type)
            if event_type.endswith(".")
            else qs.filter(event_type=event_type)
        )
    if target.strip():
        qs = qs.filter(target_repr__icontains=target.strip())
    if target_type:
        qs = qs.filter(target_type=target_type)
    if target_id:
        qs = qs.filter(target_id=target_id)
    if region == "-":
        qs = qs.filter(region="")
    elif region:
        qs = qs.filter(region=region)
    if environment:
        qs = qs.filter(environment=environment)
    if outcome:
        qs = qs.filter(outcome=outcome)
    return qs


def audit_event_types() -> list[str]:
    return list(AuditEvent.objects.order_by("event_type").values_list("event_type", flat=True).distinct())


def audit_regions() -> list[str]:
    return list(AuditEvent.objects.exclude(region="").order_by("region").values_list("region", flat=True).distinct())


def report_pack_list(*, limit: int | None = 100) -> QuerySet[ReportPack]:
    """Every pack, newest first (auditors and approvers all see every pack). ``limit=None``:
    unsliced, for the API to filter and paginate."""
    qs = ReportPack.objects.select_related("environment", "requested_by").order_by("-requested_at", "-id")
    return qs[:limit] if limit else qs


def report_pack_get(*, uid) -> ReportPack:
    """Raises ReportPack.DoesNotExist (the pages answer 404)."""
    return ReportPack.objects.select_related("environment", "requested_by").get(uid=uid)
