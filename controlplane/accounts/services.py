"""Writes about people: role sync from the IdP at sign-in."""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction

from audit.models import Outcome
from audit.services import audit_record
from controlplane.accounts.models import User


def roles_from_groups(groups: list[str] | None) -> set[str]:
    granted = set(groups or [])
    return {role for role, idp_groups in settings.SSO_ROLE_GROUPS.items() if granted.intersection(idp_groups)}


def user_sso_signed_in(*, user: User, claims: dict) -> None:
    """Record an SSO sign-in: IdP identity, authentication time, and roles from the groups claim.

    Roles the IdP no longer grants are removed. Writes one AuditEvent.
    """
    groups = claims.get("groups")
    if isinstance(groups, str):
        groups = [groups]
    new_roles = roles_from_groups(groups if isinstance(groups, list) else [])
    auth_time = claims.get("auth_time")
    authenticated_at = (
        datetime.fromtimestamp(int(auth_time), tz=UTC) if isinstance(auth_time, (int, float)) else datetime.now(UTC)
    )
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        old_roles = sorted(user.roles)
        user.idp_issuer = str(claims.get("iss", ""))[:255]
        user.idp_subject = str(claims.get("sub", ""))[:255]
        user.idp_authenticated_at = authenticated_at
        if claims.get("email"):
            user.email = claims["email"]
        if claims.get("name") and not user.first_name:
            first, _, last = str(claims["name"]).partition(" ")
            user.first_name, user.last_name = first[:150], last[:150]
        user.save(
            update_fields=["idp_issuer", "idp_subject", "idp_authenticated_at", "email", "first_name", "last_name"]
        )
        groups = [Group.objects.get_or_create(name=role)[0] for role in sorted(new_roles)]
        user.groups.set(groups)
        user._roles_cache = None
        audit_record(
            actor=user,
            event_type="auth.sign_in",
            target=user,
            before={"roles": old_roles},
            after={"roles": sorted(new_roles), "idp_groups": groups_claim_for_audit(claims)},
        )


def groups_claim_for_audit(claims: dict) -> list[str]:
    groups = claims.get("groups") or []
    return [str(g) for g in groups] if isinstance(groups, list) else [str(groups)]


def user_signed_out(*, user: User) -> None:
    """Record a sign-out (PCI DSS 10.2.1: sessions end in the trail as they begin). One AuditEvent."""
    with transaction.atomic():
        audit_record(actor=user, event_type="auth.sign_out", target=user)


def user_sso_sign_in_failed(*, provider: str, error: str, detail: str = "") -> None:
    """Record a sign-in the IdP round trip did not complete (denied, bad state, IdP error).

    There is no user yet, so the entry names no actor; origin (IP, agent, request id) says
    where the attempt came from. One AuditEvent.
    """
    with transaction.atomic():
        audit_record(
            actor=None,
            event_type="auth.sign_in",
            target_type="sso.provider",
            target_id=provider[:64],
            target_repr=f"SSO provider {provider}"[:255],
            outcome=Outcome.FAILURE,
            after={"error": str(error)[:200], "detail": detail[:500]},
        )
