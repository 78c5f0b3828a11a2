"""API test helpers: clients authenticated by a personal token or by the session, and light
rows (an environment, an execution, a gate with its evidence) for the tests that do not need
a state machine running in the sandbox."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from controlplane.accounts.tokens import api_token_create
from sandbox.environments import sandbox_environment_create


@pytest.fixture(autouse=True)
def _fresh_throttle_counters():
    cache.clear()  # the failure throttle counts per IP, and every test client is 127.0.0.1
    yield
    cache.clear()


def token_for(user, *, signed_in_at="user", days=None, via="profile"):
    if signed_in_at == "user":
        signed_in_at = user.idp_authenticated_at
    return api_token_create(
        user=user, actor=user, name="tests", expires_in_days=days, signed_in_at=signed_in_at, created_via=via
    )


def client_for(user, **token_kwargs) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user, **token_kwargs).secret}")
    return client


@pytest.fixture
def api():
    """api(user) -> an APIClient holding a fresh personal token of ``user``."""
    return client_for


@pytest.fixture
def light_environment(db):
    """An environment row with its plan, as the page creates it, without AWS behind it."""
    return sandbox_environment_create("http://127.0.0.1:1", prefix="l", create_hosted_zone=False)


@pytest.fixture
def light_execution(light_environment, engineer):
    from migrations_app.models import Execution

    return Execution.objects.create(
        environment=light_environment,
        name=f"{light_environment.name}-run",
        started_by=engineer,
        status=Execution.Status.RUNNING,
        arn="arn:aws:states:us-east-1:123456789012:execution:sm:run",
        started_at=timezone.now(),
    )


GATE_TOKEN = "AAAA-task-token-bearer-credential-" + "x" * 40


@pytest.fixture
def light_gate(light_execution):
    """A waiting gate with all-green evidence (no state machine behind it: nothing is delivered
    in a non-transactional test, since on_commit hooks do not run)."""
    from migrations_app.models import Gate, GateCheck

    gate = Gate.objects.create(
        execution=light_execution,
        state_name="Gate01",
        entered_at=timezone.now().isoformat(),
        step=1,
        target_weights={"us-east-1": 90, "eu-central-1": 10},
        task_token=GATE_TOKEN,
    )
    for key, label in (("replication_latency", "DynamoDB replication latency"), ("dlq_depth", "Dead-letter queues")):
        GateCheck.objects.create(gate=gate, key=key, label=label, hard=True, verdict="pass", value="fine")
    return gate


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "fields"}, body
    assert body["error"]["message"], body
    return body["error"]
