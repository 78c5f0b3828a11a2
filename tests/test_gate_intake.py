"""The gate queue consumer: one gate per waiting task, whatever the queue does."""

from __future__ import annotations

import json

import pytest

from audit.models import AuditEvent
from controlplane.aws import sqs
from migrations_app import services
from migrations_app.errors import GateMessageInvalid
from migrations_app.models import Gate
from tests.conftest import wait_for_gate

# Transactional: on_commit hooks (the Celery enqueues) fire as they do in production.
pytestmark = pytest.mark.django_db(transaction=True)


def test_a_waiting_task_becomes_one_gate_with_its_step_and_weights(environment, started_execution):
    gate = wait_for_gate(environment, started_execution)
    assert gate.step == 1
    assert gate.state_name == "Gate1"
    assert gate.target_weights == {"us-east-1": 90, "eu-central-1": 10}
    assert gate.ssm_parameter == f"/cutover/{environment.name}/{started_execution.name}/Gate1"
    assert gate.task_token
    assert AuditEvent.objects.filter(event_type="gate.arrived", target_id=str(gate.pk)).count() == 1
    # The message is gone from the queue once the gate committed.
    assert sqs.queue_depth(target=environment.aws_target(), queue_url=environment.gate_queue_url) == 0


def test_a_duplicate_message_creates_no_second_gate(environment, started_execution):
    gate = wait_for_gate(environment, started_execution)
    message = {
        "kind": "cutover-gate",
        "taskToken": gate.task_token,
        "executionArn": started_execution.arn,
        "executionName": started_execution.name,
        "stateName": gate.state_name,
        "enteredTime": gate.entered_at,
        "step": gate.step,
        "targetWeights": gate.target_weights,
    }
    from controlplane.aws.clients import client as aws_client

    for _ in range(5):
        aws_client("sqs", environment.aws_target()).send_message(
            QueueUrl=environment.gate_queue_url, MessageBody=json.dumps(message)
        )
    counts = services.gate_intake_poll(environment=environment)

    assert counts.received == 5
    assert counts.duplicates == 5
    assert counts.created == 0
    assert Gate.objects.filter(execution=started_execution).count() == 1
    assert AuditEvent.objects.filter(event_type="gate.arrived").count() == 1
    assert sqs.queue_depth(target=environment.aws_target(), queue_url=environment.gate_queue_url) == 0


@pytest.mark.parametrize(
    "body, error",
    [
        ("not json", "not JSON"),
        ("[1, 2]", "lacks required fields"),
        (json.dumps({"taskToken": "t"}), "lacks required fields"),
    ],
)
def test_malformed_messages_are_refused_with_a_reason(environment, body, error):
    with pytest.raises(GateMessageInvalid, match=error):
        services.gate_intake_message(environment=environment, body=body)


def test_a_message_for_an_unknown_execution_is_dead_lettered_and_alerted(environment):
    body = json.dumps(
        {
            "taskToken": "secret-token",
            "executionArn": "arn:aws:states:us-east-1:123456789012:execution:x:nope",
            "executionName": "nope",
            "stateName": "Gate1",
            "enteredTime": "2026-01-01T00:00:00Z",
            "step": 1,
            "targetWeights": {"us-east-1": 90, "eu-central-1": 10},
        }
    )
    from controlplane.aws.clients import client as aws_client

    aws_client("sqs", environment.aws_target()).send_message(QueueUrl=environment.gate_queue_url, MessageBody=body)
    counts = services.gate_intake_poll(environment=environment)
    assert counts.invalid == 1
    assert Gate.objects.count() == 0
    # Kept aside: off the gate queue, on its dead-letter queue with the reason, alerted, recorded.
    from migrations_app.deployments import outputs_known
    from migrations_app.models import Alert

    target = environment.aws_target()
    assert sqs.queue_depth(target=target, queue_url=environment.gate_queue_url) == 0
    dlq = outputs_known(environment=environment)["orchestration"]["GateDlqUrl"]
    moved = aws_client("sqs", target).receive_message(QueueUrl=dlq, MessageAttributeNames=["All"])["Messages"]
    assert [m["Body"] for m in moved] == [body]
    assert "unknown execution" in moved[0]["MessageAttributes"]["RejectedReason"]["StringValue"]
    alert = Alert.objects.get(environment=environment, kind="gate_message_invalid")
    assert "dead-letter queue" in alert.message and "secret-token" not in alert.message
    event = AuditEvent.objects.get(event_type="gate.message_rejected")
    assert "secret-token" not in json.dumps(event.after)
