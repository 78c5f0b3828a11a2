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
