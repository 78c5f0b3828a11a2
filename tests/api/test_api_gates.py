"""Gates through the API: evidence, the ETag/If-Match flow, the fresh sign-in rule for tokens,
and approvals that resume a real execution in the sandbox."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEvent
from migrations_app.models import Approval, Gate, GateCheck, GateDelivery
from tests.api.conftest import GATE_TOKEN, client_for, error_of


def url(gate, action: str = "") -> str:
    return f"/api/v1/gates/{gate.pk}/" + (f"{action}/" if action else "")


# --- light: no state machine ---------------------------------------------------------------------


@pytest.mark.django_db
def test_gate_detail_shows_evidence_and_approvals_never_the_task_token(api, auditor, light_gate):
    response = api(auditor).get(url(light_gate))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "waiting" and body["is_open"] is True
    assert body["target_weights"] == {"us-east-1": 90, "eu-central-1": 10}
    assert [c["key"] for c in body["checks"]] == ["replication_latency", "dlq_depth"]
    assert all(c["verdict"] == "pass" and c["blocks"] is False for c in body["checks"])
    assert body["approvals"] == [] and body["approvals_needed"] == 1 and body["delivery"] is None
    assert response["ETag"] == body["etag"]
    assert GATE_TOKEN not in response.content.decode()
    assert "task_token" not in response.content.decode()
    listing = api(auditor).get("/api/v1/gates/?status=waiting").content.decode()
    assert GATE_TOKEN not in listing


@pytest.mark.django_db
def test_etag_changes_with_evidence_and_not_with_a_same_value_refresh(api, auditor, light_gate):
    client = api(auditor)
    first = client.get(url(light_gate))["ETag"]
    assert client.get(url(light_gate), HTTP_IF_NONE_MATCH=first).status_code == 304
    GateCheck.objects.filter(gate=light_gate).update(collected_at=timezone.now())  # re-measured, same
    assert client.get(url(light_gate))["ETag"] == first
    GateCheck.objects.filter(gate=light_gate, key="replication_latency").update(verdict="fail", value="lag 4 s")
    second = client.get(url(light_gate))["ETag"]
    assert second != first
    assert client.get(url(light_gate)).json()["approvals_needed"] == 2  # a blocking check needs two


@pytest.mark.django_db
def test_approve_without_if_match_is_428(api, approver1, light_gate):
    client = api(approver1)
    for headers in ({}, {"HTTP_IF_MATCH": "*"}):
        response = client.post(url(light_gate, "approve"), {}, format="json", **headers)
        assert response.status_code == 428
        assert error_of(response)["code"] == "precondition_required"
    response = client.post(url(light_gate, "reject"), {"reason": "no"}, format="json")
    assert response.status_code == 428
    assert not Approval.objects.exists()


@pytest.mark.django_db
def test_approve_with_a_stale_etag_is_412_and_nothing_is_recorded(api, approver1, light_gate):
    client = api(approver1)
    seen = client.get(url(light_gate))["ETag"]
    GateCheck.objects.filter(gate=light_gate, key="dlq_depth").update(value="3 messages in the DLQ", verdict="fail")
    for action, body in (("approve", {}), ("override", {"reason": "known"}), ("reject", {"reason": "x"})):
        response = client.post(url(light_gate, action), body, format="json", HTTP_IF_MATCH=seen)
        assert response.status_code == 412, action
        assert error_of(response)["code"] == "precondition_failed"
    assert not Approval.objects.exists()
    assert not AuditEvent.objects.filter(event_type__startswith="gate.").exists()
    # A weak tag never matches (strong comparison), even with the right value.
    fresh = client.get(url(light_gate))["ETag"]
    assert client.post(url(light_gate, "approve"), {}, format="json", HTTP_IF_MATCH=f"W/{fresh}").status_code == 412


@pytest.mark.django_db
def test_approve_with_the_current_etag_records_the_approval_as_the_page_does(api, approver1, light_gate):
    client = api(approver1)
    etag = client.get(url(light_gate))["ETag"]
    response = client.post(
        url(light_gate, "approve"), {"comment": "lag fine"}, format="json", HTTP_IF_MATCH=f'"nope", {etag}'
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "approved"
    assert body["approvals"][0]["approver"] == "approver1" and body["approvals"][0]["comment"] == "lag fine"
    assert response["ETag"] != etag
    event = AuditEvent.objects.get(event_type="gate.approve")
    assert event.actor == approver1 and event.after["comment"] == "lag fine"
    prefix = approver1.api_tokens.get().prefix
    assert event.user_agent.endswith(f"(API token cpt_{prefix})")  # which credential acted
    assert GateDelivery.objects.filter(gate=light_gate, kind="success").exists()


@pytest.mark.django_db
def test_failed_checks_block_approval_until_an_override_with_a_reason(api, approver1, approver2, light_gate):
    GateCheck.objects.filter(gate=light_gate, key="dlq_depth").update(value="3 messages", verdict="fail")
    client = api(approver1)
    etag = client.get(url(light_gate))["ETag"]
    response = client.post(url(light_gate, "approve"), {}, format="json", HTTP_IF_MATCH=etag)
    assert response.status_code == 409
    assert "Failed checks block this gate: Dead-letter queues" in error_of(response)["message"]
    response = client.post(url(light_gate, "override"), {"reason": "  "}, format="json", HTTP_IF_MATCH=etag)
    assert response.status_code == 400
    assert "reason" in error_of(response)["fields"]

    response = client.post(url(light_gate, "override"), {"reason": "test messages"}, format="json", HTTP_IF_MATCH=etag)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "waiting" and body["approvals_needed"] == 2  # an override needs a second approver
    assert body["approvals"][0]["override"] is True and body["approvals"][0]["override_reason"] == "test messages"

    second = api(approver2)
    response = second.post(
        url(light_gate, "override"),
        {"reason": "agreed"},
        format="json",
        HTTP_IF_MATCH=second.get(url(light_gate))["ETag"],
    )
    assert response.json()["status"] == "approved"


@pytest.mark.django_db
def test_reject_needs_a_reason(api, approver1, light_gate):
    client = api(approver1)
    etag = client.get(url(light_gate))["ETag"]
    for body in ({}, {"reason": ""}, {"reason": "   "}, {"reason": 5}):
        response = client.post(url(light_gate, "reject"), body, format="json", HTTP_IF_MATCH=etag)
        assert response.status_code == 400, body
        assert "reason" in error_of(response)["fields"]
    response = client.post(url(light_gate, "reject"), {"reason": "lag too high"}, format="json", HTTP_IF_MATCH=etag)
    assert response.json()["status"] == "rejected"
    assert AuditEvent.objects.get(event_type="gate.reject").after["reason"] == "lag too high"


@pytest.mark.django_db
def test_four_eyes_holds_through_the_api(api, lead, light_gate):
    light_gate.execution.started_by = lead
    light_gate.execution.save()
    client = api(lead)
    response = client.post(
        url(light_gate, "approve"), {}, format="json", HTTP_IF_MATCH=client.get(url(light_gate))["ETag"]
    )
    assert response.status_code == 403
    assert "four-eyes" in error_of(response)["message"]


@pytest.mark.django_db
def test_a_token_decides_only_within_the_window_of_its_sign_in(approver1, light_gate, settings):
    window = settings.APPROVAL_FRESH_AUTH_SECONDS
    stale_sign_in = timezone.now() - timedelta(seconds=window + 60)
    cases = {
        "created from a stale session": client_for(approver1, signed_in_at=stale_sign_in),
        "made by the command line": client_for(approver1, signed_in_at=None, via="command"),
    }
    for label, client in cases.items():
        assert client.get("/api/v1/me/").json()["may_decide_gates_until"] is None, label
        etag = client.get(url(light_gate))["ETag"]
        response = client.post(url(light_gate, "approve"), {}, format="json", HTTP_IF_MATCH=etag)
        assert response.status_code == 403, label
        error = error_of(response)
        assert error["code"] == "fresh_sign_in_required", label
        assert f"{window // 60} minutes" in error["message"]
    assert not Approval.objects.exists()

    # A fresh token whose user has not signed in again since is fine; a token made fresh but
    # used after the window is not.
    fresh = client_for(approver1)
    assert fresh.get("/api/v1/me/").json()["may_decide_gates_until"] is not None
    approver1.api_tokens.filter(signed_in_at__isnull=False, signed_in_at__gt=stale_sign_in).update(
        signed_in_at=timezone.now() - timedelta(seconds=window - 30)
    )
    etag = fresh.get(url(light_gate))["ETag"]
    assert fresh.post(url(light_gate, "approve"), {}, format="json", HTTP_IF_MATCH=etag).status_code == 200


@pytest.mark.django_db
def test_the_session_obeys_the_same_fresh_sign_in_rule(approver1, light_gate, settings):
    approver1.idp_authenticated_at = timezone.now() - timedelta(seconds=settings.APPROVAL_FRESH_AUTH_SECONDS + 1)
    approver1.save()
    client = APIClient()
    client.force_login(approver1)
    etag = client.get(url(light_gate))["ETag"]
    response = client.post(url(light_gate, "approve"), {}, format="json", HTTP_IF_MATCH=etag)
    assert response.status_code == 403
    assert error_of(response)["code"] == "fresh_sign_in_required"


@pytest.mark.django_db
def test_any_role_may_ask_for_fresh_evidence(api, auditor, light_gate):
    response = api(auditor).post(url(light_gate, "evidence"), {}, format="json")
    assert response.status_code == 202


# --- real: a state machine in the sandbox ----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_api_approval_resumes_the_real_execution(environment, started_execution, approver1):
    from tests.conftest import wait_for_gate
    from tests.test_gate_approve import weights_in_route53

    gate = wait_for_gate(environment, started_execution)
    client = client_for(approver1)
    detail = client.get(url(gate))
    assert [c["verdict"] for c in detail.json()["checks"]] == ["pass"] * 8

    response = client.post(url(gate, "approve"), {"comment": "via API"}, format="json", HTTP_IF_MATCH=detail["ETag"])

    assert response.status_code == 200, response.content
    gate.refresh_from_db()
    assert gate.status == Gate.Status.APPROVED
    assert gate.delivery.status == GateDelivery.Status.DELIVERED
    second = wait_for_gate(environment, started_execution)
    assert second.step == 2
    assert weights_in_route53(environment) == {"us-east-1": 90, "eu-central-1": 10}
    timeline = client.get(f"/api/v1/executions/{started_execution.pk}/timeline/").json()
    assert [e["event_type"] for e in timeline["results"]] == [
        "execution.start",
        "execution.started",
        "gate.arrived",
        "gate.approve",
        "gate.delivered",
        "gate.arrived",
    ]


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_api_approvals_one_wins_the_other_gets_409(
    environment, started_execution, approver1, approver2
):
    from controlplane.aws import stepfunctions
    from tests.conftest import wait_for_gate
    from tests.test_gate_approve import gate_successes

    gate = wait_for_gate(environment, started_execution)
    clients = {p.username: client_for(p) for p in (approver1, approver2)}
    etags = {name: c.get(url(gate))["ETag"] for name, c in clients.items()}
    assert len(set(etags.values())) == 1
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def click(name):
        barrier.wait()
        try:
            response = clients[name].post(url(gate, "approve"), {}, format="json", HTTP_IF_MATCH=etags[name])
            outcomes[name] = (response.status_code, response.json())
        except Exception as exc:  # noqa: BLE001 - a crash is a failure of this test
            outcomes[name] = ("crashed", repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=click, args=(n,)) for n in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    codes = sorted(code for code, _ in outcomes.values())
    assert codes == [200, 409], outcomes
    loser = next(body for code, body in outcomes.values() if code == 409)
    assert loser["error"] == {
        "code": "conflict",
        "message": "This gate is approved; there is nothing to decide.",
        "fields": {},
    }
    assert Approval.objects.filter(gate=gate).count() == 1
    assert GateDelivery.objects.filter(gate=gate).count() == 1
    wait_for_gate(environment, started_execution)
    history = stepfunctions.execution_history(target=environment.aws_target(), execution_arn=started_execution.arn)
    assert gate_successes(history) == 1
