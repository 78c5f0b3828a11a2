from django.apps import AppConfig


class ReconciliationConfig(AppConfig):
    """Cross-region reconciliation: findings (and, with issue 5, windows and aggregates)."""

    name = "reconciliation"
    verbose_name = "Reconciliation"

    def ready(self) -> None:
        # Floors: the cutover app shows "open findings" on its gates without importing this
        # app; this app registers the check with it at start-up.
        from reconciliation.checks import register_gate_checks

        register_gate_checks()
