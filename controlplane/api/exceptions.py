"""One error body for every 4xx of the API (and for 502/503 when AWS fails in the request):

    {"error": {"code": "invalid", "message": "steps.1.target_weight: ...", "fields": {...}}}

``code`` is stable and machine-readable, ``message`` is a sentence for a person, ``fields``
maps each offending field (dotted path for nested ones) to its messages.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.views import exception_handler

from controlplane.aws import AwsError
from migrations_app.errors import CutoverError, NotAllowed
from migrations_app.services import ReauthenticationRequired


class Conflict(exceptions.APIException):
    """The request is well-formed but the cutover rules refuse it in the current state."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "The request conflicts with the current state."


class Gone(exceptions.APIException):
    """The object exists but what was asked of it no longer does (a report pack's file)."""

    status_code = status.HTTP_410_GONE
    default_code = "gone"
    default_detail = "This is no longer available."


class AwsUnavailable(exceptions.APIException):
    """A service called AWS in the request (stop, confirm, a new hosted zone) and AWS failed."""

    status_code = status.HTTP_502_BAD_GATEWAY
    default_code = "aws_error"


class FreshSignInRequired(exceptions.PermissionDenied):
    default_code = "fresh_sign_in_required"


class PreconditionRequired(exceptions.APIException):
    status_code = status.HTTP_428_PRECONDITION_REQUIRED
    default_code = "precondition_required"
    default_detail = "Send If-Match with the ETag of the gate you read, so a decision applies to what you saw."


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_code = "precondition_failed"
    default_detail = "The gate changed since you read it (state or evidence); read it again, then decide."


def _flatten(detail, path: str = "") -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            out.update(_flatten(value, f"{path}.{key}" if path else str(key)))
    elif isinstance(detail, list):
        if all(not isinstance(d, (dict, list)) for d in detail):
            out[path or "non_field_errors"] = [str(d) for d in detail]
        else:
            for i, value in enumerate(detail):
                if value:
                    out.update(_flatten(value, f"{path}.{i}" if path else str(i)))
    else:
        out[path or "non_field_errors"] = [str(detail)]
    return out


def _translate(exc):
    if isinstance(exc, AwsError):
        transient = "" if exc.permanent else " It may be temporary: retry in a moment."
        error = AwsUnavailable(f"AWS did not complete the request ({exc.code or 'error'}): {exc.message}.{transient}")
        if not exc.permanent:
            error.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return error
    if isinstance(exc, ReauthenticationRequired):
        return FreshSignInRequired(str(exc))
    if isinstance(exc, NotAllowed):
        return exceptions.PermissionDenied(str(exc))
    if isinstance(exc, CutoverError):
        return Conflict(str(exc))
    if isinstance(exc, Http404):
        return exceptions.NotFound("No such object.")
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied(str(exc) or None)
    return exc


def api_exception_handler(exc, context):
    exc = _translate(exc)
    response = exception_handler(exc, context)
    if response is None:
        return None  # a server error: Django's 500 handling (logged, no details to the client)
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        parts = [
            f"{name}: {' '.join(msgs)}" if name != "non_field_errors" else " ".join(msgs)
            for name, msgs in fields.items()
        ]
        body = {"code": "invalid", "message": "Invalid request. " + " ".join(parts), "fields": fields}
    else:
        codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        code = codes if isinstance(codes, str) else getattr(exc, "default_code", "error")
        body = {"code": code, "message": str(getattr(exc, "detail", exc)), "fields": {}}
    response.data = {"error": body}
    return response


def not_found(request, exception=None):
    """The project's 404 handler: the API's error body under /api/, the page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"error": {"code": "not_found", "message": f"No API endpoint at {request.path}.", "fields": {}}},
            status=404,
        )
    return defaults.page_not_found(request, exception)
