"""Headless Debian Chromium driven by Playwright, against the live server and the real IdP."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Nothing outside this machine: the IdP's and our pages must not need it.
_NOT_LOOPBACK = re.compile(r"^(?!https?://(127\.0\.0\.1|localhost)[:/])")


@pytest.fixture(scope="session")
def browser():
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        message = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("REQUIRE_BROWSER_TESTS"):
            pytest.fail(message + "; REQUIRE_BROWSER_TESTS is set, so this is an error")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def sso(settings, sandbox_idp):
    """Point django-allauth at the sandbox IdP started for this test session."""
    providers = {"openid_connect": dict(settings.SOCIALACCOUNT_PROVIDERS["openid_connect"])}
    app = dict(providers["openid_connect"]["APPS"][0])
    app["settings"] = dict(app["settings"], server_url=sandbox_idp)
    providers["openid_connect"]["APPS"] = [app]
    settings.SOCIALACCOUNT_PROVIDERS = providers
    # The CSP lets forms lead to the IdP (a decision needing a fresh sign-in is redirected there):
    # this session's IdP, on its own port.
    policy = {**settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]}
    policy["form-action"] = [*policy["form-action"], sandbox_idp.rstrip("/")]
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": policy}
    return sandbox_idp


@pytest.fixture
def new_page(browser, live_server, sso):
    """Open a page in a fresh browser context (its own cookies: one person each)."""
    contexts = []

    def _new_page():
        context = browser.new_context(base_url=live_server.url)
        context.route(_NOT_LOOPBACK, lambda route: route.abort())
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        return page

    yield _new_page
    for context in contexts:
        context.close()


def sign_in(page, live_server, username: str, next_path: str = "/") -> None:
    """Sign in through the IdP's login form, as a person would."""
    page.goto(live_server.url + next_path)
    page.fill("input[name=login]", username)
    page.fill("input[name=password]", f"{username}-pass")
    page.click("button:has-text('Sign in')")
    page.wait_for_url(re.compile("^" + re.escape(live_server.url)))
