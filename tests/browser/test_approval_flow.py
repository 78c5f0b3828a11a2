"""A person's path through the skeleton: SSO sign-in, start, approve, and what AWS then holds."""

from __future__ import annotations

import json

import pytest

from controlplane.aws import route53, ssm
from migrations_app.models import Execution
from tests.browser.conftest import sign_in
from tests.conftest import wait_for_gate

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def start_cutover_in_browser(page, live_server, environment, username: str) -> Execution:
    sign_in(page, live_server, username)
    page.goto(f"/environments/{environment.name}/")
    page.click("button:has-text('Start cutover')")
    page.wait_for_url("**/executions/*/")
    return Execution.objects.get(environment=environment)


def test_two_gates_with_two_approvers_in_the_browser(new_page, live_server, environment, sso):
    engineer_page = new_page()
    execution = start_cutover_in_browser(engineer_page, live_server, environment, "engineer")
    assert engineer_page.get_by_test_id("signed-in-as").inner_text() == "Erin Engineer"
    gate1 = wait_for_gate(environment, execution)  # what the beat job does every few seconds
    # The engineer's execution page picks the gate up without a reload (htmx polling).
    engineer_page.get_by_role("link", name="Open").wait_for()

    page = new_page()
    sign_in(page, live_server, "approver1", next_path=f"/gates/{gate1.pk}/")
    assert page.url == f"{live_server.url}/gates/{gate1.pk}/"
    assert page.get_by_test_id("evidence").inner_text().count("Pass") == 8
    page.fill("textarea[name=comment]", "replication lag 120 ms")
    page.click("button:has-text('Approve')")
    assert page.get_by_test_id("gate-status").inner_text() == "Approved"
    approvals = page.get_by_test_id("approvals").inner_text()
    assert "Alice Approver" in approvals and "alice.approver@example.com" in approvals
    assert "replication lag 120 ms" in approvals
    page.get_by_test_id("delivery-status").filter(has_text="Delivered").wait_for()

    # What the sandbox AWS now holds after step 1.
    gate2 = wait_for_gate(environment, execution)
    records = route53.weighted_records_list(
        target=environment.aws_target(), hosted_zone_id=environment.hosted_zone_id, name=environment.record_name
    )
    assert {r.set_identifier: r.weight for r in records} == {"us-east-1": 90, "eu-central-1": 10}
    recorded = json.loads(ssm.parameter_get(target=environment.aws_target(), name=gate1.ssm_parameter).value)
    (approver,) = recorded["approvers"]
    assert (approver["username"], approver["email"], approver["subject"]) == (
        "approver1",
        "alice.approver@example.com",
        "user-approver1",
    )
    assert approver["issuer"] == sso and approver["authenticatedAt"]

    # Step 2 (100 %) needs two people: approver1, then approver2 in the same browser after
    # signing out (the IdP asks for credentials again: prompt=login).
    page.goto(f"/gates/{gate2.pk}/")
    assert "2 distinct approvers" in page.get_by_test_id("approvals-needed").inner_text()
    page.click("button:has-text('Approve')")
    assert page.get_by_test_id("gate-status").inner_text() == "Waiting for approval"
    assert page.get_by_test_id("refusal").inner_text().startswith("You have approved this gate")
    page.click("button:has-text('Sign out')")
    sign_in(page, live_server, "approver2", next_path=f"/gates/{gate2.pk}/")
    assert page.get_by_test_id("signed-in-as").inner_text() == "Bob Approver"
    page.click("button:has-text('Approve')")
    assert page.get_by_test_id("gate-status").inner_text() == "Approved"
    page.get_by_test_id("delivery-status").filter(has_text="Delivered").wait_for()
    assert [
        a["username"]
        for a in json.loads(ssm.parameter_get(target=environment.aws_target(), name=gate2.ssm_parameter).value)[
            "approvers"
        ]
    ] == ["approver1", "approver2"]

    # The engineer's page shows both gates approved, without a reload; no token anywhere.
    engineer_page.get_by_text("Approved").nth(1).wait_for()
    for p in (engineer_page, page):
        assert gate1.task_token not in p.content() and gate2.task_token not in p.content()


def test_outsider_signs_in_and_is_refused_the_gate(new_page, live_server, environment, engineer):
    from migrations_app import services

    execution = services.execution_start(environment=environment, actor=engineer)
    gate = wait_for_gate(environment, execution)
    page = new_page()
    sign_in(page, live_server, "outsider", next_path=f"/gates/{gate.pk}/")
    response = page.goto(f"/gates/{gate.pk}/")
    assert response.status == 403
    assert "Not allowed" in page.content()


def test_lead_is_refused_on_their_own_cutover_and_approver1_approves_it(new_page, live_server, environment):
    lead_page = new_page()
    execution = start_cutover_in_browser(lead_page, live_server, environment, "lead")
    gate = wait_for_gate(environment, execution)
    lead_page.goto(f"/gates/{gate.pk}/")
    assert lead_page.get_by_test_id("refusal").inner_text().startswith("You started this cutover")
    assert lead_page.locator("button:has-text('Approve')").count() == 0

    page = new_page()
    sign_in(page, live_server, "approver1", next_path=f"/gates/{gate.pk}/")
    page.click("button:has-text('Approve')")
    assert page.get_by_test_id("gate-status").inner_text() == "Approved"
    assert wait_for_gate(environment, execution).step == 2
