from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models


class Role(models.TextChoices):
    ENGINEER = "engineer", "Engineer"
    APPROVER = "approver", "Compliance approver"
    AUDITOR = "auditor", "Auditor"


class User(AbstractUser):
    """A person, known through the IdP. Roles are Django groups named after ``Role`` values,
    replaced at every SSO sign-in by what the IdP's groups claim grants."""

    idp_issuer = models.CharField(max_length=255, blank=True)
    idp_subject = models.CharField(max_length=255, blank=True)
    # When the IdP last authenticated this person (id_token auth_time): "fresh sign-in" rules.
    idp_authenticated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["idp_issuer", "idp_subject"],
                condition=~models.Q(idp_subject=""),
                name="user_unique_idp_identity",
            )
        ]

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username

    @property
    def roles(self) -> frozenset[str]:
        cached = getattr(self, "_roles_cache", None)
        if cached is None:
            names = set(self.groups.values_list("name", flat=True)) if self.pk else set()
            cached = frozenset(n for n in names if n in Role.values)
            self._roles_cache = cached
        return cached

    def has_role(self, role: str) -> bool:
        return self.is_active and role in self.roles

    def idp_identity(self) -> dict:
        """What an approval records about the person: IdP issuer, subject, e-mail, sign-in time."""
        return {
            "username": self.username,
            "name": self.display_name,
            "email": self.email,
            "issuer": self.idp_issuer,
            "subject": self.idp_subject,
            "authenticatedAt": self.idp_authenticated_at.isoformat() if self.idp_authenticated_at else None,
        }


class ApiToken(models.Model):
    """A personal API token for automation, bound to one SSO user.

    The secret is shown once, at creation; only its SHA-256 is stored (the secret has 256 bits
    of entropy, so a fast hash is enough and a slow one would only slow every request). The
    visible ``prefix`` names the token in lists, audit rows and logs. A token acts with its
    user's roles at the time of each request, never a copy of them.
    """

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. the pipeline that uses it.")
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    # The IdP sign-in of the session that created the token (None: made by the command line).
    # Approvals through the API need it to lie within APPROVAL_FRESH_AUTH_SECONDS of now.
    signed_in_at = models.DateTimeField(null=True, blank=True)
    created_via = models.CharField(max_length=16, default="profile")
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix} ({self.name}) of {self.user.username}"

    def __repr__(self) -> str:  # the prefix only: the secret is never held after creation
        return f"<ApiToken {self.prefix}>"

    def is_usable(self, now) -> bool:
        return self.revoked_at is None and self.expires_at > now

    def status(self, now) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "active" if self.expires_at > now else "expired"

    def may_decide_until(self, fresh_seconds: int):
        """Until when a gate decision through this token is allowed (None: never)."""
        if self.signed_in_at is None:
            return None
        from datetime import timedelta

        return min(self.signed_in_at + timedelta(seconds=fresh_seconds), self.expires_at)
