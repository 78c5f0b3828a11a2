"""Who may do what, on every page and every API endpoint, driven from the URL resolver.

Every URL pattern of the project must have a row in PAGES or API below (or sit under a prefix of
THIRD_PARTY with its reason): a new page or endpoint without an expectation fails
``test_every_url_pattern_has_an_expectation``. Each row says, per HTTP method, what each of the
seven kinds of visitor gets:

    ok     allowed: anything but 401/403/404/405 or a redirect to sign-in (a form may still say
           400 or 409: that is the service refusing the input, not the role)
    deny   403                 login  302 to the SSO sign-in         401  API: not authenticated
    404    the object is not theirs (someone else's token)           405  the method is refused

Object-level rules ride on the same table: the lead starts the cutover (``world``), so the lead,
though an approver, is refused on that cutover's gate (four-eyes); a token is revoked only by
its owner. Each visitor's request runs in a savepoint rolled back afterwards, so one role's
approval does not change what the next one sees.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from tests.security.conftest import World

ROLES = ("engineer", "approver1", "approver2", "auditor", "lead", "outsider", "anonymous")
ANY = {"engineer", "approver1", "approver2", "auditor", "lead"}
ENGINEERS = {"engineer", "lead"}
APPROVERS = {"approver1", "approver2", "lead"}
# The cutover in ``world`` is the lead's: approving its gate is refused by the four-eyes rule.
DECIDERS = APPROVERS - {"lead"}
PACK_READERS = {"auditor", "approver1", "approver2", "lead"}
FINDING_HANDLERS = {"engineer", "approver1", "approver2", "lead"}
EVERYONE = set(ROLES)

# Prefixes that are other projects' pages, tested where they are used: the admin (staff only;
# its sign-in goes through SSO: tests/test_views.py) and allauth's sign-in flow (tests/test_sso_roles.py).
THIRD_PARTY = {"admin/": "Django admin (is_staff only)", "accounts/": "allauth: the SSO sign-in flow itself"}


def page(allowed: set[str]) -> dict[str, str]:
    return {r: "ok" if r in allowed else "login" if r == "anonymous" else "deny" for r in ROLES}


def api(allowed: set[str]) -> dict[str, str]:
    return {r: "ok" if r in allowed else "401" if r == "anonymous" else "deny" for r in ROLES}


def every(outcome: str) -> dict[str, str]:
    return dict.fromkeys(ROLES, outcome)


def api_405() -> dict[str, str]:
    """A method the endpoint lacks: 405 for people with a role, 401/403 for the others."""
    return {r: "405" if r in ANY else "401" if r == "anonymous" else "deny" for r in ROLES}


PAGES: dict[str, dict[str, dict[str, str]]] = {
    "signed-out": {"GET": every("ok")},
    "healthz": {"GET": every("ok")},
    "home": {"GET": page(ANY)},
    "profile": {"GET": page(ANY)},
    "token-create": {"POST": page(ANY), "GET": every("405")},
    # Only the owner (the engineer) can revoke the engineer's token; anyone else: no such token.
    "token-revoke": {"POST": {**page(ANY), **dict.fromkeys(ANY - {"engineer"}, "404")}, "GET": every("405")},
    "environment-create": {"GET": page(ENGINEERS), "POST": page(ENGINEERS)},
    "environment-detail": {"GET": page(ANY)},
    "deployment-create": {"POST": page(ENGINEERS), "GET": every("405")},
    "deployment-live": {"GET": page(ANY)},
    "s3-backfill": {"POST": page(ENGINEERS), "GET": every("405")},
    "deployment-cancel": {"POST": page(ENGINEERS), "GET": every("405")},
    "stack-confirm": {"POST": page(ENGINEERS), "GET": every("405")},
    "execution-start": {"POST": page(ENGINEERS), "GET": every("405")},
    "execution-detail": {"GET": page(ANY)},
    "execution-live": {"GET": page(ANY)},
    "execution-stop": {"POST": page(ENGINEERS), "GET": every("405")},
    "gate-detail": {"GET": page(ANY)},
    "gate-live": {"GET": page(ANY)},
    "gate-evidence-refresh": {"POST": page(ANY), "GET": every("405")},
    "gate-decide": {"POST": page(DECIDERS), "GET": every("405")},
    "audit-log": {"GET": page(ANY), "POST": every("405")},
    "audit-export": {"GET": page(ANY), "POST": every("405")},
    "report-list": {"GET": page(PACK_READERS), "POST": page(PACK_READERS)},
    "report-detail": {"GET": page(PACK_READERS), "POST": every("405")},
    "report-status": {"GET": page(PACK_READERS), "POST": every("405")},
    "report-download": {"GET": page(PACK_READERS), "POST": every("405")},
    "dashboard-index": {"GET": page(ANY)},
    "dashboard": {"GET": page(ANY)},
    "dashboard-status": {"GET": page(ANY)},
    "dashboard-charts": {"GET": page(ANY)},
    "cost-panel": {"GET": page(ANY)},
    # The unversioned schema and docs addresses redirect to /api/v1/ (which checks the role).
    "api/schema/": {"GET": every("ok")},
    "api/docs/": {"GET": every("ok")},
}


def read_only() -> dict[str, dict[str, str]]:
    return {"GET": api(ANY), "POST": api_405()}


API: dict[str, dict[str, dict[str, str]]] = {
    "api:me": read_only(),
    "api:environment-list": {"GET": api(ANY), "POST": api(ENGINEERS)},
    "api:environment-detail": read_only(),
    "api:environment-plan": {"GET": api(ANY), "PUT": api(ENGINEERS), "POST": api_405()},
    "api:plan-list": read_only(),
    "api:plan-detail": read_only(),
    "api:deployment-list": {"GET": api(ANY), "POST": api(ENGINEERS)},
    "api:deployment-detail": read_only(),
    "api:deployment-cancel": {"POST": api(ENGINEERS), "GET": api_405()},
    "api:deployment-stack-confirm": {"POST": api(ENGINEERS), "GET": api_405()},
    "api:execution-list": {"GET": api(ANY), "POST": api(ENGINEERS)},
    "api:execution-detail": read_only(),
    "api:execution-stop": {"POST": api(ENGINEERS), "GET": api_405()},
    "api:execution-timeline": read_only(),
    "api:gate-list": read_only(),
    "api:gate-detail": read_only(),
    "api:gate-approve": {"POST": api(DECIDERS), "GET": api_405()},
    "api:gate-override": {"POST": api(DECIDERS), "GET": api_405()},
    "api:gate-reject": {"POST": api(DECIDERS), "GET": api_405()},
    "api:gate-evidence": {"POST": api(ANY), "GET": api_405()},
    "api:reconciliation-run-list": read_only(),
    "api:reconciliation-run-detail": read_only(),
    "api:window-count-list": read_only(),
    "api:finding-list": read_only(),
    "api:finding-detail": read_only(),
    "api:finding-acknowledge": {"POST": api(FINDING_HANDLERS), "GET": api_405()},
    "api:finding-resolve": {"POST": api(FINDING_HANDLERS), "GET": api_405()},
    "api:audit-event-list": read_only(),
    "api:audit-event-detail": read_only(),
    "api:schema": read_only(),
    "api:docs": read_only(),
    "api:redoc": read_only(),
}

# The request body each write sends (valid where it can be, so "ok" is the service's answer).
BODIES = {
    "api:environment-list": lambda w: {"name": "", "kind": "sandbox", "hosted_zone_name": "", "record_name": ""},
    "api:environment-plan": lambda w: {"steps": [{"target_weight": 100}], "window_seconds": 60},
    "api:deployment-list": lambda w: {"environment": w.other.name},
    "api:execution-list": lambda w: {"environment": w.other.name},
    "api:execution-stop": lambda w: {"reason": "permission test"},
    "api:deployment-cancel": lambda w: {"reason": "permission test"},
    "api:gate-approve": lambda w: {"comment": "ok"},
    "api:gate-override": lambda w: {"reason": "accepted"},
    "api:gate-reject": lambda w: {"reason": "no"},
    "api:finding-acknowledge": lambda w: {"note": "seen"},
    "api:finding-resolve": lambda w: {"note": "fixed"},
    "gate-decide": lambda w: {"decision": "approve", "comment": "ok"},
    "execution-stop": lambda w: {"reason": "permission test"},
    "token-create": lambda w: {"name": "ci", "expires_in_days": "3"},
    "report-list": lambda w: {
        "environment": w.env.pk,
        "period_start": "2026-01-01T00:00:00",
        "period_end": "2026-01-02T00:00:00",
    },
}


def url_kwargs(key: str, w: World) -> dict:
    if "<" not in ROUTES[key]:
        return {}
    by_pk = {
        "deployment": w.deployment.pk,
        "stack": w.stack.pk,
        "execution": w.execution.pk,
        "gate": w.gate.pk,
        "plan": w.plan.pk,
        "reconciliation-run": w.run.pk,
        "finding": w.finding.pk,
        "audit-event": w.event.pk,
    }
    name = key.removeprefix("api:")
    if key == "stack-confirm":
        return {"pk": w.stack.pk}
    if key == "api:deployment-stack-confirm":
        return {"pk": w.deployment.pk, "stack_key": w.stack.stack_key}
    if key.startswith("report-"):
        return {"uid": w.pack.uid}
    if key == "token-revoke":
        return {"prefix": w.token_prefix}
    if key in {"deployment-create", "deployment-live", "s3-backfill", "execution-start"}:
        return {"name": w.other.name}
    if name.startswith("environment-") or name.startswith("dashboard"):
        return {"name": w.env.name}
    for prefix, pk in by_pk.items():
        if name.startswith(prefix + "-") or name.startswith(prefix):
            return {"pk": pk}
    raise AssertionError(f"no arguments for {key}")


def _patterns(resolvers=None, prefix="", namespace=""):
    for entry in resolvers if resolvers is not None else get_resolver().url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _patterns(entry.url_patterns, route, ns)
        elif isinstance(entry, URLPattern):
            yield route, f"{namespace}{entry.name}" if entry.name else route


def project_patterns() -> list[tuple[str, str]]:
    return [(route, key) for route, key in _patterns() if not route.startswith(tuple(THIRD_PARTY))]


ROUTES = {key: route for route, key in project_patterns()}


def test_every_url_pattern_has_an_expectation():
    keys = {key for _, key in project_patterns()}
    assert keys - (PAGES.keys() | API.keys()) == set(), "add these URLs to the permission table"
    assert (PAGES.keys() | API.keys()) - keys == set(), "these table rows name no URL any more"
    for table in (PAGES, API):
        for key, methods in table.items():
            for method, outcomes in methods.items():
                assert set(outcomes) == EVERYONE, (key, method)


def _request(w: World, key: str, method: str, role: str):
    from django.urls import reverse

    from controlplane.api.etag import gate_etag

    path = "/" + key if key.endswith("/") else reverse(key, kwargs=url_kwargs(key, w))
    body = BODIES.get(key, lambda _: {})(w)
    if key in API:
        client = APIClient()
        if role != "anonymous":
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {w.tokens[role]}")
        headers = {"HTTP_IF_MATCH": gate_etag(w.gate)} if "gate-" in key else {}
        return client.generic(method, path, data=_json(body), content_type="application/json", **headers)
    client = Client()
    if role != "anonymous":
        client.force_login(w.users[role])
    return client.post(path, body) if method == "POST" else client.generic(method, path)


def _json(body: dict) -> str:
    import json

    return json.dumps(body)


def outcome_of(response) -> str:
    code = response.status_code
    if code in (401, 403, 404, 405):
        return {401: "401", 403: "deny", 404: "404", 405: "405"}[code]
    if code == 302 and response["Location"].startswith(settings.LOGIN_URL):
        return "login"
    return "ok"


def _check(world, key: str, table: dict) -> None:
    from django.core.cache import cache

    got, expected = {}, {}
    for method, outcomes in table[key].items():
        for role in ROLES:
            cache.clear()  # the failed-token throttle counts per IP; every client here is 127.0.0.1
            with transaction.atomic():
                response = _request(world, key, method, role)
                transaction.set_rollback(True)
            got[(method, role)] = outcome_of(response)
            expected[(method, role)] = outcomes[role]
            # 502/503: a service called AWS in the request (stop) and the sandbox address is closed.
            assert response.status_code < 500 or response.status_code in (502, 503), (key, method, role)
    assert got == expected


@pytest.mark.parametrize("key", sorted(PAGES))
def test_pages(world, key):
    _check(world, key, PAGES)


@pytest.mark.parametrize("key", sorted(API))
def test_api(world, key):
    _check(world, key, API)


def test_the_four_eyes_rule_holds_for_the_starter_on_the_page_and_the_api(world):
    from controlplane.api.etag import gate_etag

    lead = world.users["lead"]
    client = Client()
    client.force_login(lead)
    page = client.post(f"/gates/{world.gate.pk}/decide/", {"decision": "approve"})
    assert page.status_code == 403
    assert "someone else" in page.content.decode() or "four-eyes" in page.content.decode()
    api_client = APIClient()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {world.tokens['lead']}")
    response = api_client.post(
        f"/api/v1/gates/{world.gate.pk}/approve/", {}, format="json", HTTP_IF_MATCH=gate_etag(world.gate)
    )
    assert response.status_code == 403
    world.gate.refresh_from_db()
    assert world.gate.approvals.count() == 0


def test_a_stack_of_another_deployment_is_not_found(world):
    """The API's stack address is scoped to its deployment: a real stack key under another
    deployment's id is 404, never the other environment's stack."""
    from migrations_app.models import Deployment

    elsewhere = Deployment.objects.create(environment=world.env, requested_by=world.users["engineer"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {world.tokens['engineer']}")
    response = client.post(f"/api/v1/deployments/{elsewhere.pk}/stacks/{world.stack.stack_key}/confirm/", format="json")
    assert response.status_code == 404
    world.stack.refresh_from_db()
    assert world.stack.confirmed_by is None
