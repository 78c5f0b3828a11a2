"""Creating an environment: bad input gets a clear message and creates nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from migrations_app.models import Environment

GOOD = {
    "name": "prod-eu",
    "kind": "aws",
    "source_region": "us-east-1",
    "target_region": "eu-central-1",
    "aws_endpoint_url": "",
    "hosted_zone_name": "pay.example.com",
    "record_name": "api.pay.example.com",
    "control_plane_principal_arn": "arn:aws:iam::123456789012:role/control-plane",
}


@pytest.mark.django_db
def test_an_engineer_creates_an_environment_and_it_is_audited(client, engineer):
    client.force_login(engineer)
    response = client.post(reverse("environment-create"), GOOD)
    assert response.status_code == 302
    env = Environment.objects.get(name="prod-eu")
    assert env.kind == "aws" and env.target_region == "eu-central-1"
    assert AuditEvent.objects.get(event_type="environment.create").actor == engineer


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change, message",
    [
        ({"name": "Prod EU!"}, "Enter a valid name"),
        ({"name": "a-name-far-too-long-for-buckets"}, "at most 24"),
        ({"name": "new"}, "reserved"),
        ({"target_region": "us-east-1"}, "must differ"),
        ({"source_region": "mars-1"}, "Enter a valid value"),
        ({"kind": "sandbox"}, "needs the sandbox AWS endpoint"),
        ({"aws_endpoint_url": "http://127.0.0.1:5055"}, "leave the endpoint blank"),
        ({"aws_endpoint_url": "not a url", "kind": "sandbox"}, "Enter a valid URL"),
        ({"record_name": "api.other.example.org"}, "is not inside the hosted zone"),
        ({"control_plane_principal_arn": "arn:aws:s3:::bucket"}, "Enter an IAM ARN"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(client, engineer, change, message):
    client.force_login(engineer)
    response = client.post(reverse("environment-create"), {**GOOD, **change})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Environment.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["approver1", "auditor", "outsider"])
def test_only_engineers_create_environments(request, client, who):
    client.force_login(request.getfixturevalue(who))
    assert client.post(reverse("environment-create"), GOOD).status_code == 403
    assert not Environment.objects.exists()
