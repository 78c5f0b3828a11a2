from django.contrib import admin

from audit.models import AuditChainHead, AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only for everyone, superusers included: the trail is append-only, in the admin as
    everywhere (the database refuses changes too)."""

    list_display = ("occurred_at", "actor_name", "event_type", "target_repr", "region", "outcome", "ip")
    list_filter = ("event_type", "outcome", "region")
    search_fields = ("actor_name", "target_repr", "request_id")
    actions = None

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditChainHead)
class AuditChainHeadAdmin(admin.ModelAdmin):
    actions = None

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
