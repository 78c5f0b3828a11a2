"""Personal API tokens (``Authorization: Bearer cpt_...``) beside the browser session.

Failed token authentications are counted per client IP and refused with 429 past
API_TOKEN_FAILURE_RATE, before the token is even looked at. Nothing here logs the header.
"""

from __future__ import annotations

import time

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.throttling import SimpleRateThrottle

from audit.origin import origin_credential_note
from controlplane.accounts.tokens import TokenInvalid, api_token_authenticate


class TokenFailureThrottle(SimpleRateThrottle):
    """Counts failed token authentications per client IP (REMOTE_ADDR behind API_NUM_PROXIES)."""

    scope = "api_token_failure"

    def get_cache_key(self, request, view=None) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def wait_if_blocked(self, request) -> float | None:
        self.key = self.get_cache_key(request)
        self.now = time.time()
        self.history = [t for t in self.cache.get(self.key, []) if t > self.now - self.duration]
        if len(self.history) >= self.num_requests:
            return self.duration - (self.now - self.history[-1])
        return None

    def record_failure(self) -> None:
        self.history.insert(0, self.now)
        self.cache.set(self.key, self.history, self.duration)


class ApiTokenAuthentication(BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None  # not ours: the session may authenticate the request
        throttle = TokenFailureThrottle()
        wait = throttle.wait_if_blocked(request)
        if wait is not None:
            raise exceptions.Throttled(
                wait=wait, detail="Too many failed API token authentications from this address; wait and retry."
            )
        if len(header) != 2:
            throttle.record_failure()
            raise exceptions.AuthenticationFailed("Send the token as 'Authorization: Bearer <token>'.")
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError:
            throttle.record_failure()
            raise exceptions.AuthenticationFailed("The API token is malformed.") from None
        try:
            token = api_token_authenticate(raw=raw, ip=request.META.get("REMOTE_ADDR") or None)
        except TokenInvalid as exc:
            throttle.record_failure()
            raise exceptions.AuthenticationFailed(str(exc)) from None
        origin_credential_note(f"API token cpt_{token.prefix}")
        return token.user, token

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'
