"""The sandbox AWS stops, then restarts with its memory wiped: the telemetry collector's verdict
says so in plain words, as a banner on the dashboard and on the gate page, and a decision on a
gate of the old execution is reported as undeliverable, not retried.

A private moto server, not the session's: stopping that one would break the other tests."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from controlplane.aws import clients
from migrations_app import services, telemetry
from migrations_app.models import Gate, GateDelivery
from sandbox.processes import SandboxProcesses, free_port
from tests.conftest import deploy_all, replication_latency_put, sandbox_environment_create, wait_for_gate

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def private_sandbox():
    procs = SandboxProcesses(aws_port=free_port(), idp_port=0)
    procs.start_aws()
    yield procs
    procs.stop()
    clients.clear_cache()


def collect(environment, minutes: int):
    """One telemetry collection (each in its own slot, as the beat's ticks would be)."""
    snapshot = telemetry.telemetry_collect(environment=environment, now=timezone.now() + timedelta(minutes=minutes))
    return telemetry.environment_health(environment=environment, snapshot=snapshot)


def test_restarted_sandbox_is_reported_unreachable_then_inconsistent(
    private_sandbox, engineer, approver1, client, settings
):
    settings.AWS_MAX_ATTEMPTS = 1  # an unreachable endpoint fails at once, not after botocore's retries
    clients.clear_cache()
    env = sandbox_environment_create(private_sandbox.aws_endpoint, prefix="r")
    name = env.name
    assert deploy_all(env).status == "succeeded"
    env.refresh_from_db()
    replication_latency_put(env)
    execution = services.execution_start(environment=env, actor=engineer)
    gate = wait_for_gate(env, execution)
    client.force_login(approver1)
    dashboard, gate_page = f"/environments/{name}/dashboard/status/", f"/gates/{gate.pk}/"

    assert collect(env, 1).verdict == "ok"
    assert 'data-testid="environment-health"' not in client.get(dashboard).content.decode()

    private_sandbox.stop()
    health = collect(env, 2)
    assert health.verdict == "unreachable"
    assert f"AWS cannot be reached at {private_sandbox.aws_endpoint}" in health.message
    for url in (dashboard, gate_page):
        assert "AWS is unreachable." in client.get(url).content.decode(), url

    private_sandbox.start_aws()  # same port, empty memory
    health = collect(env, 3)
    assert health.verdict == "inconsistent"
    assert "missing: 9 of 9 stacks" in health.message and "sandbox AWS was restarted" in health.message
    for url in (dashboard, gate_page):
        assert "AWS is inconsistent with this environment." in client.get(url).content.decode(), url

    # The old execution's token died with the sandbox: the decision is reported, not retried.
    services.gate_approve(gate=gate, actor=approver1)
    delivery = GateDelivery.objects.get(gate=gate)
    assert delivery.status == GateDelivery.Status.GONE
    assert Gate.objects.get(pk=gate.pk).status == Gate.Status.EXPIRED
    assert "Token no longer valid" in client.get(gate_page).content.decode()
