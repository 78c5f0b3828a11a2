"""Shared fixtures: the sandbox AWS (a real moto server over HTTP), the IdP, people, environments.

People follow healthchecks' hc/test.py: an engineer who starts cutovers, two approvers, an
auditor, a lead (engineer and approver), and an outsider who is refused everywhere.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group

from controlplane.aws import clients
from sandbox.environments import deploy_all, replication_latency_put, sandbox_environment_create  # noqa: F401
from sandbox.environments import deployment_drive as drive  # noqa: F401
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


# --- Celery workers ------------------------------------------------------------------------


def database_url_of_test_db() -> str:
    from django.db import connection

    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Worker:
    """A real ``celery worker`` process on the test database and the real broker."""

    def __init__(self, log_path: Path, **env_overrides: str):
        self.log_path = log_path
        self.env = dict(
            os.environ,
            DJANGO_SETTINGS_MODULE="controlplane.settings_test",
            DATABASE_URL=database_url_of_test_db(),
            CELERY_TASK_ALWAYS_EAGER="false",
            CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
            CONTROLPLANE_VAR_DIR=str(settings.VAR_DIR),
            **env_overrides,
        )
        self.proc: subprocess.Popen | None = None
        self._log = None

    def start(self, *, purge: bool = False) -> Worker:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        args = [sys.executable, "-m", "celery", "-A", "controlplane", "worker", "--pool=solo", "-l", "info"]
        self.proc = subprocess.Popen(
            args + (["--purge"] if purge else []),
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=settings.BASE_DIR,
        )
        deadline = time.monotonic() + 30
        while b"ready." not in self.log_path.read_bytes()[offset:]:
            assert self.proc.poll() is None, self.log()
            assert time.monotonic() < deadline, "worker did not start"
            time.sleep(0.2)
        return self

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 30) -> int:
        assert self.proc is not None
        code = self.proc.wait(timeout=timeout)
        if self._log:
            self._log.close()
        return code

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log:
            self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


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
def environment(deployed_environment):
    """A deployed environment whose evidence is all green: replication lag 120 ms, DLQs empty,
    alarms quiet, bus policies in place, no drift, no findings (the test plan: 10 %, 100 %)."""
    replication_latency_put(deployed_environment)
    return deployed_environment


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


# --- environments deployed through CloudFormation --------------------------------------------


@pytest.fixture
def empty_environment(db, sandbox_aws):
    """An environment in the sandbox with its hosted zone (as an account has) and no stack."""
    return sandbox_environment_create(sandbox_aws)


@pytest.fixture
def deployed_environment(empty_environment):
    """All nine stacks deployed (about 5 s in the sandbox)."""
    deployment = deploy_all(empty_environment)
    assert deployment.status == "succeeded", deployment.error
    empty_environment.refresh_from_db()
    return empty_environment
