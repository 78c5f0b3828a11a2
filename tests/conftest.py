"""Shared fixtures: the sandbox AWS (a real moto server over HTTP), the IdP, people, environments.

People follow healthchecks' hc/test.py: an engineer who starts cutovers, two approvers, an
auditor, a lead (engineer and approver), and an outsider who is refused everywhere.
"""

from __future__ import annotations

import os
import time
import uuid

import pytest
from django.contrib.auth.models import Group

from controlplane.aws import clients
from sandbox.processes import SandboxProcesses, free_port

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API beside Django


# --- sandbox processes --------------------------------------------------------------------


@pytest.fixture(scope="session")
def sandbox_aws():
    procs = SandboxProcesses(aws_port=free_port(), idp_port=0)
    procs.start_aws()
    yield procs.aws_endpoint
    procs.stop()
    clients.clear_cache()


@pytest.fixture(scope="session")
def sandbox_idp():
    procs = SandboxProcesses(aws_port=0, idp_port=free_port())
    procs.start_idp()
    yield procs.idp_issuer
    procs.stop()


# --- people --------------------------------------------------------------------------------


def make_user(username: str, *roles: str, name: str = ""):
    from controlplane.accounts.models import User

    first, _, last = (name or username.title()).partition(" ")
    user = User.objects.create(
        username=username,
        first_name=first,
        last_name=last,
        email=f"{username}@example.com",
        idp_issuer="http://idp.test",
        idp_subject=f"user-{username}",
    )
    from django.utils import timezone

    user.idp_authenticated_at = timezone.now()
    user.save()
    user.groups.set([Group.objects.get_or_create(name=r)[0] for r in roles])
    return user


@pytest.fixture
def engineer(db):
    return make_user("engineer", "engineer", name="Erin Engineer")


@pytest.fixture
def approver1(db):
    return make_user("approver1", "approver", name="Alice Approver")


@pytest.fixture
def approver2(db):
    return make_user("approver2", "approver", name="Bob Approver")


@pytest.fixture
def auditor(db):
    return make_user("auditor", "auditor", name="Dana Auditor")


@pytest.fixture
def lead(db):
    return make_user("lead", "engineer", "approver", name="Lee Lead")


@pytest.fixture
def outsider(db):
    return make_user("outsider", name="Oscar Outsider")


# --- environments ---------------------------------------------------------------------------


@pytest.fixture
def make_environment(db, sandbox_aws):
    """Create and provision an environment with a unique name in the sandbox AWS."""
    from migrations_app import services
    from migrations_app.models import Environment
    from migrations_app.statemachine import PlanStep

    def _make(steps=(10,), **overrides):
        name = f"t{uuid.uuid4().hex[:10]}"
        fields = {
            "aws_endpoint_url": sandbox_aws,
            "hosted_zone_name": f"{name}.example.com",
            "record_name": f"api.{name}.example.com",
            "source_endpoint": f"api.us-east-1.{name}.example.com",
            "target_endpoint": f"api.eu-central-1.{name}.example.com",
        }
        fields.update(overrides)
        env = services.environment_create(actor=None, name=name, kind=Environment.Kind.SANDBOX, **fields)
        return services.environment_provision_minimal(
            environment=env, actor=None, steps=[PlanStep(target_weight=w) for w in steps]
        )

    return _make


@pytest.fixture
def environment(make_environment):
    return make_environment()


def wait_for_gate(environment, execution, *, timeout: float = 15.0):
    """Poll the gate queue as the beat job does until the execution's next waiting gate exists."""
    from migrations_app import services
    from migrations_app.models import Gate

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        services.gate_intake_poll(environment=environment, wait_seconds=1)
        gate = Gate.objects.filter(execution=execution, status=Gate.Status.WAITING).order_by("-arrived_at").first()
        if gate is not None:
            return gate
    raise AssertionError(f"no waiting gate for {execution.name} within {timeout}s")


def wait_for_execution(execution, *, statuses=("SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT"), timeout: float = 15.0):
    from migrations_app import services

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        execution = services.execution_sync(execution=execution)
        if execution.status in statuses:
            return execution
        time.sleep(0.2)
    raise AssertionError(f"execution {execution.name} still {execution.status} after {timeout}s")


@pytest.fixture
def started_execution(environment, engineer):
    """A running execution of ``environment`` started by ``engineer``, with its first gate waiting."""
    from migrations_app import services

    execution = services.execution_start(environment=environment, actor=engineer)
    execution.refresh_from_db()
    assert execution.status == "RUNNING", execution.cause
    return execution
