"""Request limits: a body larger than REQUEST_BODY_MAX_BYTES is refused with 413 before any view,
parser or the CSRF check reads it; the 400 and 413 answers of the project (page or API body).

A body sent without a Content-Length (chunked) is still bounded by DATA_UPLOAD_MAX_MEMORY_SIZE:
Django raises RequestDataTooBig when it is read, and ``bad_request`` turns that into the same 413.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string


def _limit_text() -> str:
    limit = settings.REQUEST_BODY_MAX_BYTES
    return f"{limit // 1024:,} KiB" if limit % 1024 == 0 else f"{limit:,} bytes"


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def too_large(request: HttpRequest) -> HttpResponse:
    message = f"The request body is larger than this server accepts ({_limit_text()} at most)."
    if _is_api(request):
        return JsonResponse({"error": {"code": "too_large", "message": message, "fields": {}}}, status=413)
    return HttpResponse(render_to_string("413.html", {"message": message}, request=request), status=413)


class RequestBodyLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        raw = request.META.get("CONTENT_LENGTH") or "0"
        try:
            length = int(raw)
        except ValueError:
            return bad_request(request, ValueError(f"Content-Length {raw[:20]!r} is not a number."))
        if length > settings.REQUEST_BODY_MAX_BYTES:
            return too_large(request)
        return self.get_response(request)


def bad_request(request: HttpRequest, exception=None) -> HttpResponse:
    """The project's handler400: a malformed request (Django's SuspiciousOperation and the like).

    It never repeats the exception's text on the page (it may echo what the client sent)."""
    if isinstance(exception, RequestDataTooBig):
        return too_large(request)
    message = "The request was malformed and was not processed. Check what was sent and try again."
    if _is_api(request):
        return JsonResponse({"error": {"code": "bad_request", "message": message, "fields": {}}}, status=400)
    return HttpResponse(render_to_string("400.html", {"message": message}, request=request), status=400)
