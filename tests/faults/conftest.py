"""Fixtures for the fault tests: the fault proxy in front of the sandbox AWS, environments that
talk to AWS through it, and real Celery worker processes that can be killed and restarted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from controlplane.aws import clients
from controlplane.celery import app as celery_app
from sandbox import faults
from tests.test_celery_worker import database_url_of_test_db


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/faults/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.faults)


@pytest.fixture(scope="session")
def fault_proxy(sandbox_aws):
    proxy = faults.FaultProxy(upstream=sandbox_aws).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def proxy(fault_proxy):
    """The proxy with no fault switched on and no call remembered, and again after the test."""
    faults.faults_clear(fault_proxy.url)
    faults.calls_clear(fault_proxy.url)
    yield fault_proxy
    faults.faults_clear(fault_proxy.url)


@pytest.fixture
def faulty_environment(environment, proxy):
    """``environment`` (deployed straight to the sandbox) now reaching AWS through the proxy."""
    environment.aws_endpoint_url = proxy.url
    environment.save(update_fields=["aws_endpoint_url"])
    clients.clear_cache()
    return environment


def waiting_gate(environment, engineer):
    """Start a cutover (the worker calls StartExecution) and return it with its first gate,
    evidence collected."""
    from migrations_app import services
    from migrations_app.models import Execution
    from tests.conftest import wait_for_gate

    execution = services.execution_start(environment=environment, actor=engineer)
    wait_until(lambda: Execution.objects.get(pk=execution.pk).status == "RUNNING", what="execution running")
    gate = wait_for_gate(environment, execution)
    wait_until(lambda: gate.checks.count() == 8, what="evidence collected")
    execution.refresh_from_db()
    return execution, gate


def wait_until(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} not met within {timeout}s")


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


@pytest.fixture
def workers(tmp_path):
    """Start workers with ``workers(**env)``; tasks cross the broker while the test runs."""
    started: list[Worker] = []

    def start(**env_overrides: str) -> Worker:
        worker = Worker(tmp_path / "worker.log", **env_overrides).start(purge=not started)
        started.append(worker)
        return worker

    celery_app.conf.task_always_eager = False
    yield start
    celery_app.conf.task_always_eager = True
    for worker in started:
        worker.stop()
