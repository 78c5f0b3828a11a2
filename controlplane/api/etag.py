"""The ETag of a gate: a hash of what a decision depends on — its state, the approvals it has,
and its evidence (each check's verdict and measured value). Collection timestamps are left
out: a refresh that measured the same thing does not make a reader's copy stale."""

from __future__ import annotations

import hashlib
import json

from migrations_app.models import Gate


def gate_etag(gate: Gate) -> str:
    content = {
        "id": gate.pk,
        "status": gate.status,
        "required": gate.required_approvals,
        "approvals": sorted((a.approver_id, a.decision, a.override) for a in gate.approvals.all()),
        "checks": sorted((c.key, c.label, c.hard, c.verdict, c.value) for c in gate.checks.all()),
    }
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()
    return f'"{digest[:32]}"'


def if_match_values(header: str) -> list[str]:
    """The entity tags of an If-Match header. Strong comparison (RFC 9110 13.1.1): a weak tag
    never matches."""
    return [part.strip() for part in header.split(",") if part.strip()]
