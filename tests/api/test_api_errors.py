"""One error body for every 4xx; strict input; roles and outsiders on every endpoint."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from migrations_app.models import CutoverPlan, Execution
from reconciliation.models import Finding
from tests.api.conftest import error_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def finding(light_environment):
    return Finding.objects.create(
        environment=light_environment, kind="duplicate_debit", summary="txn t-1 debited twice"
    )


@pytest.fixture
def every_get_url(light_environment, light_gate, finding):
    execution = light_gate.execution
    plan = CutoverPlan.objects.get(environment=light_environment)
    event = AuditEvent.objects.first()
    return [
        "/api/v1/me/",
        "/api/v1/environments/",
        f"/api/v1/environments/{light_environment.name}/",
        f"/api/v1/environments/{light_environment.name}/plan/",
        "/api/v1/plans/",
        f"/api/v1/plans/{plan.pk}/",
        "/api/v1/deployments/",
        "/api/v1/executions/",
        f"/api/v1/executions/{execution.pk}/",
        f"/api/v1/executions/{execution.pk}/timeline/",
        "/api/v1/gates/",
        f"/api/v1/gates/{light_gate.pk}/",
        "/api/v1/reconciliation/runs/",
        "/api/v1/reconciliation/windows/",
        "/api/v1/findings/",
        f"/api/v1/findings/{finding.pk}/",
        "/api/v1/audit-events/",
        f"/api/v1/audit-events/{event.pk}/",
        "/api/v1/schema/",
        "/api/v1/docs/",
        "/api/v1/redoc/",
    ]


def test_outsider_gets_403_and_no_data_on_every_read(api, outsider, every_get_url, light_environment):
    client = api(outsider)
    for url in every_get_url:
        response = client.get(url)
        assert response.status_code == 403, url
        assert error_of(response)["code"] == "permission_denied", url
        assert light_environment.name not in response.content.decode(), url


def test_outsider_gets_403_on_every_write(api, outsider, light_environment, light_gate, finding):
    client = api(outsider)
    execution = light_gate.execution
    writes = [
        ("post", "/api/v1/environments/", {"name": "x"}),
        ("put", f"/api/v1/environments/{light_environment.name}/plan/", {}),
        ("post", "/api/v1/deployments/", {"environment": light_environment.name}),
        ("post", "/api/v1/deployments/1/cancel/", {}),
        ("post", "/api/v1/deployments/1/stacks/network-source/confirm/", {}),
        ("post", "/api/v1/executions/", {"environment": light_environment.name}),
        ("post", f"/api/v1/executions/{execution.pk}/stop/", {"reason": "x"}),
        ("post", f"/api/v1/gates/{light_gate.pk}/approve/", {}),
        ("post", f"/api/v1/gates/{light_gate.pk}/override/", {"reason": "x"}),
        ("post", f"/api/v1/gates/{light_gate.pk}/reject/", {"reason": "x"}),
        ("post", f"/api/v1/gates/{light_gate.pk}/evidence/", {}),
        ("post", f"/api/v1/findings/{finding.pk}/acknowledge/", {"note": "x"}),
        ("post", f"/api/v1/findings/{finding.pk}/resolve/", {"note": "x"}),
    ]
    before = AuditEvent.objects.count()
    for method, url, body in writes:
        response = getattr(client, method)(url, body, format="json", HTTP_IF_MATCH='"x"')
        assert response.status_code == 403, url
        assert error_of(response)["code"] == "permission_denied"
    assert AuditEvent.objects.count() == before + 0


def test_every_role_reads_everything(api, engineer, approver1, auditor, every_get_url):
    for person in (engineer, approver1, auditor):
        client = api(person)
        for url in every_get_url:
            assert client.get(url).status_code == 200, (person.username, url)


@pytest.mark.parametrize("who", ["auditor", "approver1"])
def test_auditors_and_approvers_cannot_start_stop_or_deploy(request, api, who, light_environment, light_execution):
    client = api(request.getfixturevalue(who))
    assert client.post("/api/v1/executions/", {"environment": light_environment.name}, format="json").status_code == 403
    assert (
        client.post(f"/api/v1/executions/{light_execution.pk}/stop/", {"reason": "x"}, format="json").status_code == 403
    )
    assert (
        client.post("/api/v1/deployments/", {"environment": light_environment.name}, format="json").status_code == 403
    )
    assert Execution.objects.count() == 1


@pytest.mark.parametrize("who", ["auditor", "engineer"])
def test_auditors_and_engineers_cannot_decide_gates(request, api, who, light_gate):
    client = api(request.getfixturevalue(who))
    etag = client.get(f"/api/v1/gates/{light_gate.pk}/")["ETag"]
    response = client.post(f"/api/v1/gates/{light_gate.pk}/approve/", {}, format="json", HTTP_IF_MATCH=etag)
    assert response.status_code == 403
    light_gate.refresh_from_db()
    assert light_gate.status == "waiting"


def test_auditor_cannot_touch_findings(api, auditor, finding):
    response = api(auditor).post(f"/api/v1/findings/{finding.pk}/resolve/", {"note": "x"}, format="json")
    assert response.status_code == 403
    finding.refresh_from_db()
    assert finding.status == "open"


def test_malformed_json_is_400(api, engineer):
    response = api(engineer).generic(
        "POST", "/api/v1/executions/", '{"environment": "x"', content_type="application/json"
    )
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "parse_error"
    assert "JSON parse error" in error["message"]


def test_a_body_that_is_not_an_object_is_400(api, engineer):
    response = api(engineer).post("/api/v1/executions/", ["x"], format="json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid"


def test_form_encoded_bodies_are_415(api, engineer, light_environment):
    response = api(engineer).post("/api/v1/executions/", {"environment": light_environment.name})
    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"


def test_unknown_fields_are_refused(api, engineer, light_environment):
    response = api(engineer).post(
        "/api/v1/executions/", {"environment": light_environment.name, "enviroment": "typo"}, format="json"
    )
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid"
    assert list(error["fields"]) == ["enviroment"]
    assert "Unknown field" in error["message"]
    assert not Execution.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"environment": 12}, "environment"),
        ({"environment": None}, "environment"),
        ({"environment": ["a"]}, "environment"),
        ({}, "environment"),
    ],
)
def test_wrong_types_and_missing_fields_are_400(api, engineer, body, field):
    response = api(engineer).post("/api/v1/executions/", body, format="json")
    assert response.status_code == 400
    assert field in error_of(response)["fields"]


def test_an_unknown_environment_in_a_body_is_a_field_error(api, engineer):
    response = api(engineer).post("/api/v1/executions/", {"environment": "nope"}, format="json")
    assert response.status_code == 400
    assert error_of(response)["fields"] == {"environment": ["No environment is named 'nope'."]}


def test_unknown_objects_and_urls_are_404_in_the_same_format(api, auditor):
    client = api(auditor)
    for url in ("/api/v1/gates/999999/", "/api/v1/environments/nope/", "/api/v1/nothing-here/"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert error_of(response)["code"] == "not_found"


def test_a_wrong_method_is_405(api, auditor):
    response = api(auditor).delete("/api/v1/environments/")
    assert response.status_code in (403, 405)
    response = api(auditor).get("/api/v1/gates/1/approve/")
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"


def test_a_bad_filter_value_is_400(api, auditor):
    response = api(auditor).get("/api/v1/audit-events/?occurred_after=yesterday")
    assert response.status_code == 400
    assert "occurred_after" in error_of(response)["fields"]
    response = api(auditor).get("/api/v1/gates/?status=maybe")
    assert response.status_code == 400
    assert "status" in error_of(response)["fields"]


def test_a_rule_of_the_cutover_is_409_with_the_services_message(api, engineer, light_environment):
    response = api(engineer).post("/api/v1/executions/", {"environment": light_environment.name}, format="json")
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "conflict"
    assert error["message"] == f"Environment {light_environment.name} is not provisioned yet."


def test_aws_failing_in_the_request_is_a_clear_502_or_503_not_a_crash(api, engineer, light_execution, settings):
    """Stop calls Step Functions in the request; this environment's endpoint answers nothing."""
    from controlplane.aws import clients

    settings.AWS_MAX_ATTEMPTS = 1  # no retries with backoff against a closed port
    clients.clear_cache()
    response = api(engineer).post(f"/api/v1/executions/{light_execution.pk}/stop/", {"reason": "x"}, format="json")
    assert response.status_code in (502, 503)
    body = response.json()["error"]
    assert body["code"] == "aws_error" and "AWS did not complete the request" in body["message"]
    light_execution.refresh_from_db()
    assert light_execution.status == "RUNNING"
    clients.clear_cache()
