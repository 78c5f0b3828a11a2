from django.apps import AppConfig
from django.db.backends.signals import connection_created


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        from audit.immutability import register_sqlite_function

        connection_created.connect(register_sqlite_function, dispatch_uid="audit_sqlite_flush_function")
