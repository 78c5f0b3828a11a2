"""The audit trail is append-only in the database, and audit_verify names the first broken link."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from audit.immutability import SQLITE_CREATE, triggers_present
from audit.models import AuditEvent
from audit.origin import system_origin
from audit.services import audit_record

pytestmark = pytest.mark.django_db


def _events(n: int, **kwargs) -> list[AuditEvent]:
    with system_origin("test"):
        return [audit_record(actor=None, event_type=f"test.event{i}", after={"i": i}, **kwargs) for i in range(n)]


def _raw(sql: str, params=()):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def _drop_triggers():
    """What a database superuser can do: the chain must still catch what follows."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("DROP TRIGGER audit_event_append_only ON audit_auditevent")
        else:
            cursor.execute("DROP TRIGGER audit_event_no_update")
            cursor.execute("DROP TRIGGER audit_event_no_delete")


def _verify() -> str:
    call_command("audit_verify", stdout=(out := __import__("io").StringIO()))
    return out.getvalue()


def test_raw_update_is_refused():
    (event,) = _events(1)
    with pytest.raises(DatabaseError, match="append-only"):
        _raw("UPDATE audit_auditevent SET actor_name = %s WHERE id = %s", ["mallory", event.pk])
    event.refresh_from_db()
    assert event.actor_name == "system:test"


def test_raw_delete_is_refused():
    (event,) = _events(1)
    with pytest.raises(DatabaseError, match="append-only"):
        _raw("DELETE FROM audit_auditevent WHERE id = %s", [event.pk])
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_orm_update_and_delete_are_refused_too():
    (event,) = _events(1)
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(outcome="failure")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()


@pytest.mark.skipif("connection.vendor != 'postgresql'")
@pytest.mark.django_db(transaction=True)  # TRUNCATE inside the test transaction meets pending FK checks
def test_truncate_is_refused_on_postgresql():
    _events(1)
    with pytest.raises(DatabaseError, match="append-only"):
        _raw("TRUNCATE audit_auditevent")


def test_sqlite_delete_without_the_app_function_fails_closed(tmp_path):
    """Another program opening the SQLite file (no audit_flush_permitted()) cannot delete either."""
    import sqlite3

    db = sqlite3.connect(tmp_path / "x.sqlite3")
    db.execute("CREATE TABLE audit_auditevent (id integer primary key, v text)")
    for statement in SQLITE_CREATE:
        db.execute(statement)
    db.execute("INSERT INTO audit_auditevent (v) VALUES ('a')")
    with pytest.raises(sqlite3.OperationalError, match="no such function"):
        db.execute("DELETE FROM audit_auditevent")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE audit_auditevent SET v = 'b'")


def test_flush_is_refused_unless_allowed(settings):
    settings.AUDIT_FLUSH_ALLOWED = False
    _events(1)
    with pytest.raises(CommandError, match="AUDIT_FLUSH_ALLOWED"):
        call_command("flush", interactive=False, verbosity=0)
    assert AuditEvent.objects.count() == 1


def test_verify_passes_on_an_intact_chain():
    events = _events(3, region="eu-central-1")
    out = _verify()
    assert f"3 entries, head #{events[-1].pk} {events[-1].hash}" in out


def test_tampered_row_is_caught_at_that_entry():
    events = _events(4)
    _drop_triggers()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET after = %s WHERE id = %s", ['{"i": 99}', events[2].pk])
    with pytest.raises(CommandError) as raised:
        _verify()
    message = str(raised.value)
    assert f"BROKEN at entry #{events[2].pk}: its content does not match its hash" in message
    assert "append-only triggers missing" in message


def test_rewritten_hash_is_caught_at_the_next_entry():
    """Someone recomputes the changed row's hash: the next entry's link no longer matches."""
    events = _events(4)
    _drop_triggers()
    tampered = AuditEvent.objects.get(pk=events[1].pk)
    tampered.after = {"i": 42}
    new_hash = tampered.compute_hash()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_auditevent SET after = %s, hash = %s WHERE id = %s", ['{"i": 42}', new_hash, tampered.pk]
        )
    with pytest.raises(CommandError, match=rf"BROKEN at entry #{events[2].pk}: its previous-hash does not match"):
        _verify()


def test_removed_entry_is_caught_at_the_next_entry():
    events = _events(4)
    _drop_triggers()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [events[1].pk])
    with pytest.raises(CommandError) as raised:
        _verify()
    assert f"BROKEN at entry #{events[2].pk}" in str(raised.value)
    assert f"entry #{events[0].pk}" in str(raised.value)


def test_removed_newest_entry_is_caught_by_the_chain_head():
    events = _events(3)
    _drop_triggers()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [events[2].pk])
    with pytest.raises(CommandError, match=rf"chain head names entry #{events[2].pk}"):
        _verify()


def test_missing_triggers_alone_fail_verification():
    _events(1)
    _drop_triggers()
    assert triggers_present(connection)
    with pytest.raises(CommandError, match="triggers missing"):
        _verify()


def test_entries_without_a_region_hash_as_before_the_region_existed():
    (event,) = _events(1)
    content = event.content()
    del content["region"]
    old_style = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str).encode()
    assert hashlib.sha256(old_style).hexdigest() == event.hash


def test_admin_is_read_only_for_a_superuser(client, django_user_model):
    (event,) = _events(1)
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    assert client.get(f"/admin/audit/auditevent/{event.pk}/change/").status_code == 200  # view only
    assert client.post(f"/admin/audit/auditevent/{event.pk}/change/", {"actor_name": "x"}).status_code == 403
    assert client.get(f"/admin/audit/auditevent/{event.pk}/delete/").status_code == 403
    assert client.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get("/admin/audit/auditevent/add/").status_code == 403
    event.refresh_from_db()
    assert event.actor_name == "system:test"


@pytest.mark.django_db(transaction=True)
def test_transactional_tests_can_still_flush_the_trail():
    """pytest-django flushes after this test (TRUNCATE on PostgreSQL, DELETE on SQLite)."""
    _events(2)
    call_command("flush", interactive=False, verbosity=0)
    assert AuditEvent.objects.count() == 0
    _events(1)  # and the chain starts over from the genesis hash
    assert "intact" in _verify()


def test_install_triggers_puts_them_back():
    _events(1)
    _drop_triggers()
    out = __import__("io").StringIO()
    call_command("audit_verify", "--install-triggers", stdout=out)
    assert "intact" in out.getvalue() and triggers_present(connection) == []
    with pytest.raises(DatabaseError, match="append-only"):
        _raw("DELETE FROM audit_auditevent")
