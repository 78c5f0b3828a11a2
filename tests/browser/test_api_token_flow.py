"""An approver signs in through the IdP, creates a token on the profile page, and a script
approves a gate through the API with it: the real chain of the fresh sign-in rule."""

from __future__ import annotations

import pytest
import requests

from controlplane.accounts.models import ApiToken
from tests.browser.conftest import sign_in
from tests.conftest import wait_for_gate

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_token_made_after_an_sso_sign_in_approves_through_the_api(
    new_page, live_server, environment, started_execution, sso
):
    gate = wait_for_gate(environment, started_execution)
    page = new_page()
    sign_in(page, live_server, "approver1", next_path="/profile/")
    page.fill("input[name=name]", "approval script")
    page.click("button:has-text('Create token')")
    secret = page.get_by_test_id("token-secret").inner_text().strip()
    token = ApiToken.objects.get(user__username="approver1")
    assert secret.startswith(f"cpt_{token.prefix}_")
    assert token.signed_in_at is not None  # the IdP's auth_time of this very sign-in
    page.goto("/profile/")
    assert secret not in page.content() and f"cpt_{token.prefix}_" in page.content()
    assert "until" in page.get_by_test_id("token-list").inner_text()  # may decide gates for now

    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {secret}"
    read = api.get(f"{live_server.url}/api/v1/gates/{gate.pk}/", timeout=10)
    assert read.status_code == 200 and read.json()["status"] == "waiting"
    decided = api.post(
        f"{live_server.url}/api/v1/gates/{gate.pk}/approve/",
        json={"comment": "approved from a script"},
        headers={"If-Match": read.headers["ETag"]},
        timeout=30,
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["approvals"][0]["approver"] == "approver1"
    assert wait_for_gate(environment, started_execution).step == 2  # the execution resumed

    # Revoked on the profile page: the script is locked out at once.
    page.goto("/profile/")
    page.click("button:has-text('Revoke')")
    assert "is revoked" in page.content()
    assert api.get(f"{live_server.url}/api/v1/me/", timeout=10).status_code == 401
