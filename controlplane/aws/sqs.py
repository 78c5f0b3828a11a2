"""Amazon SQS: the gate queue."""

from __future__ import annotations

from dataclasses import dataclass

from controlplane.aws.clients import AwsTarget, client
from controlplane.aws.errors import translated

SERVICE = "sqs"


@dataclass(frozen=True)
class QueueMessage:
    message_id: str
    receipt_handle: str
    body: str
    receive_count: int


def queue_arn(*, target: AwsTarget, queue_url: str) -> str:
    with translated(SERVICE, "GetQueueAttributes"):
        attrs = client(SERVICE, target).get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    return attrs["Attributes"]["QueueArn"]


def messages_receive(
    *, target: AwsTarget, queue_url: str, max_messages: int = 10, wait_seconds: int = 0
) -> list[QueueMessage]:
    with translated(SERVICE, "ReceiveMessage"):
        resp = client(SERVICE, target).receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=max_messages,
            WaitTimeSeconds=wait_seconds,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
    return [
        QueueMessage(
            message_id=m["MessageId"],
            receipt_handle=m["ReceiptHandle"],
            body=m["Body"],
            receive_count=int(m.get("Attributes", {}).get("ApproximateReceiveCount", "1")),
        )
        for m in resp.get("Messages", [])
    ]


def message_delete(*, target: AwsTarget, queue_url: str, receipt_handle: str) -> None:
    with translated(SERVICE, "DeleteMessage"):
        client(SERVICE, target).delete_message(QueueUrl=queue_url, ReceiptHandle=receipt_handle)


def queue_depth(*, target: AwsTarget, queue_url: str) -> int:
    with translated(SERVICE, "GetQueueAttributes"):
        attrs = client(SERVICE, target).get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )
    return int(attrs["Attributes"].get("ApproximateNumberOfMessages", "0"))


def message_send(*, target: AwsTarget, queue_url: str, body: str, attributes: dict[str, str] | None = None) -> str:
    """Send one message; ``attributes`` become String message attributes. Returns its id."""
    extra = {}
    if attributes:
        extra["MessageAttributes"] = {k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()}
    with translated(SERVICE, "SendMessage"):
        resp = client(SERVICE, target).send_message(QueueUrl=queue_url, MessageBody=body, **extra)
    return resp["MessageId"]
