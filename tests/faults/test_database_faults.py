"""The database connection dropped in the middle of an approval: a clear 503, nothing half-written.

The approval request is made to wait on a row lock that another connection holds (the audit
chain head, which the approval takes after it has written the Approval, the gate's new state
and the outbox row); that connection then terminates the waiting backend with
pg_terminate_backend, as a database restart or failover would.
"""

from __future__ import annotations

import json
import threading
import time

import psycopg
import pytest
from django.db import OperationalError, connection
from django.test import RequestFactory

from audit.models import AuditEvent
from controlplane.middleware import DatabaseUnavailableMiddleware
from migrations_app.models import Approval, Gate, GateDelivery
from tests.conftest import wait_for_gate


def _conninfo() -> str:
    s = connection.settings_dict
    return psycopg.conninfo.make_conninfo(
        dbname=s["NAME"],
        user=s["USER"],
        password=s["PASSWORD"] or None,
        host=s["HOST"] or "127.0.0.1",
        port=s["PORT"] or 5432,
    )


def terminate_the_next_backend_waiting_on_the_chain_head(ready: threading.Event, done: list) -> None:
    # pg_stat_activity is read once per transaction: the watcher runs in autocommit.
    with psycopg.connect(_conninfo()) as locker, psycopg.connect(_conninfo(), autocommit=True) as watcher:
        locker.execute("SELECT 1 FROM audit_auditchainhead WHERE id = 1 FOR UPDATE")
        ready.set()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            row = watcher.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> %s "
                "AND wait_event_type = 'Lock' AND query ILIKE '%%audit_auditchainhead%%'",
                (locker.info.backend_pid,),
            ).fetchone()
            if row:
                done.append(watcher.execute("SELECT pg_terminate_backend(%s)", (row[0],)).fetchone()[0])
                break
            time.sleep(0.05)
        locker.rollback()


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_terminate_backend is PostgreSQL's")
def test_connection_dropped_during_an_approval_answers_503_and_writes_nothing(
    environment, started_execution, approver1, client
):
    gate = wait_for_gate(environment, started_execution)
    events_before = AuditEvent.objects.count()
    client.force_login(approver1)
    ready, terminated = threading.Event(), []
    killer = threading.Thread(target=terminate_the_next_backend_waiting_on_the_chain_head, args=(ready, terminated))
    killer.start()
    assert ready.wait(10)

    response = client.post(f"/gates/{gate.pk}/decide/", {"decision": "approve"})
    killer.join()

    assert terminated == [True]
    assert response.status_code == 503
    assert response["Retry-After"]
    assert "Nothing was saved" in response.content.decode()
    # PostgreSQL rolled the whole transaction back: no approval, no outbox row, no event, still waiting.
    assert not Approval.objects.filter(gate=gate).exists()
    assert not GateDelivery.objects.filter(gate=gate).exists()
    assert Gate.objects.get(pk=gate.pk).status == Gate.Status.WAITING
    assert AuditEvent.objects.count() == events_before

    # The next request opens a fresh connection and the approval goes through.
    response = client.post(f"/gates/{gate.pk}/decide/", {"decision": "approve"})
    assert response.status_code == 302
    assert Approval.objects.filter(gate=gate).count() == 1
    assert GateDelivery.objects.get(gate=gate).status == GateDelivery.Status.DELIVERED


def test_api_callers_get_the_same_error_as_json():
    request = RequestFactory().post("/api/gates/1/approve/", data={}, content_type="application/json")
    response = DatabaseUnavailableMiddleware(lambda r: None).process_exception(
        request, OperationalError("server closed the connection unexpectedly")
    )
    assert response.status_code == 503
    assert json.loads(response.content)["error"]["code"] == "database_unavailable"
    assert DatabaseUnavailableMiddleware(lambda r: None).process_exception(request, ValueError("x")) is None
