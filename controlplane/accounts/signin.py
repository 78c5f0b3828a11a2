"""Hooks into allauth's sign-in: take the IdP claims and sync roles (services do the writes)."""

from __future__ import annotations

from allauth.account.signals import user_logged_in, user_logged_out
from django.dispatch import receiver

from controlplane.accounts.services import user_signed_out, user_sso_signed_in


def claims_of(sociallogin) -> dict:
    data = sociallogin.account.extra_data or {}
    claims = dict(data.get("id_token") or {})
    # userinfo may carry claims the id_token does not; the id_token wins for iss/sub/auth_time.
    for key, value in (data.get("userinfo") or {}).items():
        claims.setdefault(key, value)
    return claims


@receiver(user_logged_in)
def _on_login(sender, request, user, **kwargs):
    sociallogin = kwargs.get("sociallogin")
    if sociallogin is None:
        return
    user_sso_signed_in(user=user, claims=claims_of(sociallogin))


@receiver(user_logged_out)
def _on_logout(sender, request, user, **kwargs):
    if user is not None and user.is_authenticated:
        user_signed_out(user=user)
