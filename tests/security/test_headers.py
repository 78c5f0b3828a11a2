"""Production settings pass `check --deploy`; every response carries the security headers; no
template has inline script, inline style or an on* handler (the CSP would block them)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "controlplane.settings",
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "a-real-key-from-the-environment-" + "k3y" * 12,
    "DJANGO_ALLOWED_HOSTS": "cutover.example.com",
}


def _run(code: str, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "REQUEST_BODY"))}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**clean, **PRODUCTION, "CONTROLPLANE_VAR_DIR": str(REPO / "var" / "test"), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_has_no_warnings_with_production_settings():
    result = _run(
        "import django, sys; from django.core.management import call_command; django.setup();"
        "call_command('check', deploy=True, fail_level='WARNING')"
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


SETTINGS = (
    "import django, json; django.setup(); from django.conf import settings as s;"
    "print(json.dumps([s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY,"
    " s.CSRF_COOKIE_HTTPONLY, s.SECURE_HSTS_SECONDS, s.SECURE_SSL_REDIRECT, s.X_FRAME_OPTIONS,"
    " getattr(s, 'SECURE_PROXY_SSL_HEADER', None)]))"
)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"DJANGO_SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto"},
            [True, True, True, True, 31536000, True, "DENY", ["HTTP_X_FORWARDED_PROTO", "https"]],
        ),
        (
            {"DJANGO_SECURE_COOKIES": "false", "DJANGO_HSTS_SECONDS": "600"},
            [False, False, True, True, 600, False, "DENY", None],
        ),
    ],
)
def test_hsts_and_secure_cookies_follow_djangos_secure_cookies(env, expected):
    import json

    result = _run(SETTINGS, **env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == expected


def test_every_page_response_carries_the_headers(client, auditor):
    client.force_login(auditor)
    response = client.get("/")
    assert response.status_code == 200
    csp = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";") if part.strip())
    assert csp["default-src"] == "'self'"
    assert csp["script-src"] == "'self'"
    assert csp["style-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'"
    assert csp["object-src"] == "'none'"
    assert "unsafe" not in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_the_api_and_the_error_pages_carry_the_csp_too(client, auditor):
    assert "default-src 'self'" in client.get("/api/v1/me/")["Content-Security-Policy"]
    client.force_login(auditor)
    assert "default-src 'self'" in client.get("/no-such-page/")["Content-Security-Policy"]


def test_only_the_api_docs_relax_style_src_and_never_script_src(client, auditor):
    client.force_login(auditor)
    for docs in ("/api/v1/docs/", "/api/v1/redoc/"):
        response = client.get(docs)
        assert response.status_code == 200
        policy = response["Content-Security-Policy"]
        assert "style-src 'self' 'unsafe-inline'" in policy, docs
        assert "script-src 'self';" in policy + ";", docs
        assert "<script>" not in response.content.decode(), docs
    script = client.get("/api/v1/docs/?script=")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()


INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "inline <script>"),
    (re.compile(r"<style\b", re.I), "<style> element"),
    (re.compile(r"\sstyle\s*=", re.I), "style= attribute"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "on* event handler"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
    (re.compile(r"\bhx-on\b|\bhx-vars\b|\bhx-on:", re.I), "htmx attribute that evaluates code"),
]


def test_no_template_has_inline_script_style_or_handlers():
    found = []
    for template in sorted((REPO / "templates").rglob("*.html")):
        text = re.sub(r"{%\s*comment\s*%}.*?{%\s*endcomment\s*%}", "", template.read_text(), flags=re.S)
        for pattern, what in INLINE:
            if pattern.search(text):
                found.append(f"{template.relative_to(REPO)}: {what}")
    assert found == []


def test_htmx_is_configured_not_to_inject_styles_or_run_scripts():
    base = (REPO / "templates" / "base.html").read_text()
    assert '"includeIndicatorStyles": false' in base
    assert '"allowScriptTags": false' in base
    assert '"allowEval": false' in base
