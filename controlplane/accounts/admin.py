from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from controlplane.accounts.models import ApiToken, User


@admin.register(User)
class ControlPlaneUserAdmin(UserAdmin):
    list_display = ("username", "email", "idp_issuer", "idp_subject", "idp_authenticated_at", "is_active")
    readonly_fields = ("idp_issuer", "idp_subject", "idp_authenticated_at", "last_login", "date_joined")
    fieldsets = UserAdmin.fieldsets + (
        ("Identity provider", {"fields": ("idp_issuer", "idp_subject", "idp_authenticated_at")}),
    )


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Read only: tokens are created and revoked by their owners (profile page) or the command,
    through the services that audit it."""

    list_display = ("prefix", "user", "name", "created_via", "created_at", "expires_at", "revoked_at", "last_used_at")
    list_filter = ("created_via",)
    search_fields = ("prefix", "user__username", "name")
    exclude = ("secret_hash",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
