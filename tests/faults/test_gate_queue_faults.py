"""The gate queue misbehaving: the same gate message five times (SQS is at-least-once),
messages that are not gates, and ReceiveMessage throttled, in one drain by the beat task.
One gate; the bad messages dead-lettered and alerted; the consumer never crashes."""

from __future__ import annotations

import json

import pytest

from controlplane.aws import sqs
from controlplane.aws.clients import client as aws_client
from migrations_app import tasks
from migrations_app.deployments import outputs_known
from migrations_app.models import Alert, Gate
from sandbox import faults

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_duplicates_and_bad_messages_make_one_gate_and_are_kept_aside(faulty_environment, started_execution, proxy):
    env = faulty_environment
    target = env.aws_target()
    sqs_client = aws_client("sqs", target)
    original = sqs_client.receive_message(QueueUrl=env.gate_queue_url, WaitTimeSeconds=5)["Messages"][0]
    sqs_client.change_message_visibility(
        QueueUrl=env.gate_queue_url, ReceiptHandle=original["ReceiptHandle"], VisibilityTimeout=0
    )
    for _ in range(4):
        sqs.message_send(target=target, queue_url=env.gate_queue_url, body=original["Body"])
    unknown = dict(json.loads(original["Body"]), executionName="no-such-execution")
    sqs.message_send(target=target, queue_url=env.gate_queue_url, body=json.dumps(unknown))
    sqs.message_send(target=target, queue_url=env.gate_queue_url, body="{not json")
    # Every other ReceiveMessage is throttled while the beat drains the queue.
    faults.faults_set(proxy.url, {"service": "sqs", "operation": "ReceiveMessage", "fault": "throttle", "rate": 0.5})

    for _ in range(20):
        tasks.gate_intake_poll_task()  # returns normally whatever the queue holds
        if sqs.queue_depth(target=target, queue_url=env.gate_queue_url) == 0:
            break
    faults.faults_clear(proxy.url)

    assert sqs.queue_depth(target=target, queue_url=env.gate_queue_url) == 0
    assert Gate.objects.filter(execution=started_execution).count() == 1
    dlq = outputs_known(environment=env)["orchestration"]["GateDlqUrl"]
    assert sqs.queue_depth(target=target, queue_url=dlq) == 2
    alerts = Alert.objects.filter(environment=env, kind="gate_message_invalid")
    assert alerts.count() == 2
    assert any("unknown execution" in a.message for a in alerts) and any("not JSON" in a.message for a in alerts)
    assert all("taskToken" not in a.message for a in alerts)
