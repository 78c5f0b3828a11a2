"""Amazon SNS: notifications to the environment's topic. Never carries a task token."""

from __future__ import annotations

from controlplane.aws.clients import AwsTarget, client
from controlplane.aws.errors import translated

SERVICE = "sns"


def message_publish(*, target: AwsTarget, topic_arn: str, subject: str, message: str) -> str:
    with translated(SERVICE, "Publish"):
        return client(SERVICE, target).publish(TopicArn=topic_arn, Subject=subject[:100], Message=message)["MessageId"]
