from __future__ import annotations

from allauth.socialaccount.adapter import DefaultSocialAccountAdapter


class SsoAccountAdapter(DefaultSocialAccountAdapter):
    """Accounts are made by the IdP: sign-up through SSO is always open, and the username is
    the IdP's preferred_username when it is free."""

    def is_open_for_signup(self, request, sociallogin) -> bool:
        return True

    def populate_user(self, request, sociallogin, data):
        user = super().populate_user(request, sociallogin, data)
        return user

    def on_authentication_error(self, request, provider, error=None, exception=None, extra_context=None):
        from controlplane.accounts.services import user_sso_sign_in_failed

        provider_id = getattr(provider, "id", None) or str(provider)
        user_sso_sign_in_failed(
            provider=str(provider_id),
            error=str(error or "unknown"),
            detail=type(exception).__name__ if exception else "",
        )
        return super().on_authentication_error(
            request, provider, error=error, exception=exception, extra_context=extra_context
        )
