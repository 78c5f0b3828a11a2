"""Roles on the API, as on the pages: each view names the roles that may read it and the roles
that may write through it. Outsiders (no role) get 403 everywhere, without data."""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from controlplane.accounts.models import Role

ANY_ROLE = (Role.ENGINEER, Role.APPROVER, Role.AUDITOR)


class HasRole(BasePermission):
    """``view.read_roles`` for GET/HEAD/OPTIONS, ``view.write_roles`` for anything else."""

    message = "Your IdP groups do not grant a role that may do this."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        if request.method.lower() not in view.http_method_names or not hasattr(view, request.method.lower()):
            return any(user.has_role(r) for r in ANY_ROLE)  # a method the view lacks: 405 for people with a role
        if request.method in SAFE_METHODS:
            roles = getattr(view, "read_roles", ANY_ROLE)
        else:
            roles = getattr(view, "write_roles", ())
        return any(user.has_role(r) for r in roles)
