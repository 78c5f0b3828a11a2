#!/usr/bin/env python3
"""End-to-end smoke test of the sandbox OpenID Connect IdP (server.js).

Starts `node server.js` on a free loopback port, then drives the authorization-code flow with
PKCE (S256) the way django-allauth will: discovery, /auth, the login form, the code exchange
with client_secret_post, userinfo. Also checks prompt=login, a wrong password, redirect URI
rules, the logout page, that pages reference no external URLs, and a clean SIGTERM exit.

Run:  /work/main/.venv/bin/python sandbox/idp/smoke_test.py   (needs `npm ci` in sandbox/idp)
Exits non-zero on the first failure.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlparse

import requests

HERE = Path(__file__).resolve().parent
NODE = shutil.which("node") or "/usr/bin/node"
CLIENT_ID = "cutover-control-plane"
CLIENT_SECRET = "sandbox-secret"
SCOPE = "openid profile email groups"
CALLBACK_PATH = "/accounts/oidc/sandbox/login/callback/"

PASSED: list[str] = []


class SmokeFailure(Exception):
    pass


def check(cond: bool, what: str, detail: object = "") -> None:
    if not cond:
        raise SmokeFailure(f"{what}: {detail}" if detail != "" else what)
    PASSED.append(what)
    print(f"PASS  {what}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_payload(token: str) -> dict:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def no_external_refs(body: str) -> bool:
    return re.search(r"(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}|googleapis|<script", body) is None


class IdP:
    """A running server.js; stdout/stderr are collected by threads."""

    def __init__(self, port: int, env: dict[str, str] | None = None):
        self.port = port
        full_env = dict(os.environ, IDP_PORT=str(port), **(env or {}))
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [NODE, str(HERE / "server.js")],
            cwd=HERE,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self.ready = threading.Event()
        threading.Thread(target=self._read, args=(self.proc.stdout, self.stdout, True), daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr, False), daemon=True).start()

    def _read(self, stream, sink, is_stdout):
        for line in stream:
            sink.append(line.rstrip("\n"))
            if is_stdout and line.startswith("IdP ready"):
                self.ready.set()

    def wait_ready(self, timeout: float = 15.0) -> float:
        if not self.ready.wait(timeout):
            self.stop()
            raise SmokeFailure(f"IdP not ready in {timeout}s; stdout={self.stdout} stderr={self.stderr}")
        return time.monotonic() - self.started

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                return self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        return self.proc.returncode


class Flow:
    """One browser-like user agent (its own cookie jar) against the IdP."""

    def __init__(self, disc: dict):
        self.disc = disc
        self.http = requests.Session()

    def start(self, redirect_uri: str, prompt: str | None = None, pkce: bool = True):
        self.redirect_uri = redirect_uri
        self.state = secrets.token_urlsafe(16)
        self.nonce = secrets.token_urlsafe(16)
        self.verifier = b64url(secrets.token_bytes(32))
        params = {
            "client_id": CLIENT_ID,
            "response_type": "code",
            "scope": SCOPE,
            "redirect_uri": redirect_uri,
            "state": self.state,
            "nonce": self.nonce,
        }
        if pkce:
            params["code_challenge"] = b64url(hashlib.sha256(self.verifier.encode()).digest())
            params["code_challenge_method"] = "S256"
        if prompt:
            params["prompt"] = prompt
        r = self.http.get(self.disc["authorization_endpoint"], params=params, allow_redirects=False, timeout=10)
        return self.follow(r)

    def follow(self, r: requests.Response) -> requests.Response:
        """Follow IdP-internal redirects; stop at a page or at the redirect to the client."""
        for _ in range(10):
            if r.status_code == 200 and "<title>Submitting Callback</title>" in r.text:
                # oidc-provider's auto-submitting form (a browser posts it by script): used when
                # prompt=login ends with a different user than the IdP session's; it ends the old
                # session at /session/end/confirm, then resumes the authorization.
                action = html.unescape(re.search(r'<form method="post" action="([^"]+)"', r.text).group(1))
                if not action.startswith(self.disc["issuer"]):
                    return r
                fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', r.text))
                self.auto_posts = getattr(self, "auto_posts", 0) + 1
                r = self.http.post(
                    action, data={k: html.unescape(v) for k, v in fields.items()}, allow_redirects=False, timeout=10
                )
                continue
            if r.status_code not in (301, 302, 303, 307, 308):
                return r
            loc = urljoin(r.url, r.headers["Location"])
            if hasattr(self, "redirect_uri") and loc.startswith(self.redirect_uri.split("?")[0]):
                return r
            r = self.http.get(loc, allow_redirects=False, timeout=10)
        raise SmokeFailure("too many redirects")

    @staticmethod
    def login_form(r: requests.Response) -> str | None:
        m = re.search(r'<form method="post" action="([^"]+)"', r.text)
        return html.unescape(m.group(1)) if m else None

    def submit(self, form_page: requests.Response, username: str, password: str) -> requests.Response:
        action = urljoin(form_page.url, self.login_form(form_page))
        r = self.http.post(action, data={"login": username, "password": password}, allow_redirects=False, timeout=10)
        return self.follow(r)

    def callback_params(self, r: requests.Response) -> dict:
        if r.status_code not in (302, 303):
            raise SmokeFailure(f"expected redirect to the client, got {r.status_code}: {r.text[:300]}")
        loc = r.headers["Location"]
        if not loc.startswith(self.redirect_uri):
            raise SmokeFailure(f"redirected to {loc}, expected {self.redirect_uri}")
        return {k: v[0] for k, v in parse_qs(urlparse(loc).query).items()}

    def exchange(self, code: str, verifier: str | None = None) -> requests.Response:
        return requests.post(
            self.disc["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.redirect_uri,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "code_verifier": verifier or self.verifier,
            },
            timeout=10,
        )


def full_login(flow: Flow, redirect_uri: str, username: str, password: str, prompt: str | None = None):
    page = flow.start(redirect_uri, prompt=prompt)
    if page.status_code != 200 or not flow.login_form(page):
        raise SmokeFailure(f"no login form: {page.status_code} {page.text[:300]}")
    params = flow.callback_params(flow.submit(page, username, password))
    tokens = flow.exchange(params["code"])
    if tokens.status_code != 200:
        raise SmokeFailure(f"token exchange failed: {tokens.status_code} {tokens.text}")
    return params, tokens.json()


def main() -> int:
    port = free_port()
    idp = IdP(port)
    try:
        took = idp.wait_ready()
        issuer = f"http://127.0.0.1:{port}"
        ready = [line for line in idp.stdout if line.startswith("IdP ready")]
        print(f"INFO  startup line: {ready[0]}")
        print(f"INFO  ready after {took:.2f}s")
        check(
            ready[0]
            == f"IdP ready: issuer={issuer} discovery={issuer}/.well-known/openid-configuration client_id={CLIENT_ID}",
            "startup line has issuer, discovery URL and client id",
            ready,
        )
        check(idp.stdout == ready, "stdout carries only the ready line", idp.stdout)

        # --- discovery
        disc = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()
        check(disc["issuer"] == issuer, "discovery issuer", disc["issuer"])
        check(
            disc.get("code_challenge_methods_supported") == ["S256"],
            "discovery: PKCE S256 only",
            disc.get("code_challenge_methods_supported"),
        )
        check(
            {"openid", "profile", "email", "groups"} <= set(disc["scopes_supported"]),
            "discovery: scopes",
            disc["scopes_supported"],
        )
        check(
            {"groups", "email", "name", "preferred_username", "auth_time"} <= set(disc["claims_supported"]),
            "discovery: claims",
            disc["claims_supported"],
        )
        check("client_secret_post" in disc["token_endpoint_auth_methods_supported"], "discovery: client_secret_post")
        check(
            disc["response_types_supported"] == ["code"],
            "discovery: response_types code",
            disc["response_types_supported"],
        )
        jwks = requests.get(disc["jwks_uri"], timeout=10).json()
        check(any(k.get("kty") == "RSA" and "d" not in k for k in jwks["keys"]), "jwks: public RSA key only")

        # --- full code flow on a random loopback port (not a configured one)
        cb = f"http://127.0.0.1:54321{CALLBACK_PATH}"
        ua = Flow(disc)
        page = ua.start(cb)
        check(page.status_code == 200 and "/interaction/" in page.url, "GET /auth leads to /interaction/:uid", page.url)
        check(
            'name="login"' in page.text and 'name="password"' in page.text and ">Sign in</button>" in page.text,
            "login form has login/password fields and a 'Sign in' button",
        )
        check(no_external_refs(page.text), "login page references no external URL or script")
        check(page.headers.get("Cache-Control") == "no-store", "login page is no-store")

        # wrong password first, then the right one on the same interaction
        bad = ua.submit(page, "engineer", "wrong-password")
        check(
            bad.status_code == 200 and "Invalid username or password" in bad.text and ua.login_form(bad),
            "wrong password shows the form again with 'Invalid username or password'",
        )
        check('value="engineer"' in bad.text, "username kept in the form after a failed login")
        unknown = ua.submit(page, "nobody", "nobody-pass")
        check("Invalid username or password" in unknown.text, "unknown user gets the same error")

        params = ua.callback_params(ua.submit(bad, "engineer", "engineer-pass"))
        check(
            "code" in params and params.get("state") == ua.state and params.get("iss") == issuer,
            "redirect to the random-port callback with code, state and iss",
            params,
        )
        wrong = ua.exchange(params["code"], verifier=b64url(secrets.token_bytes(32)))
        check(
            wrong.status_code == 400 and wrong.json().get("error") == "invalid_grant",
            "token exchange with a wrong code_verifier fails (invalid_grant)",
            wrong.text,
        )
        # the code is spent by the failed attempt? oidc-provider consumes it only on success;
        # run a fresh flow to be independent of that detail.
        params = ua.callback_params(ua.start(cb))  # existing IdP session: no form
        check("code" in params, "second /auth with an IdP session returns a code without the form")
        tok = ua.exchange(params["code"])
        check(tok.status_code == 200, "token exchange with client_secret_post + code_verifier", tok.text)
        tok = tok.json()
        claims = jwt_payload(tok["id_token"])
        print(f"INFO  id_token claims: {json.dumps(claims, sort_keys=True)}")
        check(claims["iss"] == issuer and claims["aud"] == CLIENT_ID, "id_token iss/aud", claims)
        check(claims["sub"] == "user-engineer", "id_token sub is stable 'user-engineer'", claims["sub"])
        check(claims.get("nonce") == ua.nonce, "id_token nonce echoes the request")
        check(
            claims.get("email") == "erin.engineer@example.com" and claims.get("email_verified") is True,
            "id_token email + email_verified",
        )
        check(
            claims.get("name") == "Erin Engineer" and claims.get("preferred_username") == "engineer",
            "id_token name + preferred_username",
        )
        check(claims.get("groups") == ["engineers"], "id_token groups", claims.get("groups"))
        check(isinstance(claims.get("auth_time"), int), "id_token auth_time present")
        ui = requests.get(
            disc["userinfo_endpoint"], headers={"Authorization": f"Bearer {tok['access_token']}"}, timeout=10
        )
        check(
            ui.status_code == 200 and ui.json().get("groups") == ["engineers"] and ui.json()["sub"] == "user-engineer",
            "userinfo returns sub and groups",
            ui.text,
        )

        # --- prompt=login forces the form again, and a newer auth_time
        first_auth_time = claims["auth_time"]
        time.sleep(1.2)
        page = ua.start(cb, prompt="login")
        check(
            page.status_code == 200 and ua.login_form(page) is not None,
            "prompt=login shows the login form despite the IdP session",
        )
        params = ua.callback_params(ua.submit(page, "engineer", "engineer-pass"))
        tok2 = ua.exchange(params["code"]).json()
        c2 = jwt_payload(tok2["id_token"])
        check(
            c2["auth_time"] > first_auth_time,
            "re-login id_token has a newer auth_time",
            (first_auth_time, c2["auth_time"]),
        )
        check(c2["sub"] == "user-engineer", "re-login keeps the same sub")

        # prompt=login as someone else replaces the session user
        page = ua.start(cb, prompt="login")
        params = ua.callback_params(ua.submit(page, "approver1", "approver1-pass"))
        c3 = jwt_payload(ua.exchange(params["code"]).json()["id_token"])
        check(
            c3["sub"] == "user-approver1" and c3["groups"] == ["compliance-approvers"],
            "prompt=login as another user yields that user's sub and groups",
            c3,
        )
        check(
            getattr(ua, "auto_posts", 0) == 1, "  (switching user went through oidc-provider's auto-submit logout form)"
        )

        # --- other users' groups
        for user, groups in [("lead", ["engineers", "compliance-approvers"]), ("outsider", [])]:
            _, t = full_login(Flow(disc), cb, user, f"{user}-pass")
            c = jwt_payload(t["id_token"])
            check(c["groups"] == groups and c["sub"] == f"user-{user}", f"{user}: groups {groups}", c)

        # localhost callback on another random port
        lcb = f"http://localhost:61234{CALLBACK_PATH}"
        p, t = full_login(Flow(disc), lcb, "auditor", "auditor-pass")
        check(jwt_payload(t["id_token"])["groups"] == ["auditors"], "localhost:<random port> callback works (auditor)")

        # --- PKCE is required
        f = Flow(disc)
        r = f.start(cb, pkce=False)
        loc = r.headers.get("Location", "")
        check(
            r.status_code in (302, 303) and loc.startswith(cb) and "error=invalid_request" in loc and "PKCE" in loc,
            "authorization request without PKCE is refused",
            loc,
        )

        # --- redirect URI rules
        for bad_uri, why in [
            (f"http://evil.example.com:54321{CALLBACK_PATH}", "non-loopback host"),
            ("http://127.0.0.1:54321/elsewhere/", "loopback host, other path"),
            (f"http://127.0.0.1:54321@evil.example.com{CALLBACK_PATH}", "userinfo trick"),
            (f"https://127.0.0.1:54321{CALLBACK_PATH}", "https scheme differs"),
            (f"http://127.0.0.2:54321{CALLBACK_PATH}", "other loopback address not configured"),
        ]:
            f = Flow(disc)
            r = f.start(bad_uri)
            check(
                r.status_code == 400 and "Location" not in r.headers and "redirect_uri" in r.text,
                f"redirect_uri rejected ({why}) with a 400 error page",
                (r.status_code, r.headers.get("Location")),
            )
        check(no_external_refs(r.text), "error page references no external URL (no Google Fonts)")

        # --- logout page (RP-initiated) and loopback post_logout_redirect_uri
        f = Flow(disc)
        full_login(f, cb, "engineer", "engineer-pass")
        plr = "http://127.0.0.1:54321/"
        r = f.http.get(
            disc["end_session_endpoint"],
            params={"client_id": CLIENT_ID, "post_logout_redirect_uri": plr},
            allow_redirects=False,
            timeout=10,
        )
        check(
            r.status_code == 200 and 'id="op.logoutForm"' in r.text and no_external_refs(r.text),
            "logout confirmation page, no external URL",
            r.text[:300],
        )
        m = re.search(
            r'<form id="op.logoutForm" method="post" action="([^"]+)"><input type="hidden" name="xsrf" value="([^"]+)"',
            r.text,
        )
        check(m is not None, "logout form found")
        r = f.http.post(
            urljoin(r.url, html.unescape(m.group(1))),
            data={"xsrf": m.group(2), "logout": "yes"},
            allow_redirects=False,
            timeout=10,
        )
        check(
            r.status_code in (302, 303) and r.headers["Location"].startswith(plr),
            "logout redirects to loopback post_logout_redirect_uri on a random port",
            r.headers.get("Location"),
        )
        page = f.start(cb)
        check(page.status_code == 200 and f.login_form(page), "after IdP logout the login form is shown again")

    finally:
        rc = idp.stop()
    check(rc == 0, "SIGTERM: exits with status 0", rc)
    stderr = "\n".join(idp.stderr)
    check("server_error" not in stderr and "interaction error" not in stderr, "no server errors on stderr", stderr)
    print("INFO  stderr of the IdP:\n      " + "\n      ".join(idp.stderr))

    # --- a second instance: loopback-any-port switched off, custom users file
    with tempfile.TemporaryDirectory() as tmp:
        users = Path(tmp) / "users.json"
        users.write_text(
            json.dumps(
                [
                    {
                        "username": "solo",
                        "password": "solo-pass",
                        "name": "Solo",
                        "email": "solo@example.com",
                        "groups": ["g1"],
                    }
                ]
            )
        )
        port2 = free_port()
        strict = IdP(
            port2,
            {
                "IDP_ALLOW_LOOPBACK_ANY_PORT": "false",
                "IDP_USERS_FILE": str(users),
                "IDP_REDIRECT_URIS": f"http://127.0.0.1:8000{CALLBACK_PATH}",
            },
        )
        try:
            strict.wait_ready()
            disc2 = requests.get(f"http://127.0.0.1:{port2}/.well-known/openid-configuration", timeout=10).json()
            r = Flow(disc2).start(f"http://127.0.0.1:54321{CALLBACK_PATH}")
            check(r.status_code == 400, "IDP_ALLOW_LOOPBACK_ANY_PORT=false: random port rejected", r.status_code)
            _, t = full_login(Flow(disc2), f"http://127.0.0.1:8000{CALLBACK_PATH}", "solo", "solo-pass")
            check(jwt_payload(t["id_token"])["groups"] == ["g1"], "IDP_USERS_FILE + exact redirect URI work")
            # users file is re-read on each login: group change shows up at the next login
            users.write_text(
                json.dumps(
                    [
                        {
                            "username": "solo",
                            "password": "solo-pass",
                            "name": "Solo",
                            "email": "solo@example.com",
                            "groups": [],
                        }
                    ]
                )
            )
            _, t = full_login(Flow(disc2), f"http://127.0.0.1:8000{CALLBACK_PATH}", "solo", "solo-pass")
            check(jwt_payload(t["id_token"])["groups"] == [], "edited users file takes effect at the next login")
        finally:
            rc2 = strict.stop()
        check(rc2 == 0, "second instance exits 0 on SIGTERM", rc2)
    return 0


if __name__ == "__main__":
    try:
        code = main()
    except (SmokeFailure, requests.RequestException, KeyError, ValueError) as exc:
        print(f"FAIL  {exc}", flush=True)
        print(f"{len(PASSED)} passed, 1 failed")
        sys.exit(1)
    print(f"{len(PASSED)} passed, 0 failed")
    sys.exit(code)
