from __future__ import annotations

import re
import uuid

from audit.origin import Origin, origin_set

_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestOriginMiddleware:
    """Gives each request an id (the caller's X-Request-ID when well-formed) and records where
    it came from, for the AuditEvents written while serving it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID_OK.match(incoming) else str(uuid.uuid4())
        request.request_id = request_id
        origin = Origin(
            ip=request.META.get("REMOTE_ADDR") or None,
            user_agent=request.headers.get("User-Agent", "")[:512],
            request_id=request_id,
        )
        with origin_set(origin):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response
