"""The database refuses to change or remove audit entries (triggers on PostgreSQL and SQLite).

PostgreSQL: a row trigger refuses UPDATE and DELETE; a statement trigger refuses TRUNCATE
unless the session has set ``audit.maintenance = 'flush'``, which only ``manage.py flush``
does (and only when ``AUDIT_FLUSH_ALLOWED`` is on: the test settings). SQLite has no session
variables, so its DELETE trigger asks a function the app registers on each connection,
``audit_flush_permitted()``, which answers 1 only inside that same flush. A connection
without the function (the sqlite3 shell, another program) gets "no such function" and the
DELETE fails too: closed by default.

A database superuser can still drop the triggers; then the hash chain is what catches the
change (``manage.py audit_verify``). See ADR 0022.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

TABLE = "audit_auditevent"

PG_TRIGGER_NAMES = ("audit_event_append_only", "audit_event_no_truncate")
SQLITE_TRIGGER_NAMES = ("audit_event_no_update", "audit_event_no_delete")

PG_CREATE = f"""
CREATE OR REPLACE FUNCTION audit_event_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' AND current_setting('audit.maintenance', true) = 'flush' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'the audit trail is append-only: % on {TABLE} refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION audit_event_refuse_change();
CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON {TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_refuse_change();
"""
PG_DROP = f"""
DROP TRIGGER IF EXISTS audit_event_append_only ON {TABLE};
DROP TRIGGER IF EXISTS audit_event_no_truncate ON {TABLE};
DROP FUNCTION IF EXISTS audit_event_refuse_change();
"""
SQLITE_CREATE = [
    f"""CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON {TABLE}
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: UPDATE on {TABLE} refused'); END""",
    f"""CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON {TABLE}
    WHEN audit_flush_permitted() IS NOT 1
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: DELETE on {TABLE} refused'); END""",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS audit_event_no_update",
    "DROP TRIGGER IF EXISTS audit_event_no_delete",
]

_flush = threading.local()


def _flush_permitted() -> int:
    return 1 if getattr(_flush, "active", False) else 0


def register_sqlite_function(sender, connection, **kwargs) -> None:
    """``connection_created`` receiver: give SQLite connections ``audit_flush_permitted()``."""
    if connection.vendor == "sqlite":
        connection.connection.create_function("audit_flush_permitted", 0, _flush_permitted)


@contextlib.contextmanager
def flush_permitted(connection) -> Iterator[None]:
    """Let this connection empty the audit table (``manage.py flush`` only)."""
    _flush.active = True
    connection.ensure_connection()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET audit.maintenance = 'flush'")
    try:
        yield
    finally:
        _flush.active = False
        if connection.vendor == "postgresql" and connection.connection is not None:
            with connection.cursor() as cursor:
                cursor.execute("RESET audit.maintenance")


def _statements(vendor: str, create: bool) -> list[str]:
    if vendor == "postgresql":
        return [PG_CREATE if create else PG_DROP]
    if vendor == "sqlite":
        return SQLITE_CREATE if create else SQLITE_DROP
    if create:  # pragma: no cover - the product runs on these two only
        raise NotImplementedError(f"no audit triggers for {vendor}: add them before using this database")
    return []  # pragma: no cover


def triggers_install(connection) -> None:
    """Create the triggers (a migration passes ``schema_editor.connection``)."""
    with connection.cursor() as cursor:
        for statement in _statements(connection.vendor, create=True):
            cursor.execute(statement)


def triggers_remove(connection) -> None:
    with connection.cursor() as cursor:
        for statement in _statements(connection.vendor, create=False):
            cursor.execute(statement)


def triggers_present(connection) -> list[str]:
    """The append-only triggers missing from the database (empty when all are in place)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal AND tgenabled <> 'D'",
                [TABLE],
            )
            expected = PG_TRIGGER_NAMES
        elif connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s", [TABLE])
            expected = SQLITE_TRIGGER_NAMES
        else:  # pragma: no cover
            return []
        found = {row[0] for row in cursor.fetchall()}
    return [name for name in expected if name not in found]
