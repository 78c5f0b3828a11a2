"""The database went away in the middle of a request: a clear 503, never a half-written change.

Every service writes in one transaction, so a connection that drops before COMMIT (the server
restarted, a failover, the backend terminated) loses the whole change; PostgreSQL rolls it
back. What is left is to tell the person, instead of a bare 500: the HTML page says the
change was not saved and to try again; the API answers the same in its error body. The broken
connection is dropped so the next request opens a fresh one.
"""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError, connections
from django.http import HttpResponse, JsonResponse
from django.template import loader

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
MESSAGE = "The database could not be reached while serving this request. Nothing was saved; try again in a moment."


class DatabaseUnavailableMiddleware:
    """Turns ``OperationalError`` / ``InterfaceError`` raised by a view into a 503."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        log.error(
            "database unavailable during %s %s (request %s): %s",
            request.method,
            request.path,
            getattr(request, "request_id", "-"),
            type(exception).__name__,
        )
        for conn in connections.all(initialized_only=True):
            try:
                conn.close_if_unusable_or_obsolete()
            except Exception:  # noqa: BLE001 - closing a dead connection may fail again; it is gone either way
                pass
        if request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", ""):
            response = JsonResponse(
                {"error": {"code": "database_unavailable", "message": MESSAGE, "fields": {}}}, status=503
            )
        else:
            # Rendered without the request: context processors would query the database again.
            body = loader.render_to_string("503.html", {"message": MESSAGE, "retry_after": RETRY_AFTER_SECONDS})
            response = HttpResponse(body, status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
