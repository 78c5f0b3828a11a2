"""Personal API tokens: hashed at rest, shown once, expiring, revocable, audited, throttled on
failure, never logged; the profile page and the api_token command."""

from __future__ import annotations

import hashlib
import io
import logging
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEvent
from controlplane.accounts.models import ApiToken
from controlplane.accounts.tokens import api_token_revoke
from tests.api.conftest import error_of, token_for

pytestmark = pytest.mark.django_db


def bearer(secret: str, **extra) -> APIClient:
    client = APIClient(**extra)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_a_token_is_stored_hashed_with_a_visible_prefix_and_audited(engineer):
    issued = token_for(engineer)
    token = ApiToken.objects.get()
    assert issued.secret.startswith(f"cpt_{token.prefix}_")
    assert len(issued.secret) > 50
    assert token.secret_hash == hashlib.sha256(issued.secret.encode()).hexdigest()
    assert issued.secret not in str(ApiToken.objects.values().get())
    event = AuditEvent.objects.get(event_type="api_token.create")
    assert event.actor == engineer
    assert event.after["prefix"] == token.prefix and event.after["user"] == "engineer"
    assert issued.secret.split("_")[-1] not in str(event.after)


def test_a_token_acts_as_its_user_with_their_current_roles(engineer):
    client = bearer(token_for(engineer).secret)
    me = client.get("/api/v1/me/").json()
    assert me["username"] == "engineer" and me["roles"] == ["engineer"]
    assert me["authenticated_by"] == "token"

    engineer.groups.clear()  # the IdP no longer grants a role (synced at the next sign-in)
    response = client.get("/api/v1/environments/")
    assert response.status_code == 403
    assert error_of(response)["code"] == "permission_denied"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("Bearer", "Authorization: Bearer <token>"),
        ("Bearer a b", "Authorization: Bearer <token>"),
        ("Bearer not-a-token", "malformed"),
        ("Bearer cpt_000000000000_" + "x" * 43, "not valid"),
    ],
)
def test_a_bad_token_is_401_with_a_clear_message(engineer, header, message):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/environments/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    error = error_of(response)
    assert error["code"] == "authentication_failed"
    assert message in error["message"]


def test_a_token_with_a_wrong_secret_but_a_real_prefix_is_refused(engineer):
    issued = token_for(engineer)
    forged = issued.secret[:-4] + ("AAAA" if not issued.secret.endswith("AAAA") else "BBBB")
    response = bearer(forged).get("/api/v1/environments/")
    assert response.status_code == 401
    assert error_of(response)["message"] == "The API token is not valid."


def test_an_expired_token_is_refused(engineer):
    issued = token_for(engineer)
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = bearer(issued.secret).get("/api/v1/environments/")
    assert response.status_code == 401
    assert "expired" in error_of(response)["message"]


def test_a_revoked_token_is_refused_at_once_and_revocation_is_audited(engineer):
    issued = token_for(engineer)
    client = bearer(issued.secret)
    assert client.get("/api/v1/environments/").status_code == 200
    api_token_revoke(token=issued.token, actor=engineer)
    response = client.get("/api/v1/environments/")
    assert response.status_code == 401
    assert "revoked" in error_of(response)["message"]
    event = AuditEvent.objects.get(event_type="api_token.revoke")
    assert event.actor == engineer and event.after["prefix"] == issued.token.prefix
    with pytest.raises(ValueError, match="already revoked"):
        api_token_revoke(token=issued.token, actor=engineer)


def test_only_the_owner_revokes_a_token(engineer, approver1):
    issued = token_for(engineer)
    with pytest.raises(PermissionError):
        api_token_revoke(token=issued.token, actor=approver1)
    assert ApiToken.objects.get().revoked_at is None


def test_a_deactivated_users_token_is_refused(engineer):
    issued = token_for(engineer)
    engineer.is_active = False
    engineer.save()
    assert bearer(issued.secret).get("/api/v1/environments/").status_code == 401


def test_failed_token_authentications_are_throttled_per_ip(engineer):
    good = token_for(engineer).secret
    bad = bearer("cpt_000000000000_" + "y" * 43, REMOTE_ADDR="10.0.0.7")
    for _ in range(10):
        assert bad.get("/api/v1/environments/").status_code == 401
    response = bad.get("/api/v1/environments/")
    assert response.status_code == 429
    assert error_of(response)["code"] == "throttled"
    assert int(response["Retry-After"]) > 0
    # From that address even a good token waits; a spoofed X-Forwarded-For changes nothing.
    assert bearer(good, REMOTE_ADDR="10.0.0.7").get("/api/v1/environments/").status_code == 429
    spoofed = bearer(good, REMOTE_ADDR="10.0.0.7", HTTP_X_FORWARDED_FOR="192.0.2.1")
    assert spoofed.get("/api/v1/environments/").status_code == 429
    # Another address is not affected, and successes are never counted.
    other = bearer(good, REMOTE_ADDR="10.0.0.8")
    for _ in range(15):
        assert other.get("/api/v1/environments/").status_code == 200


def test_last_use_is_recorded(engineer):
    issued = token_for(engineer)
    bearer(issued.secret, REMOTE_ADDR="10.1.2.3").get("/api/v1/me/")
    token = ApiToken.objects.get()
    assert token.last_used_at is not None and token.last_used_ip == "10.1.2.3"


def test_the_session_works_too_and_csrf_is_enforced_for_writes(engineer, light_environment):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(engineer)
    assert client.get("/api/v1/me/").json()["authenticated_by"] == "session"
    response = client.post("/api/v1/executions/", {"environment": light_environment.name}, format="json")
    assert response.status_code == 403
    assert "CSRF" in error_of(response)["message"]


def test_anonymous_requests_are_401(db):
    response = APIClient().get("/api/v1/gates/")
    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"


# --- the profile page ----------------------------------------------------------------------------


def test_profile_creates_a_token_shown_once_and_lists_it_by_prefix(client, engineer):
    client.force_login(engineer)
    assert client.get("/profile/").status_code == 200
    response = client.post("/profile/tokens/", {"name": "release pipeline", "expires_in_days": 7})
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    token = ApiToken.objects.get()
    page = response.content.decode()
    secret = page.split('data-testid="token-secret">')[1].split("<")[0]
    assert secret.startswith(f"cpt_{token.prefix}_")
    assert token.signed_in_at == engineer.idp_authenticated_at and token.created_via == "profile"
    assert (token.expires_at - token.created_at).days == 7
    later = client.get("/profile/").content.decode()
    assert f"cpt_{token.prefix}_…" in later and secret not in later
    assert "release pipeline" in later


def test_profile_refuses_a_bad_token_form(client, engineer):
    client.force_login(engineer)
    response = client.post("/profile/tokens/", {"name": "", "expires_in_days": 9999})
    assert response.status_code == 400
    assert not ApiToken.objects.exists()


def test_profile_revokes_only_your_own_token(client, engineer, approver1):
    mine = token_for(engineer).token
    theirs = token_for(approver1).token
    client.force_login(engineer)
    assert client.post(f"/profile/tokens/{theirs.prefix}/revoke/").status_code == 404
    response = client.post(f"/profile/tokens/{mine.prefix}/revoke/", follow=True)
    assert "is revoked" in response.content.decode()
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.revoked_at is not None and theirs.revoked_at is None


def test_outsider_has_no_profile_page(client, outsider):
    client.force_login(outsider)
    assert client.get("/profile/").status_code == 403
    assert client.post("/profile/tokens/", {"name": "x", "expires_in_days": 1}).status_code == 403
    assert not ApiToken.objects.exists()


# --- the command line ------------------------------------------------------------------------------


def test_api_token_command_prints_a_working_token_that_cannot_decide(engineer):
    out, err = io.StringIO(), io.StringIO()
    call_command("api_token", "create", "engineer", "--expires-in", "3", stdout=out, stderr=err)
    secret = out.getvalue().strip()
    token = ApiToken.objects.get()
    assert secret.startswith(f"cpt_{token.prefix}_")
    assert token.created_via == "command" and token.signed_in_at is None
    assert (token.expires_at - token.created_at).days == 3
    assert secret not in err.getvalue()
    assert bearer(secret).get("/api/v1/me/").json()["may_decide_gates_until"] is None
    event = AuditEvent.objects.get(event_type="api_token.create")
    assert event.actor is None and event.actor_name == "system:manage.py api_token"

    call_command("api_token", "list", "engineer", stdout=(listing := io.StringIO()))
    assert token.prefix in listing.getvalue() and secret not in listing.getvalue()
    call_command("api_token", "revoke", token.prefix, stdout=io.StringIO())
    assert bearer(secret).get("/api/v1/me/").status_code == 401


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "nobody"], "No user named"),
        (["create", "engineer", "--expires-in", "0"], "expires in 1 to"),
        (["create", "engineer", "--expires-in", "100000"], "expires in 1 to"),
        (["revoke", "ffffffffffff"], "No token"),
    ],
)
def test_api_token_command_refuses_bad_input(engineer, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("api_token", *args, stdout=io.StringIO(), stderr=io.StringIO())
    assert not ApiToken.objects.exists()


# --- never in a log or a later response --------------------------------------------------------------


def test_the_token_is_in_no_log_line_and_no_response_after_creation(client, caplog, engineer, light_environment):
    caplog.set_level(logging.DEBUG)
    client.force_login(engineer)
    page = client.post("/profile/tokens/", {"name": "ci", "expires_in_days": 1}).content.decode()
    secret = page.split('data-testid="token-secret">')[1].split("<")[0]
    api = bearer(secret)
    responses = [
        api.get("/api/v1/me/"),
        api.get("/api/v1/environments/"),
        api.get("/api/v1/audit-events/"),
        api.post("/api/v1/executions/", {"environment": light_environment.name, "bogus": 1}, format="json"),
        bearer(secret + "x").get("/api/v1/me/"),  # a failure, logged as 401
        bearer(secret[:-1]).get("/api/v1/me/"),
        client.get("/profile/"),
    ]
    prefix = ApiToken.objects.get().prefix
    client.post(f"/profile/tokens/{prefix}/revoke/")
    responses.append(api.get("/api/v1/me/"))
    body = secret.split("_")[-1]
    for response in responses:
        assert body not in response.content.decode()
        assert body not in str(response.headers)
    assert "Unauthorized" in caplog.text  # the failures were logged...
    assert body not in caplog.text  # ...without the token
    assert not AuditEvent.objects.filter(after__icontains=body).exists()
    for event in AuditEvent.objects.all():
        assert body not in str(event.before) + str(event.after)
