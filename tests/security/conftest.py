"""The world the security tests share: six people, two environments, and one of each object
(the lead's cutover with a waiting gate, a deployment, a run, a finding, a report pack, tokens)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.utils import timezone

from sandbox.environments import sandbox_environment_create
from tests.conftest import make_user


@dataclass
class World:
    env: object
    other: object
    execution: object
    gate: object
    deployment: object
    stack: object
    plan: object
    run: object
    finding: object
    event: object
    pack: object
    token_prefix: str
    users: dict
    tokens: dict


@pytest.fixture
def world(db):
    from audit.models import AuditEvent, ReportPack
    from controlplane.accounts.tokens import api_token_create
    from migrations_app.models import CutoverPlan, Deployment, Execution, Gate, GateCheck, StackDeployment
    from reconciliation.models import Finding, ReconciliationRun

    users = {
        "engineer": make_user("engineer", "engineer"),
        "approver1": make_user("approver1", "approver"),
        "approver2": make_user("approver2", "approver"),
        "auditor": make_user("auditor", "auditor"),
        "lead": make_user("lead", "engineer", "approver"),
        "outsider": make_user("outsider"),
    }

    def environment():
        return sandbox_environment_create("http://127.0.0.1:1", prefix="p", create_hosted_zone=False)

    env, other = environment(), environment()
    now = timezone.now()
    execution = Execution.objects.create(
        environment=env, name=f"{env.name}-run", started_by=users["lead"], status="RUNNING", started_at=now,
        arn="arn:aws:states:us-east-1:123456789012:execution:sm:run",
    )  # fmt: skip
    gate = Gate.objects.create(
        execution=execution, state_name="Gate01", entered_at=now.isoformat(), step=1,
        target_weights={"us-east-1": 90, "eu-central-1": 10}, task_token="permission-test-task-token",
    )  # fmt: skip
    GateCheck.objects.create(gate=gate, key="dlq_depth", label="Dead-letter queues", hard=True, verdict="pass")
    deployment = Deployment.objects.create(environment=other, requested_by=users["engineer"])
    stack = StackDeployment.objects.create(
        deployment=deployment, order=1, stack_key="events", template="events.yaml", region="us-east-1",
        stack_name=f"{other.name}-events",
    )  # fmt: skip
    run = ReconciliationRun.objects.create(
        environment=env, window_start=now, window_end=now, region_a="us-east-1", region_b="eu-central-1"
    )
    finding = Finding.objects.create(environment=env, run=run, kind="duplicate_debit", summary="t-1 twice")
    pack = ReportPack.objects.create(environment=env, period_start=now, period_end=now, requested_by=users["auditor"])
    tokens = {
        role: api_token_create(user=user, actor=user, name="permissions", signed_in_at=user.idp_authenticated_at).secret
        for role, user in users.items()
    }
    token_prefix = api_token_create(user=users["engineer"], actor=users["engineer"], name="revocable").token.prefix
    return World(
        env=env, other=other, execution=execution, gate=gate, deployment=deployment, stack=stack,
        plan=CutoverPlan.objects.filter(environment=env).first(), run=run, finding=finding,
        event=AuditEvent.objects.order_by("-id").first(), pack=pack, token_prefix=token_prefix,
        users=users, tokens=tokens,
    )  # fmt: skip
