"""security/dependency_audit.py: how pip-audit's and npm audit's answers become PASSED, FAILED or
NOT PERFORMED, and the exceptions file. The outputs below are the tools' own JSON shapes (the
all-skipped one is what pip-audit printed here, where PyPI's per-version JSON answers 404)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pytest

from security.dependency_audit import (
    EXCEPTIONS,
    FAILED,
    NOT_PERFORMED,
    PASSED,
    REPO,
    exceptions_apply,
    exceptions_load,
    npm_audit_interpret,
    pip_audit_interpret,
    report,
)

ALL_SKIPPED = json.dumps(
    {
        "dependencies": [
            {"name": "amqp", "skip_reason": "Dependency not found on PyPI and could not be audited: amqp (5.4.2)"},
            {"name": "django", "skip_reason": "Dependency not found on PyPI and could not be audited: django (5.2.19)"},
        ],
        "fixes": [],
    }
)
ONE_VULN = json.dumps(
    {
        "dependencies": [
            {"name": "amqp", "version": "5.4.2", "vulns": []},
            {
                "name": "django",
                "version": "5.2.19",
                "vulns": [
                    {"id": "PYSEC-2099-1", "fix_versions": ["5.2.20"], "aliases": ["CVE-2099-1", "GHSA-aaaa-bbbb-cccc"], "description": "SQL injection"}
                ],
            },
        ],
        "fixes": [],
    }
)  # fmt: skip
CLEAN = json.dumps({"dependencies": [{"name": "amqp", "version": "5.4.2", "vulns": []}], "fixes": []})
NPM_405 = json.dumps({"message": "405 Method Not Allowed - POST https://registry/-/npm/v1/security/advisories/bulk"})
NPM_VULN = json.dumps(
    {
        "vulnerabilities": {
            "jose": {"name": "jose", "range": "<4.15.5", "via": [{"source": 1096444, "title": "Resource exhaustion", "url": "https://github.com/advisories/GHSA-hhhv-q57g-882q"}]},
            "oidc-provider": {"name": "oidc-provider", "range": "*", "via": ["jose"]},
        },
        "metadata": {"dependencies": {"total": 120}},
    }
)  # fmt: skip
NPM_CLEAN = json.dumps({"vulnerabilities": {}, "metadata": {"dependencies": {"total": 120}}})


def test_pip_audit_skipping_every_package_is_not_performed_not_a_pass():
    # pip-audit itself exits 0 and says "No known vulnerabilities found" here.
    result = pip_audit_interpret(ALL_SKIPPED, 0, "No known vulnerabilities found", service="pypi")
    assert result.status == NOT_PERFORMED
    assert "knew none of the 2 packages" in result.reason


def test_pip_audit_unreachable_is_not_performed_with_the_error():
    stderr = "requests.exceptions.ConnectionError: Failed to resolve 'api.osv.dev'"
    result = pip_audit_interpret("", 1, stderr, service="osv")
    assert result.status == NOT_PERFORMED
    assert "Failed to resolve 'api.osv.dev'" in result.reason


def test_pip_audit_findings_fail_and_a_recorded_reason_accepts_them():
    result = pip_audit_interpret(ONE_VULN, 1, "", service="pypi")
    assert (result.status, result.checked) == (FAILED, 2)
    assert result.findings[0].ids == ["PYSEC-2099-1", "CVE-2099-1", "GHSA-aaaa-bbbb-cccc"]
    accepted = exceptions_apply(result, {"GHSA-AAAA-BBBB-CCCC": "django: we never use the affected API"})
    assert accepted.status == PASSED and accepted.findings == []
    assert pip_audit_interpret(CLEAN, 0, "", service="pypi").status == PASSED


def test_npm_audit_endpoint_refused_is_not_performed():
    result = npm_audit_interpret(NPM_405, 1, "npm error audit endpoint returned an error")
    assert result.status == NOT_PERFORMED
    assert "405 Method Not Allowed" in result.reason


def test_npm_audit_findings_fail_by_advisory():
    result = npm_audit_interpret(NPM_VULN, 1, "")
    assert result.status == FAILED
    assert [(f.package, f.ids) for f in result.findings] == [("jose", ["GHSA-hhhv-q57g-882q", "1096444"])]
    assert npm_audit_interpret(NPM_CLEAN, 0, "").status == PASSED


def test_the_report_says_not_performed_plainly_and_fails_only_when_required():
    results = [
        pip_audit_interpret(ALL_SKIPPED, 0, "", service="pypi"),
        npm_audit_interpret(NPM_405, 1, ""),
    ]
    text, code = report(results, required=False)
    assert "SECURITY AUDIT NOT PERFORMED for python and npm" in text
    assert "PASSED" not in text
    assert code == 0
    assert report(results, required=True)[1] == 1
    failing = [pip_audit_interpret(ONE_VULN, 1, "", service="pypi")]
    text, code = report(failing, required=False)
    assert "SECURITY AUDIT FAILED" in text and "OPEN django 5.2.19" in text and code == 1


def test_exceptions_need_a_reason_and_expire(tmp_path):
    good = tmp_path / "ok.toml"
    good.write_text(
        '[[npm]]\nid = "GHSA-hhhv-q57g-882q"\npackage = "jose"\n'
        'reason = "Only the IdP sandbox uses it, never in production."\nexpires = 2027-01-31\n'
    )
    assert "GHSA-HHHV-Q57G-882Q" in exceptions_load(good, today=dt.date(2026, 11, 27))["npm"]
    assert exceptions_load(good, today=dt.date(2027, 2, 1))["npm"] == {}
    bad = tmp_path / "bad.toml"
    bad.write_text('[[python]]\nid = "PYSEC-1"\npackage = "x"\nreason = "fine"\nexpires = 2027-01-31\n')
    with pytest.raises(ValueError, match="must say why"):
        exceptions_load(bad)
    bad.write_text('[[python]]\nid = "PYSEC-1"\npackage = "x"\n')
    with pytest.raises(ValueError, match="lacks reason, expires"):
        exceptions_load(bad)


def test_the_repos_exceptions_file_is_valid():
    assert set(exceptions_load(EXCEPTIONS)) == {"python", "npm"}


def test_ci_runs_the_audit_before_the_tests():
    ci = (REPO / ".ci" / "run").read_text()
    assert ci.index("make audit") < ci.index("make test")
    help_text = subprocess.run(
        [sys.executable, str(REPO / "security" / "dependency_audit.py"), "--help"], capture_output=True, text=True
    )
    assert help_text.returncode == 0 and "--required" in help_text.stdout
