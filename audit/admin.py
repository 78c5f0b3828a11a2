from django.contrib import admin

from audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the trail is append-only, in the admin as everywhere."""

    list_display = ("occurred_at", "actor_name", "event_type", "target_repr", "outcome", "ip")
    list_filter = ("event_type", "outcome")
    search_fields = ("actor_name", "target_repr", "request_id")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
