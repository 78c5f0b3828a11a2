"""Every resource's happy path and its 4xx: environments, plans, deployments, executions,
reconciliation runs and windows, findings, audit events, the schema and its offline docs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from audit.models import AuditEvent
from migrations_app.models import CutoverPlan, Deployment, Environment, Execution, StackDeployment
from reconciliation.models import Finding, ReconciliationRun, WindowCount
from tests.api.conftest import error_of

# --- environments ---------------------------------------------------------------------------------

NEW_ENV = {
    "name": "payments-eu",
    "kind": "aws",
    "hosted_zone_name": "cutover.example.com",
    "record_name": "api.cutover.example.com",
    "control_plane_principal_arn": "arn:aws:iam::123456789012:role/control-plane",
}


@pytest.mark.django_db
def test_engineer_creates_an_environment_with_its_default_plan(api, engineer):
    response = api(engineer).post("/api/v1/environments/", NEW_ENV, format="json")
    assert response.status_code == 201, response.content
    assert response["Location"] == "/api/v1/environments/payments-eu/"
    body = response.json()
    assert body["name"] == "payments-eu" and body["source_region"] == "us-east-1" and body["is_provisioned"] is False
    plan = api(engineer).get("/api/v1/environments/payments-eu/plan/").json()
    assert plan["version"] == 1 and [s["target_weight"] for s in plan["steps"]] == [10, 100]
    assert AuditEvent.objects.get(event_type="environment.create").actor == engineer


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "Payments"}, "name"),
        ({"name": "new"}, "name"),
        ({"kind": "azure"}, "kind"),
        ({"target_region": "us-east-1", "source_region": "us-east-1"}, "non_field_errors"),
        ({"record_name": "api.elsewhere.org"}, "non_field_errors"),
        ({"kind": "sandbox"}, "non_field_errors"),  # a sandbox needs its endpoint
        ({"create_hosted_zone": "yes"}, "create_hosted_zone"),
        ({"control_plane_principal_arn": "not-an-arn"}, "control_plane_principal_arn"),
        ({"hosted_zone_id": "Z123"}, "hosted_zone_id"),  # read-only: unknown to the input
    ],
)
def test_environment_create_refuses_what_the_page_refuses(api, engineer, change, field):
    response = api(engineer).post("/api/v1/environments/", {**NEW_ENV, **change}, format="json")
    assert response.status_code == 400, response.content
    assert field in error_of(response)["fields"]
    assert not Environment.objects.exists()


@pytest.mark.django_db
def test_a_duplicate_environment_is_refused(api, engineer):
    api(engineer).post("/api/v1/environments/", NEW_ENV, format="json")
    response = api(engineer).post("/api/v1/environments/", NEW_ENV, format="json")
    assert response.status_code == 400
    assert error_of(response)["fields"] == {"name": ["An environment with this name exists."]}


@pytest.mark.django_db
def test_environments_list_filters_and_paginates(api, auditor, light_environment):
    client = api(auditor)
    body = client.get("/api/v1/environments/?kind=sandbox").json()
    assert body["count"] == 1 and body["results"][0]["name"] == light_environment.name
    assert client.get("/api/v1/environments/?kind=aws").json()["count"] == 0
    assert client.get(f"/api/v1/environments/{light_environment.name}/").json()["kind"] == "sandbox"


# --- plans ----------------------------------------------------------------------------------------

GOOD_PLAN = {
    "steps": [
        {"target_weight": 0, "soak_seconds": 60},
        {"target_weight": 50, "soak_seconds": 600},
        {"target_weight": 100, "required_approvals": 2},
    ],
    "window_seconds": 3600,
}


@pytest.mark.django_db
def test_engineer_updates_the_plan_through_the_plan_service(api, engineer, light_environment):
    response = api(engineer).put(f"/api/v1/environments/{light_environment.name}/plan/", GOOD_PLAN, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["version"] == 2 and body["deployed"] is False
    assert body["steps"][2] == {"target_weight": 100, "required_approvals": 2, "soak_seconds": 0}
    assert body["close_required_approvals"] == 2
    event = AuditEvent.objects.get(event_type="plan.update")
    assert event.actor == engineer and event.after["version"] == 2
    listing = api(engineer).get(f"/api/v1/plans/?environment={light_environment.name}").json()
    assert [p["version"] for p in listing["results"]] == [2, 1]
    assert api(engineer).get(f"/api/v1/plans/{body['id']}/").json()["window_seconds"] == 3600


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([{"target_weight": 300}], "target weight 300 is outside 0..100 %"),
        ([{"target_weight": -1}, {"target_weight": 100}], "target weight -1 is outside 0..100 %"),
        ([{"target_weight": 50}, {"target_weight": 10}, {"target_weight": 100}], "goes back from 50 %"),
        ([{"target_weight": 50}], "the last step must send 100 %"),
        ([{"target_weight": 100, "required_approvals": 9}], "required approvals must be 1 to 5"),
        ([{"target_weight": 100, "soak_seconds": 10**9}], "soak must be 0 to 7 days"),
        ([], "may not be empty"),
        ([{"target_weight": "50"}, {"target_weight": 100}], "whole number"),
        ([{"target_weight": 50.5}, {"target_weight": 100}], "whole number"),
        ([{"target_weight": True}, {"target_weight": 100}], "whole number"),
        ([{"target_weight": 100, "weight": 100}], "Unknown field"),
    ],
)
def test_bad_plans_are_400_and_change_nothing(api, engineer, light_environment, steps, message):
    response = api(engineer).put(
        f"/api/v1/environments/{light_environment.name}/plan/", {**GOOD_PLAN, "steps": steps}, format="json"
    )
    assert response.status_code == 400, response.content
    error = error_of(response)
    assert message in error["message"], error
    assert any(k.startswith("steps") for k in error["fields"])
    assert CutoverPlan.objects.filter(environment=light_environment).count() == 1
    assert not AuditEvent.objects.filter(event_type="plan.update").exists()


@pytest.mark.django_db
def test_plan_update_is_refused_while_a_cutover_runs(api, engineer, light_execution):
    env = light_execution.environment
    response = api(engineer).put(f"/api/v1/environments/{env.name}/plan/", GOOD_PLAN, format="json")
    assert response.status_code == 409
    assert "A cutover is running" in error_of(response)["message"]


@pytest.mark.django_db
def test_approvers_and_auditors_cannot_change_the_plan(api, approver1, auditor, light_environment):
    for person in (approver1, auditor):
        response = api(person).put(f"/api/v1/environments/{light_environment.name}/plan/", GOOD_PLAN, format="json")
        assert response.status_code == 403


# --- deployments (the sandbox's CloudFormation) -------------------------------------------------------


@pytest.mark.django_db
def test_deploy_then_confirm_a_change_set_then_cancel(api, engineer, empty_environment):
    from tests.conftest import drive

    client = api(engineer)
    response = client.post(
        "/api/v1/deployments/", {"environment": empty_environment.name, "stacks": ["events-source"]}, format="json"
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["status"] == "running" and [st["stack_key"] for st in created["stacks"]] == ["events-source"]
    again = client.post("/api/v1/deployments/", {"environment": empty_environment.name}, format="json")
    assert again.status_code == 409 and "already in progress" in error_of(again)["message"]

    deployment = drive(Deployment.objects.get(pk=created["id"]))  # what the Celery chain does
    status = client.get(f"/api/v1/deployments/{deployment.pk}/").json()
    assert status["status"] == "awaiting_confirmation"
    assert any(c["resource_type"] == "AWS::Events::EventBus" for c in status["stacks"][0]["changes"])

    confirm = f"/api/v1/deployments/{deployment.pk}/stacks/events-source/confirm/"
    assert client.post(confirm, {"force": True}, format="json").status_code == 400
    response = client.post(confirm, {}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] in ("executing", "complete") and response.json()["confirmed_by"] == "engineer"
    assert client.post(confirm, {}, format="json").status_code == 409  # confirmed once only
    assert (
        client.post(f"/api/v1/deployments/{deployment.pk}/stacks/nope/confirm/", {}, format="json").status_code == 404
    )
    assert AuditEvent.objects.filter(event_type="deployment.confirm", actor=engineer).count() == 1

    cancel = client.post(f"/api/v1/deployments/{deployment.pk}/cancel/", {"reason": "test"}, format="json")
    assert cancel.status_code == 200 and cancel.json()["status"] == "failed"
    assert client.post(f"/api/v1/deployments/{deployment.pk}/cancel/", {}, format="json").status_code == 409
    listing = client.get(f"/api/v1/deployments/?environment={empty_environment.name}&status=failed").json()
    assert [d["id"] for d in listing["results"]] == [deployment.pk]


@pytest.mark.django_db
def test_unknown_stacks_are_refused(api, engineer, light_environment):
    response = api(engineer).post(
        "/api/v1/deployments/", {"environment": light_environment.name, "stacks": ["nope"]}, format="json"
    )
    assert response.status_code == 409
    assert "Unknown stack(s): nope" in error_of(response)["message"]
    assert not StackDeployment.objects.exists()


# --- executions (a real state machine) -----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_engineer_starts_follows_and_stops_a_cutover(api, engineer, environment):
    from tests.conftest import wait_for_gate

    client = api(engineer)
    response = client.post("/api/v1/executions/", {"environment": environment.name}, format="json")
    assert response.status_code == 201, response.content
    pk = response.json()["id"]
    assert response["Location"] == f"/api/v1/executions/{pk}/"
    execution = Execution.objects.get(pk=pk)
    assert execution.status == "RUNNING" and execution.started_by == engineer
    gate = wait_for_gate(environment, execution)
    assert client.get(f"/api/v1/gates/?execution={pk}&status=waiting").json()["results"][0]["id"] == gate.pk
    assert client.get(f"/api/v1/executions/{pk}/").json()["status"] == "RUNNING"
    second = client.post("/api/v1/executions/", {"environment": environment.name}, format="json")
    assert second.status_code == 409 and "already running" in error_of(second)["message"]

    assert client.post(f"/api/v1/executions/{pk}/stop/", {"reason": " "}, format="json").status_code == 400
    response = client.post(f"/api/v1/executions/{pk}/stop/", {"reason": "drill over"}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "ABORTED" and response.json()["stop_reason"] == "drill over"
    assert client.get(f"/api/v1/gates/{gate.pk}/").json()["status"] == "expired"
    again = client.post(f"/api/v1/executions/{pk}/stop/", {"reason": "again"}, format="json")
    assert again.status_code == 409 and "nothing to stop" in error_of(again)["message"]
    timeline = [e["event_type"] for e in client.get(f"/api/v1/executions/{pk}/timeline/").json()["results"]]
    assert timeline[0] == "execution.start" and timeline[-1] == "execution.stop"
    listing = client.get(f"/api/v1/executions/?environment={environment.name}&status=ABORTED").json()
    assert [e["id"] for e in listing["results"]] == [pk]


# --- reconciliation ---------------------------------------------------------------------------------


@pytest.fixture
def reconciled(light_environment):
    start = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    runs = []
    for i in range(2):
        ws = start + timedelta(minutes=15 * i)
        run = ReconciliationRun.objects.create(
            environment=light_environment,
            window_start=ws,
            window_end=ws + timedelta(minutes=15),
            region_a="us-east-1",
            region_b="eu-central-1",
            status="clean" if i == 0 else "findings",
        )
        for region in ("us-east-1", "eu-central-1"):
            WindowCount.objects.create(
                environment=light_environment,
                run=run,
                window_start=ws,
                window_end=ws + timedelta(minutes=15),
                region=region,
                processed=10 + i,
                stored=20,
            )
        runs.append(run)
    finding = Finding.objects.create(
        environment=light_environment, run=runs[1], kind="duplicate_debit", summary="t-1 debited in both regions"
    )
    return runs, finding


@pytest.mark.django_db
def test_reconciliation_runs_and_windows_are_read_only_and_filterable(api, auditor, engineer, reconciled):
    runs, _ = reconciled
    client = api(auditor)
    body = client.get("/api/v1/reconciliation/runs/?status=findings").json()
    assert [r["id"] for r in body["results"]] == [runs[1].pk]
    after = runs[1].window_start.isoformat().replace("+00:00", "Z")
    assert client.get(f"/api/v1/reconciliation/runs/?window_after={after}").json()["count"] == 1
    assert client.get(f"/api/v1/reconciliation/runs/{runs[0].pk}/").json()["status"] == "clean"
    windows = client.get("/api/v1/reconciliation/windows/?region=eu-central-1").json()
    assert windows["count"] == 2 and {w["region"] for w in windows["results"]} == {"eu-central-1"}
    assert client.get(f"/api/v1/reconciliation/windows/?run={runs[0].pk}").json()["count"] == 2
    assert api(engineer).post("/api/v1/reconciliation/runs/", {}, format="json").status_code == 405
    page = client.get("/api/v1/reconciliation/windows/?page_size=1").json()
    assert page["count"] == 4 and len(page["results"]) == 1 and page["next"]


@pytest.mark.django_db
def test_findings_are_acknowledged_then_resolved_with_notes(api, engineer, approver1, reconciled):
    _, finding = reconciled
    client = api(engineer)
    assert client.get("/api/v1/findings/?status=open&kind=duplicate_debit").json()["count"] == 1
    response = client.post(f"/api/v1/findings/{finding.pk}/acknowledge/", {"note": ""}, format="json")
    assert response.status_code == 400 and "note" in error_of(response)["fields"]
    response = client.post(f"/api/v1/findings/{finding.pk}/acknowledge/", {"note": "looking"}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "acknowledged" and response.json()["acknowledged_by"] == "engineer"
    again = client.post(f"/api/v1/findings/{finding.pk}/acknowledge/", {"note": "x"}, format="json")
    assert again.status_code == 409
    response = api(approver1).post(f"/api/v1/findings/{finding.pk}/resolve/", {"note": "refunded"}, format="json")
    assert response.json()["status"] == "resolved" and response.json()["resolution_note"] == "refunded"
    assert client.post(f"/api/v1/findings/{finding.pk}/resolve/", {"note": "x"}, format="json").status_code == 409
    events = AuditEvent.objects.filter(target_type="reconciliation.finding").order_by("id")
    assert [(e.event_type, e.actor.username, e.after["note"]) for e in events] == [
        ("finding.acknowledge", "engineer", "looking"),
        ("finding.resolve", "approver1", "refunded"),
    ]
    assert client.get(f"/api/v1/findings/{finding.pk}/").json()["resolved_by"] == "approver1"


# --- audit events ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_audit_events_filter_by_time_actor_type_object_and_environment(api, auditor, engineer, light_environment):
    client = api(auditor)
    api(engineer).put(f"/api/v1/environments/{light_environment.name}/plan/", GOOD_PLAN, format="json")
    everything = client.get("/api/v1/audit-events/").json()
    assert everything["count"] == AuditEvent.objects.count() >= 4
    by_actor = client.get("/api/v1/audit-events/?actor=engineer&event_type=plan.update").json()
    assert [e["event_type"] for e in by_actor["results"]] == ["plan.update"]
    assert by_actor["results"][0]["hash"] and by_actor["results"][0]["prev_hash"]
    by_env = client.get(f"/api/v1/audit-events/?environment={light_environment.name}").json()
    assert {e["event_type"] for e in by_env["results"]} == {"environment.create", "plan.update"}
    target = f"/api/v1/audit-events/?target_type=migrations_app.environment&target_id={light_environment.pk}"
    assert client.get(target).json()["count"] == 2
    prefix = client.get("/api/v1/audit-events/?event_type_prefix=api_token.").json()
    assert {e["event_type"] for e in prefix["results"]} == {"api_token.create"}
    future = (timezone.now() + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert client.get(f"/api/v1/audit-events/?occurred_after={future}").json()["count"] == 0
    assert client.get(f"/api/v1/audit-events/?occurred_before={future}").json()["count"] == everything["count"]
    assert api(auditor).post("/api/v1/audit-events/", {}, format="json").status_code == 405  # read only


# --- schema and docs ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_schema_and_docs_are_served_offline(api, auditor):
    client = api(auditor)
    schema = client.get("/api/v1/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/gates/{id}/approve/" in paths
    assert "If-Match" in str(paths["/api/v1/gates/{id}/approve/"]["post"]["parameters"])
    for docs in ("/api/v1/docs/", "/api/v1/redoc/"):
        page = client.get(docs).content.decode()
        assert "/static/drf_spectacular_sidecar/" in page, docs
        for cdn in ("cdn.jsdelivr", "unpkg.com", "cdnjs", "https://"):
            assert cdn not in page, (docs, cdn)
    assert client.get("/api/schema/").status_code == 302
    assert client.get("/api/docs/")["Location"] == "/api/v1/docs/"


def test_schema_generation_has_no_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert "/api/v1/gates/{id}/reject/" in (tmp_path / "schema.yaml").read_text()


# --- query counts: lists do not grow a query per row ------------------------------------------------


@pytest.mark.django_db
def test_gate_and_audit_lists_use_a_fixed_number_of_queries(api, auditor, light_gate, django_assert_max_num_queries):
    from migrations_app.models import Gate

    client = api(auditor)
    client.get("/api/v1/gates/")  # warm: token last-use write, group lookups
    for i in range(2, 12):
        Gate.objects.create(
            execution=light_gate.execution, state_name=f"Gate{i:02}", entered_at=str(i), step=i, task_token="t"
        )
    with django_assert_max_num_queries(8):
        body = client.get("/api/v1/gates/").json()
    assert body["count"] == 11
    with django_assert_max_num_queries(8):
        assert client.get("/api/v1/audit-events/").json()["count"] >= 2
    with django_assert_max_num_queries(10):
        assert client.get(f"/api/v1/gates/{light_gate.pk}/").json()["checks"]
