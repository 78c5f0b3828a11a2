from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from controlplane.accounts.models import User


@admin.register(User)
class ControlPlaneUserAdmin(UserAdmin):
    list_display = ("username", "email", "idp_issuer", "idp_subject", "idp_authenticated_at", "is_active")
    readonly_fields = ("idp_issuer", "idp_subject", "idp_authenticated_at", "last_login", "date_joined")
    fieldsets = UserAdmin.fieldsets + (
        ("Identity provider", {"fields": ("idp_issuer", "idp_subject", "idp_authenticated_at")}),
    )
