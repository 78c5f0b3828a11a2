"""Role checks shared by pages and API."""

from __future__ import annotations

from functools import wraps

from django.core.exceptions import PermissionDenied


def role_required(*roles: str):
    """View decorator: signed in (else to SSO) and holding one of ``roles`` (else 403)."""
    from django.contrib.auth.decorators import login_required

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not any(request.user.has_role(r) for r in roles):
                raise PermissionDenied("Your IdP groups do not grant a role that may see this page.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
