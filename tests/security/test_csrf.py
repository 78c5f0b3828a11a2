"""CSRF on every form: each POST of the permission table, sent by a person allowed to make it,
is refused without the CSRF token and accepted with it. The API refuses a session-authenticated
write without the token too; a bearer token (not sent by browsers on their own) needs none."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.db import transaction
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from tests.security.conftest import World
from tests.security.test_permissions import API, BODIES, PAGES, url_kwargs

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"

PAGE_POSTS = sorted((key, next(r for r, o in table["POST"].items() if o == "ok")) for key, table in PAGES.items() if "POST" in table and "ok" in table["POST"].values())  # fmt: skip
API_WRITES = sorted(
    (key, method, next(r for r, o in outcomes.items() if o == "ok"))
    for key, table in API.items()
    for method, outcomes in table.items()
    if method != "GET" and "ok" in outcomes.values()
)


def _path(key: str, w: World) -> str:
    return reverse(key, kwargs=url_kwargs(key, w))


def test_the_tables_cover_forms():
    assert len(PAGE_POSTS) >= 12 and len(API_WRITES) >= 13


@pytest.mark.parametrize(("key", "role"), PAGE_POSTS)
def test_every_page_form_needs_the_csrf_token(world, key, role):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.users[role])
    body = BODIES.get(key, lambda _: {})(world)
    path = _path(key, world)
    with transaction.atomic():
        refused = client.post(path, body)
        transaction.set_rollback(True)
    assert refused.status_code == 403
    assert b"CSRF" in refused.content

    client.get("/profile/")  # any page with a form sets the cookie
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    with transaction.atomic():
        accepted = client.post(path, {**body, "csrfmiddlewaretoken": token})
        transaction.set_rollback(True)
    assert accepted.status_code != 403 or b"CSRF" not in accepted.content, key


@pytest.mark.parametrize(("key", "method", "role"), API_WRITES)
def test_every_api_write_by_session_needs_the_csrf_token(world, key, method, role):
    import json

    from controlplane.api.etag import gate_etag

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(world.users[role])
    headers = {"HTTP_IF_MATCH": gate_etag(world.gate)} if "gate-" in key else {}
    body = json.dumps(BODIES.get(key, lambda _: {})(world))
    with transaction.atomic():
        refused = client.generic(method, _path(key, world), body, content_type="application/json", **headers)
        transaction.set_rollback(True)
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["error"]["message"]


def test_every_post_form_in_the_templates_carries_the_token():
    forms = []
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text()
        for match in re.finditer(r"<form\b[^>]*>(.*?)</form>", text, flags=re.S | re.I):
            opening = match.group(0)[: match.group(0).index(">") + 1]
            if re.search(r'method="post"', opening, flags=re.I):
                forms.append((template.name, "{% csrf_token %}" in match.group(1)))
    assert len(forms) >= 8
    assert [name for name, has_token in forms if not has_token] == []
