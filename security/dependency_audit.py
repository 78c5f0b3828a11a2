#!/usr/bin/env python3
"""Known vulnerabilities in what we ship: pip-audit over requirements.txt, npm audit over the
sandbox IdP's package-lock.json. Run by .ci/run before the tests; docs/security.md explains it.

Each of the two audits ends in one of three states:

  PASSED         every package was checked and no vulnerability is open (or each one found has a
                 reason recorded in security/audit-exceptions.toml)
  FAILED         a vulnerability without a recorded reason: the exit code is 1
  NOT PERFORMED  the vulnerability service could not be asked (no network to it, an endpoint
                 the registry mirror does not serve, packages it does not know). Said in capitals
                 with the reason; the exit code is 0 unless SECURITY_AUDIT_REQUIRED=1, then 1.

pip-audit alone would print "No known vulnerabilities found" and exit 0 when PyPI answers 404 for
every package (it skips them): that is reported here as NOT PERFORMED, never as a pass.

Usage: python security/dependency_audit.py [--required]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REQUIREMENTS = REPO / "requirements.txt"
NPM_PROJECT = REPO / "sandbox" / "idp"
EXCEPTIONS = Path(__file__).resolve().parent / "audit-exceptions.toml"
# pip-audit's services, tried in order until one answers for the packages.
PIP_SERVICES = ("pypi", "osv")

PASSED, FAILED, NOT_PERFORMED = "PASSED", "FAILED", "NOT PERFORMED"


@dataclass
class Finding:
    ecosystem: str  # "python" or "npm"
    package: str
    version: str
    ids: list[str]  # the advisory and its aliases (GHSA-..., PYSEC-..., CVE-...)
    summary: str = ""


@dataclass
class Result:
    ecosystem: str
    status: str
    reason: str = ""
    checked: int = 0
    findings: list[Finding] = field(default_factory=list)  # open: no recorded reason
    accepted: list[tuple[Finding, str]] = field(default_factory=list)


# --- exceptions ------------------------------------------------------------------------------


def exceptions_load(path: Path = EXCEPTIONS, *, today: dt.date | None = None) -> dict[str, dict[str, str]]:
    """{ecosystem: {advisory id: reason}} from the TOML file. An entry needs an id, a package, a
    reason of some substance and an expiry date; an expired entry no longer excuses anything."""
    today = today or dt.date.today()
    if not path.exists():
        return {"python": {}, "npm": {}}
    data = tomllib.loads(path.read_text())
    out: dict[str, dict[str, str]] = {"python": {}, "npm": {}}
    for ecosystem in out:
        for i, entry in enumerate(data.get(ecosystem, [])):
            where = f"{path.name}: [[{ecosystem}]] #{i + 1}"
            missing = [k for k in ("id", "package", "reason", "expires") if not entry.get(k)]
            if missing:
                raise ValueError(f"{where} lacks {', '.join(missing)}")
            if len(str(entry["reason"]).strip()) < 20:
                raise ValueError(f"{where}: the reason must say why the vulnerability does not apply or is accepted")
            expires = entry["expires"]
            if not isinstance(expires, dt.date):
                raise ValueError(f"{where}: expires must be a date (YYYY-MM-DD)")
            if expires >= today:
                out[ecosystem][str(entry["id"]).upper()] = f"{entry['package']}: {entry['reason']} (until {expires})"
    return out


def exceptions_apply(result: Result, accepted: dict[str, str]) -> Result:
    open_, ok = [], []
    for finding in result.findings:
        reason = next((accepted[i.upper()] for i in finding.ids if i.upper() in accepted), None)
        if reason is None:
            open_.append(finding)
        else:
            ok.append((finding, reason))
    result.findings, result.accepted = open_, result.accepted + ok
    if result.status == FAILED and not open_:
        result.status = NOT_PERFORMED if result.reason else PASSED  # skipped packages stay unknown
    return result


# --- pip-audit -------------------------------------------------------------------------------


def pip_audit_interpret(stdout: str, returncode: int, stderr: str, *, service: str) -> Result:
    """pip-audit's JSON (``--format json``) into a Result."""
    try:
        data = json.loads(stdout) if stdout.strip() else None
    except json.JSONDecodeError:
        data = None
    if data is None:
        last = next((line for line in reversed(stderr.strip().splitlines()) if line.strip()), "no output")
        return Result("python", NOT_PERFORMED, f"pip-audit ({service}) did not answer: {last[:300]}")
    deps = data.get("dependencies", [])
    skipped = [d for d in deps if d.get("skip_reason")]
    audited = [d for d in deps if not d.get("skip_reason")]
    findings = [
        Finding(
            "python",
            d["name"],
            d.get("version", ""),
            [v["id"], *v.get("aliases", [])],
            (v.get("description") or "")[:200],
        )
        for d in audited
        for v in d.get("vulns", [])
    ]
    if deps and not audited:
        example = skipped[0]["skip_reason"]
        return Result(
            "python",
            NOT_PERFORMED,
            f"the {service} vulnerability service knew none of the {len(deps)} packages ({example})",
        )
    result = Result("python", FAILED if findings else PASSED, checked=len(audited), findings=findings)
    if skipped:
        names = ", ".join(d["name"] for d in skipped[:10])
        result.status = NOT_PERFORMED if not findings else FAILED
        result.reason = f"{len(skipped)} of {len(deps)} packages could not be audited ({names})"
    return result


def pip_audit_run(requirements: Path = REQUIREMENTS, *, timeout: int = 15) -> Result:
    if shutil.which("pip-audit") is None and not _module_available("pip_audit"):
        return Result("python", NOT_PERFORMED, "pip-audit is not installed (it is in requirements.txt)")
    reasons = []
    for service in PIP_SERVICES:
        proc = subprocess.run(
            [
                sys.executable, "-m", "pip_audit", "-r", str(requirements), "--disable-pip", "--no-deps",
                "--format", "json", "--progress-spinner", "off", "--vulnerability-service", service,
                "--timeout", str(timeout),
            ],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        result = pip_audit_interpret(proc.stdout, proc.returncode, proc.stderr, service=service)
        if result.status != NOT_PERFORMED or result.checked:
            return result
        reasons.append(result.reason)
    return Result("python", NOT_PERFORMED, "; ".join(reasons))


def _module_available(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


# --- npm audit -------------------------------------------------------------------------------


def npm_audit_interpret(stdout: str, returncode: int, stderr: str) -> Result:
    try:
        data = json.loads(stdout) if stdout.strip() else {}
    except json.JSONDecodeError:
        data = {}
    if "vulnerabilities" not in data:
        message = data.get("message") or data.get("error", {}).get("summary") or stderr.strip()[-300:] or "no output"
        return Result("npm", NOT_PERFORMED, f"npm audit got no answer from the registry's audit endpoint: {message}")
    findings = []
    for name, vuln in data["vulnerabilities"].items():
        for via in vuln.get("via", []):
            if isinstance(via, dict):  # a string names another package the advisory comes through
                url = via.get("url", "")
                ids = [url.rsplit("/", 1)[-1]] if url else []
                ids.append(str(via.get("source", "")))
                findings.append(Finding("npm", name, vuln.get("range", ""), ids, via.get("title", "")))
    total = data.get("metadata", {}).get("dependencies", {}).get("total", 0)
    return Result("npm", FAILED if findings else PASSED, checked=total, findings=findings)


def npm_audit_run(project: Path = NPM_PROJECT) -> Result:
    if shutil.which("npm") is None:
        return Result("npm", NOT_PERFORMED, "npm is not installed")
    proc = subprocess.run(
        ["npm", "audit", "--json", "--package-lock-only", "--audit-level=low"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return npm_audit_interpret(proc.stdout, proc.returncode, proc.stderr)


# --- report ------------------------------------------------------------------------------------


def report(results: list[Result], *, required: bool) -> tuple[str, int]:
    lines = []
    for r in results:
        what = {"python": "pip-audit over requirements.txt", "npm": "npm audit over sandbox/idp/package-lock.json"}
        lines.append(f"{what[r.ecosystem]}: {r.status}" + (f" ({r.checked} packages checked)" if r.checked else ""))
        if r.reason:
            lines.append(f"  why: {r.reason}")
        for f in r.findings:
            lines.append(f"  OPEN {f.package} {f.version}: {', '.join(i for i in f.ids if i)} {f.summary}".rstrip())
        for f, reason in r.accepted:
            lines.append(f"  accepted {f.package} {f.version}: {', '.join(i for i in f.ids if i)}: {reason}")
    not_performed = [r for r in results if r.status == NOT_PERFORMED]
    failed = [r for r in results if r.status == FAILED]
    if not_performed:
        names = " and ".join(r.ecosystem for r in not_performed)
        lines.append(
            f"SECURITY AUDIT NOT PERFORMED for {names}: the vulnerability services could not be reached "
            "from here; nothing is known about vulnerabilities in these dependencies. "
            + (
                "SECURITY_AUDIT_REQUIRED is set: failing."
                if required
                else "Not failing (set SECURITY_AUDIT_REQUIRED=1 where the services are reachable)."
            )
        )
    if failed:
        lines.append(
            "SECURITY AUDIT FAILED: fix the vulnerable versions, or record why each one is accepted "
            "in security/audit-exceptions.toml."
        )
    if not failed and not not_performed:
        lines.append("SECURITY AUDIT PASSED")
    code = 1 if failed or (not_performed and required) else 0
    return "\n".join(lines), code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--required", action="store_true", help="fail when an audit cannot be performed")
    args = parser.parse_args(argv)
    required = args.required or os.environ.get("SECURITY_AUDIT_REQUIRED", "").strip().lower() in {"1", "true", "yes"}
    accepted = exceptions_load()
    results = [
        exceptions_apply(pip_audit_run(), accepted["python"]),
        exceptions_apply(npm_audit_run(), accepted["npm"]),
    ]
    text, code = report(results, required=required)
    print(text, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
