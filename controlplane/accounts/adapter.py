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
