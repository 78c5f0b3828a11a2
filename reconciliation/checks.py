"""Reconciliation's evidence on a gate: open findings block it.

Registered from ReconciliationConfig.ready via ``register_gate_checks()``, so migrations_app (a
lower floor) never imports reconciliation.
"""

from __future__ import annotations

from collections import Counter

from django.utils import timezone

from migrations_app.checks import CheckResult, CheckSpec, check_register
from migrations_app.models import Environment, Gate, GateCheck
from reconciliation.models import Finding


def open_findings_collect(environment: Environment, gate: Gate) -> CheckResult:
    findings = list(
        Finding.objects.filter(environment=environment, status__in=Finding.UNRESOLVED).values_list("kind", "status")
    )
    now = timezone.now()
    kinds = Counter(kind for kind, _ in findings)
    acknowledged = sum(1 for _, status in findings if status == Finding.Status.ACKNOWLEDGED)
    detail = {
        "unresolved": len(findings),
        "acknowledged": acknowledged,
        "by_kind": dict(sorted(kinds.items())),
    }
    if not findings:
        return CheckResult(GateCheck.Verdict.PASS, "no open reconciliation findings", detail, now)
    labels = dict(Finding.Kind.choices)
    parts = ", ".join(f"{n} {labels.get(kind, kind).lower()}" for kind, n in sorted(kinds.items()))
    noun = "finding" if len(findings) == 1 else "findings"
    value = f"{len(findings)} open {noun} ({parts})"
    if acknowledged:
        value += f"; {acknowledged} of them acknowledged but not resolved"
    return CheckResult(GateCheck.Verdict.FAIL, value, detail, now)


def register_gate_checks() -> None:
    """Add reconciliation's gate checks to the registry (safe to call more than once)."""
    check_register(
        CheckSpec(
            key="open_findings",
            label="Open reconciliation findings",
            hard=True,
            collect=open_findings_collect,
            order=80,
        )
    )
