"""Bad input gets a clear 4xx, class by class, on every API write and on the page forms.

The API's own cases for one endpoint are in tests/api/test_api_errors.py; here every write of the
permission table gets malformed JSON, a body that is not an object, an unknown field and an
oversized body. The pages get the same classes where a person can send them.
"""

from __future__ import annotations

import json

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from tests.security.conftest import World
from tests.security.test_permissions import API, url_kwargs

WRITES = sorted(
    (key, method, next(r for r, o in outcomes.items() if o == "ok"))
    for key, table in API.items()
    for method, outcomes in table.items()
    if method != "GET" and "ok" in outcomes.values()
)
# Endpoints whose input is an object with named fields (the others take no body or {}).
UNKNOWN_FIELD = "surprise"


def _api(w: World, role: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {w.tokens[role]}")
    return client


def _send(w: World, key: str, method: str, role: str, body: str, **extra):
    from controlplane.api.etag import gate_etag

    headers = {"HTTP_IF_MATCH": gate_etag(w.gate)} if "gate-" in key else {}
    path = reverse(key, kwargs=url_kwargs(key, w))
    with transaction.atomic():
        response = _api(w, role).generic(method, path, body, content_type="application/json", **headers, **extra)
        transaction.set_rollback(True)
    return response


def _error(response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and body["error"]["message"], body
    return body["error"]


@pytest.mark.parametrize(("key", "method", "role"), WRITES)
def test_every_api_write_refuses_each_class_of_bad_body(world, settings, key, method, role):
    malformed = _send(world, key, method, role, '{"reason": "unterminated')
    assert (malformed.status_code, _error(malformed)["code"]) == (400, "parse_error"), key

    not_an_object = _send(world, key, method, role, json.dumps(["a", "list"]))
    assert (not_an_object.status_code, _error(not_an_object)["code"]) == (400, "invalid"), key

    unknown = _send(world, key, method, role, json.dumps({UNKNOWN_FIELD: 1}))
    assert unknown.status_code == 400, key
    assert UNKNOWN_FIELD in _error(unknown)["fields"], key
    assert "Unknown field" in _error(unknown)["message"]

    settings.REQUEST_BODY_MAX_BYTES = 4096
    too_big = _send(world, key, method, role, json.dumps({"reason": "x" * 5000}))
    assert too_big.status_code == 413, key
    assert _error(too_big) == {
        "code": "too_large",
        "message": "The request body is larger than this server accepts (4 KiB at most).",
        "fields": {},
    }


@pytest.mark.parametrize(
    ("step", "field_message"),
    [
        ({"target_weight": 256}, "outside 0..100"),
        ({"target_weight": 255}, "outside 0..100"),
        ({"target_weight": -1}, "outside 0..100"),
        ({"target_weight": 101}, "outside 0..100"),
        ({"target_weight": "100"}, "JSON integer"),
        ({"target_weight": 100.0}, "JSON integer"),
        ({"target_weight": True}, "JSON integer"),
        ({"target_weight": 100, "required_approvals": 0}, "required approvals"),
    ],
)
def test_plan_weights_outside_the_range_or_of_the_wrong_type_are_400(world, step, field_message):
    response = _api(world, "engineer").put(
        f"/api/v1/environments/{world.env.name}/plan/", {"steps": [step], "window_seconds": 60}, format="json"
    )
    assert response.status_code == 400
    assert field_message in _error(response)["message"]
    assert world.env.plans.count() == 1


def test_a_plan_that_does_not_end_at_100_percent_is_400(world):
    response = _api(world, "engineer").put(
        f"/api/v1/environments/{world.env.name}/plan/",
        {"steps": [{"target_weight": 10}, {"target_weight": 50}], "window_seconds": 60},
        format="json",
    )
    assert response.status_code == 400
    assert "last step must send 100 %" in _error(response)["message"]


GOOD_ENVIRONMENT = {
    "name": "bad-input",
    "kind": "sandbox",
    "source_region": "us-east-1",
    "target_region": "eu-central-1",
    "aws_endpoint_url": "http://127.0.0.1:5055",
    "hosted_zone_name": "bad.example.com",
    "record_name": "api.bad.example.com",
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"aws_endpoint_url": "ftp://127.0.0.1:5055"}, "Enter an http:// or https:// URL."),
        ({"aws_endpoint_url": "javascript:alert(1)"}, "Enter a valid URL."),
        ({"aws_endpoint_url": "http://" + "a" * 300 + ".example.com"}, "at most 200 characters"),
        ({"control_plane_principal_arn": "arn:aws:iam::12345:role/x"}, "Enter an IAM ARN"),
        ({"control_plane_principal_arn": "not-an-arn"}, "Enter an IAM ARN"),
    ],
)
def test_an_endpoint_or_role_arn_that_is_not_one_is_refused_on_the_page_and_the_api(world, change, message):
    from migrations_app.models import Environment

    page_client = Client()
    page_client.force_login(world.users["engineer"])
    page = page_client.post(reverse("environment-create"), {**GOOD_ENVIRONMENT, **change})
    assert page.status_code == 400
    assert message in page.content.decode().replace("&#x27;", "'")

    body = {**GOOD_ENVIRONMENT, **change}
    response = _api(world, "engineer").post("/api/v1/environments/", body, format="json")
    assert response.status_code == 400
    assert message in _error(response)["message"]
    assert not Environment.objects.filter(name="bad-input").exists()


def _page_client(world, role="auditor") -> Client:
    client = Client()
    client.force_login(world.users[role])
    return client


def test_a_report_period_that_ends_before_it_starts_is_400(world):
    from audit.models import ReportPack

    before = ReportPack.objects.count()
    response = _page_client(world).post(
        reverse("report-list"),
        {"environment": world.env.pk, "period_start": "2026-02-02T00:00:00", "period_end": "2026-02-01T00:00:00"},
    )
    assert response.status_code == 400
    assert "The period must end after it starts." in response.content.decode()
    assert ReportPack.objects.count() == before


@pytest.mark.parametrize(
    "query",
    ["start=2026-02-02T00:00:00&end=2026-02-01T00:00:00", "start=yesterday", "outcome=maybe"],
)
def test_bad_audit_filters_are_400_on_the_page_and_the_export(world, query):
    client = _page_client(world)
    assert client.get(f"/audit/?{query}").status_code == 400
    assert client.get(f"/audit/export.csv?{query}").status_code == 400


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "ci", "expires_in_days": "soon"}, "Enter a whole number"),
        ({"name": "", "expires_in_days": "3"}, "required"),
    ],
)
def test_a_bad_token_form_is_400(world, body, message):
    response = _page_client(world, "engineer").post(reverse("token-create"), body)
    assert response.status_code == 400
    assert message in response.content.decode()


@pytest.mark.parametrize(("body", "message"), [({"decision": "maybe"}, "Choose approve or reject."), ({"decision": "approve", "comment": "x" * 2001}, "too long"), ({"decision": "reject", "reason": ""}, "needs a reason")])  # fmt: skip
def test_a_bad_gate_decision_form_is_400(world, body, message):
    response = _page_client(world, "approver1").post(reverse("gate-decide", args=[world.gate.pk]), body)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert world.gate.approvals.count() == 0


def test_a_stop_without_a_reason_is_400(world):
    response = _page_client(world, "engineer").post(reverse("execution-stop", args=[world.execution.pk]), {})
    assert response.status_code == 400
    assert "needs a reason" in response.content.decode()


def test_a_bad_cost_input_is_400(world):
    response = _page_client(world).get("/cost/?tps=lots&gsi_count=-1")
    assert response.status_code == 400


def test_an_oversized_form_is_413_with_a_page_that_says_so(world, settings):
    settings.REQUEST_BODY_MAX_BYTES = 2048
    response = _page_client(world, "engineer").post(reverse("environment-create"), {"name": "x" * 4096})
    assert response.status_code == 413
    page = response.content.decode()
    assert "Request too large" in page
    assert "larger than this server accepts (2 KiB at most)" in page


def test_too_many_fields_is_the_400_page(world, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    response = _page_client(world, "engineer").post(reverse("environment-create"), {f"f{i}": "x" for i in range(20)})
    assert response.status_code == 400
    assert "Bad request" in response.content.decode()
    assert "malformed" in response.content.decode()


def test_a_content_length_that_is_not_a_number_is_400(world):
    client = _page_client(world, "engineer")
    response = client.generic("POST", reverse("environment-create"), b"name=x", CONTENT_LENGTH="lots")
    assert response.status_code == 400
    api = _api(world, "engineer").generic("POST", "/api/v1/executions/", b"{}", CONTENT_LENGTH="lots")
    assert api.status_code == 400
    assert _error(api)["code"] == "bad_request"


def test_a_body_too_big_for_django_without_content_length_is_413(rf, settings):
    """A body read past DATA_UPLOAD_MAX_MEMORY_SIZE (no Content-Length to check first) comes
    through the 400 handler as RequestDataTooBig and is answered 413 all the same."""
    from django.core.exceptions import RequestDataTooBig

    from controlplane.limits import bad_request

    assert bad_request(rf.post("/api/v1/executions/"), RequestDataTooBig("x")).status_code == 413
    assert bad_request(rf.post("/environments/new/"), RequestDataTooBig("x")).status_code == 413
