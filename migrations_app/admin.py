from django.contrib import admin

from migrations_app.models import Approval, Environment, Execution, Gate, GateDelivery


class ReadOnlyAdmin(admin.ModelAdmin):
    """Cutover rows change only through services (which audit); the admin shows them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Environment)
class EnvironmentAdmin(ReadOnlyAdmin):
    list_display = ("name", "kind", "source_region", "target_region", "provisioned_at")


@admin.register(Execution)
class ExecutionAdmin(ReadOnlyAdmin):
    list_display = ("name", "environment", "status", "started_by", "created_at")
    list_filter = ("status",)


@admin.register(Gate)
class GateAdmin(ReadOnlyAdmin):
    list_display = ("execution", "state_name", "step", "status", "arrived_at")
    exclude = ("task_token",)
    list_filter = ("status",)


@admin.register(Approval)
class ApprovalAdmin(ReadOnlyAdmin):
    list_display = ("gate", "approver", "decision", "created_at")


@admin.register(GateDelivery)
class GateDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("gate", "kind", "status", "attempts", "delivered_at")
