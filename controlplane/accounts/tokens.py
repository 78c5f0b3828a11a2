"""Personal API tokens: creation, revocation, and the lookup the API's authentication uses.

A token reads ``cpt_<prefix>_<secret>``: the prefix (12 hex digits) is public and names the
token; the secret (43 URL-safe characters, 256 bits) is shown once and stored only as the
SHA-256 of the whole token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from controlplane.accounts.models import ApiToken, User

TOKEN_PREFIX = "cpt_"


class TokenInvalid(Exception):
    """A token that does not authenticate; the message is safe to show (it never quotes the token)."""


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # the whole token string, shown once


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def api_token_create(
    *,
    user: User,
    actor: User | None,
    name: str,
    expires_in_days: int | None = None,
    signed_in_at=None,
    created_via: str = "profile",
) -> IssuedToken:
    """Issue a token for ``user``. ``signed_in_at`` is the IdP sign-in time of the session the
    person created it from (None from the command line: such a token never decides a gate)."""
    name = (name or "").strip()
    if not name:
        raise ValueError("A token needs a name that says what it is for.")
    if len(name) > 100:
        raise ValueError("The token name is too long (100 characters at most).")
    days = settings.API_TOKEN_DEFAULT_DAYS if expires_in_days is None else int(expires_in_days)
    if not 1 <= days <= settings.API_TOKEN_MAX_DAYS:
        raise ValueError(f"A token expires in 1 to {settings.API_TOKEN_MAX_DAYS} days.")
    prefix = secrets.token_hex(6)
    raw = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    now = timezone.now()
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name,
            prefix=prefix,
            secret_hash=_hash(raw),
            created_at=now,
            expires_at=now + timedelta(days=days),
            signed_in_at=signed_in_at,
            created_via=created_via,
        )
        audit_record(
            actor=actor,
            event_type="api_token.create",
            target=token,
            target_repr=f"API token {prefix} of {user.username}",
            after={
                "user": user.username,
                "prefix": prefix,
                "name": name,
                "expires_at": token.expires_at.isoformat(),
                "created_via": created_via,
                "signed_in_at": signed_in_at.isoformat() if signed_in_at else None,
            },
        )
    return IssuedToken(token=token, secret=raw)


def api_token_revoke(*, token: ApiToken, actor: User | None) -> ApiToken:
    """Revoke a token at once. Only its owner may (or the command line: ``actor`` None)."""
    if actor is not None and actor.pk != token.user_id:
        raise PermissionError("Only the owner of a token may revoke it.")
    with transaction.atomic():
        now = timezone.now()
        claimed = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now, revoked_by=actor)
        token.refresh_from_db()
        if not claimed:
            raise ValueError(f"Token {token.prefix} is already revoked.")
        audit_record(
            actor=actor,
            event_type="api_token.revoke",
            target=token,
            target_repr=f"API token {token.prefix} of {token.user.username}",
            before={"status": "active"},
            after={"status": "revoked", "prefix": token.prefix, "name": token.name},
        )
    return token


def api_token_authenticate(*, raw: str, ip: str | None = None) -> ApiToken:
    """The live token for ``raw`` with its user, or TokenInvalid. Marks it used (at most once a
    minute, so a busy pipeline does not write a row per request)."""
    if not raw.startswith(TOKEN_PREFIX) or raw.count("_") < 2 or len(raw) > 128:
        raise TokenInvalid("The API token is malformed.")
    prefix = raw[len(TOKEN_PREFIX) :].split("_", 1)[0]
    token = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
    # Compare the hash even when the prefix is unknown, so timing says nothing about prefixes.
    expected = token.secret_hash if token else "0" * 64
    if not hmac.compare_digest(expected, _hash(raw)) or token is None:
        raise TokenInvalid("The API token is not valid.")
    now = timezone.now()
    if token.revoked_at is not None:
        raise TokenInvalid(f"API token {token.prefix} has been revoked.")
    if token.expires_at <= now:
        raise TokenInvalid(f"API token {token.prefix} expired at {token.expires_at:%Y-%m-%d %H:%M} UTC.")
    if not token.user.is_active:
        raise TokenInvalid("The user of this API token is deactivated.")
    quiet = now - timedelta(seconds=60)
    from django.db.models import Q

    ApiToken.objects.filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=quiet), pk=token.pk).update(
        last_used_at=now, last_used_ip=ip
    )
    return token


def api_token_may_decide(*, token: ApiToken) -> bool:
    """Whether a gate decision through ``token`` meets the page's fresh sign-in rule: the IdP
    sign-in of the session that created the token lies within APPROVAL_FRESH_AUTH_SECONDS of
    now (so the token was also created within that window, from a fresh session)."""
    until = token.may_decide_until(settings.APPROVAL_FRESH_AUTH_SECONDS)
    return until is not None and timezone.now() <= until


def api_token_list(*, user: User):
    return ApiToken.objects.filter(user=user).order_by("-created_at")
