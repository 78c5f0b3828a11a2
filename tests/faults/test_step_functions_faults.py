"""Step Functions throttled for a long while (the proxy answers every call with
ThrottlingException): the delivery retries with backoff and the gate page says so; nothing is
lost. The gate's task times out in the meantime: once Step Functions answers again the
delivery reads the history, reports the timeout and stops retrying."""

from __future__ import annotations

import pytest

from controlplane.aws import AwsTarget, stepfunctions
from migrations_app import services
from migrations_app.models import Gate, GateDelivery
from sandbox import faults
from tests.conftest import deploy_all, replication_latency_put
from tests.faults.conftest import wait_until, waiting_gate

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

GATE_TIMEOUT = 12


@pytest.fixture
def expiring_environment(empty_environment, proxy, settings):
    """An environment whose gate tasks time out after GATE_TIMEOUT seconds, behind the proxy."""
    settings.GATE_TIMEOUT_SECONDS = GATE_TIMEOUT  # rendered into the state machine at deploy
    assert deploy_all(empty_environment).status == "succeeded"
    empty_environment.refresh_from_db()
    replication_latency_put(empty_environment)
    empty_environment.aws_endpoint_url = proxy.url
    empty_environment.save(update_fields=["aws_endpoint_url"])
    return empty_environment


def test_throttled_delivery_retries_says_so_and_reports_the_token_that_expired_meanwhile(
    expiring_environment, proxy, sandbox_aws, workers, engineer, approver1, client
):
    env = expiring_environment
    workers(GATE_DELIVERY_BACKOFF_MAX_SECONDS="1", AWS_MAX_ATTEMPTS="1")
    execution, gate = waiting_gate(env, engineer)
    faults.faults_set(proxy.url, {"service": "stepfunctions", "fault": "throttle", "rate": 1.0})

    client.force_login(approver1)
    response = client.post(f"/gates/{gate.pk}/decide/", {"decision": "approve"})
    assert response.status_code == 302

    wait_until(lambda: GateDelivery.objects.get(gate=gate).attempts >= 3, what="three attempts")
    page = client.get(f"/gates/{gate.pk}/").content.decode()
    assert "Delivery retrying: attempt" in page and "ThrottlingException" in page
    assert "will not be lost" in page
    delivery = GateDelivery.objects.get(gate=gate)
    assert delivery.status == GateDelivery.Status.PENDING and delivery.next_attempt_at is not None
    assert Gate.objects.get(pk=gate.pk).status == Gate.Status.APPROVED

    # Meanwhile Step Functions times the gate's task out (read past the proxy, straight from the sandbox).
    direct = AwsTarget(region=env.source_region, endpoint_url=sandbox_aws)
    wait_until(
        lambda: (
            "TaskTimedOut"
            in [e.type for e in stepfunctions.execution_history(target=direct, execution_arn=execution.arn)]
        ),
        timeout=GATE_TIMEOUT + 10,
        what="the gate's task timed out",
    )
    faults.faults_clear(proxy.url)

    wait_until(lambda: GateDelivery.objects.get(gate=gate).status != GateDelivery.Status.PENDING, what="settled")
    delivery = GateDelivery.objects.get(gate=gate)
    assert delivery.status == GateDelivery.Status.GONE
    assert "timed out" in delivery.last_error
    assert Gate.objects.get(pk=gate.pk).status == Gate.Status.EXPIRED
    assert delivery.pk not in services.gate_deliveries_stalled()  # the sweep leaves it alone: not retried forever
    page = client.get(f"/gates/{gate.pk}/").content.decode()
    assert "Token no longer valid" in page and "timed out in Step Functions" in page
    assert not [c for c in faults.calls_list(proxy.url) if c["operation"] == "SendTaskSuccess" and c["forwarded"]]
