"""Sandbox environments for tests and benchmarks: created, deployed to the end, and given the
metrics AWS would publish for them.

One place for what the test fixtures (tests/conftest.py) and the bench scripts (bench/) both do;
the product's own path is ``manage.py provision NAME --create-sandbox``.
"""

from __future__ import annotations

import uuid


def sandbox_environment_create(endpoint: str, prefix: str = "d", *, create_hosted_zone: bool = True):
    """A new environment at the sandbox AWS ``endpoint``, with its hosted zone and no stack.

    ``create_hosted_zone=False`` makes the row only (with its plan), as the page does: for
    tests that need no AWS behind it (the endpoint may then be a closed port)."""
    from migrations_app import services
    from migrations_app.models import Environment

    name = f"{prefix}{uuid.uuid4().hex[:8]}"
    return services.environment_create(
        actor=None,
        name=name,
        kind=Environment.Kind.SANDBOX,
        aws_endpoint_url=endpoint,
        hosted_zone_name=f"{name}.example.com",
        record_name=f"api.{name}.example.com",
        create_hosted_zone=create_hosted_zone,
    )


def deployment_drive(deployment, max_steps: int = 400):
    """Advance until the deployment stops running, as the Celery task chain does."""
    from migrations_app import deployments
    from migrations_app.models import Deployment

    for _ in range(max_steps):
        deployment = deployments.deployment_advance(deployment_id=deployment.pk).deployment
        if deployment.status != Deployment.Status.RUNNING:
            return deployment
    raise AssertionError("deployment did not finish")


def deploy_all(environment, actor=None):
    """Deploy every stack, change sets confirmed automatically; returns the finished deployment."""
    from migrations_app import deployments

    deployment = deployments.deployment_start(environment=environment, actor=actor, auto_confirm=True, enqueue=False)
    return deployment_drive(deployment)


def sandbox_environment_deploy(endpoint: str, prefix: str = "d"):
    """A new environment with its nine stacks deployed; raises if the deployment failed."""
    environment = sandbox_environment_create(endpoint, prefix)
    deployment = deploy_all(environment)
    if deployment.status != "succeeded":
        raise AssertionError(f"deploying {environment.name} failed: {deployment.error}")
    environment.refresh_from_db()
    return environment


def replication_latency_put(environment, milliseconds: float = 120.0) -> None:
    """What DynamoDB publishes for a global table: ReplicationLatency, in the sending region."""
    from controlplane.aws import cloudwatch

    for sending, receiving in (
        (environment.source_region, environment.target_region),
        (environment.target_region, environment.source_region),
    ):
        cloudwatch.metric_put(
            target=environment.aws_target(sending),
            namespace="AWS/DynamoDB",
            metric="ReplicationLatency",
            dimensions={"TableName": f"{environment.name}-transactions", "ReceivingRegion": receiving},
            value=milliseconds,
            unit="Milliseconds",
        )
