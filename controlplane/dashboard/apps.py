from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """The live cutover dashboard and the replication cost panel (floor 4: reads everything below)."""

    name = "controlplane.dashboard"
    verbose_name = "Dashboard"
