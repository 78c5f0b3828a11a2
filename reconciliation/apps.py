from django.apps import AppConfig


class ReconciliationConfig(AppConfig):
    """Cross-region reconciliation (issue 5): windows, aggregates, findings. Empty for now."""

    name = "reconciliation"
    verbose_name = "Reconciliation"
