"""SQS and SNS for CloudFormation: AWS::SQS::QueuePolicy, AWS::SNS::Subscription and
AWS::SNS::TopicPolicy (all skipped by moto), and AWS::SNS::Topic as AWS updates it.

moto's AWS::SNS::Topic is deleted and created again on any update (losing its subscriptions
and policy) and has no ``TopicArn`` attribute; here it is updated in place. AWS::SQS::Queue
gets the ``QueueUrl`` attribute.
"""

from __future__ import annotations

import json
import re
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.sns.exceptions import TopicNotFound
from moto.sns.models import SNSBackend, Topic, sns_backends
from moto.sqs.exceptions import QueueDoesNotExist
from moto.sqs.models import Queue, SQSBackend, sqs_backends

from .cfn_resource import SandboxResource, region_of_arn, to_bool, to_json_text


def _sns(account_id: str, region: str) -> SNSBackend:
    return sns_backends[account_id][region]


def _sqs(account_id: str, region: str) -> SQSBackend:
    return sqs_backends[account_id][region]


def _queue_from_url(url: str, account_id: str, default_region: str) -> Queue | None:
    match = re.search(r"sqs\.([a-z0-9-]+)\.", url)
    region = match.group(1) if match else default_region
    try:
        return _sqs(account_id, region).get_queue(url.rstrip("/").split("/")[-1])
    except QueueDoesNotExist:
        return None


def _topic(arn: str, account_id: str, default_region: str) -> Topic | None:
    try:
        return _sns(account_id, region_of_arn(arn, default_region)).get_topic(arn)
    except TopicNotFound:
        return None


# --- AWS::SQS::QueuePolicy -----------------------------------------------------------------


class QueuePolicy(SandboxResource, CloudFormationModel):
    def __init__(self, name: str, queue_urls: list[str], account_id: str, region_name: str):
        self.name = name
        self.queue_urls = queue_urls
        self.account_id = account_id
        self.region_name = region_name

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SQS::QueuePolicy"

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> QueuePolicy:
        props = cloudformation_json["Properties"]
        policy = to_json_text(props["PolicyDocument"])
        urls = list(props.get("Queues") or [])
        for url in urls:
            queue = _queue_from_url(url, account_id, region_name)
            if queue is None:
                raise QueueDoesNotExist()
            queue.policy = policy
        return cls(resource_name, urls, account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: QueuePolicy,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> QueuePolicy:
        original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(original_resource.name, cloudformation_json, account_id, region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        for url in self.queue_urls:
            queue = _queue_from_url(url, account_id, self.region_name)
            if queue is not None:
                queue.policy = None

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        urls = list((cloudformation_json.get("Properties") or {}).get("Queues") or [])
        cls(resource_name, urls, account_id, region_name).delete(account_id, region_name)


# --- AWS::SNS::TopicPolicy -----------------------------------------------------------------


class TopicPolicy(SandboxResource, CloudFormationModel):
    def __init__(self, name: str, topic_arns: list[str], account_id: str, region_name: str):
        self.name = name
        self.topic_arns = topic_arns
        self.account_id = account_id
        self.region_name = region_name

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SNS::TopicPolicy"

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> TopicPolicy:
        props = cloudformation_json["Properties"]
        policy = to_json_text(props["PolicyDocument"])
        arns = list(props.get("Topics") or [])
        for arn in arns:
            topic = _topic(arn, account_id, region_name)
            if topic is None:
                raise TopicNotFound()
            topic.policy = policy
        return cls(resource_name, arns, account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: TopicPolicy,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> TopicPolicy:
        original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(original_resource.name, cloudformation_json, account_id, region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        for arn in self.topic_arns:
            topic = _topic(arn, account_id, self.region_name)
            if topic is not None:
                region = region_of_arn(arn, self.region_name)
                topic._policy_json = topic._create_default_topic_policy(region, topic.account_id, topic.name)

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        arns = list((cloudformation_json.get("Properties") or {}).get("Topics") or [])
        cls(resource_name, arns, account_id, region_name).delete(account_id, region_name)


# --- AWS::SNS::Subscription ----------------------------------------------------------------

JSON_ATTRIBUTES = ("FilterPolicy", "RedrivePolicy", "DeliveryPolicy")


class Subscription(SandboxResource, CloudFormationModel):
    ATTRIBUTES = ("Arn",)

    def __init__(self, arn: str, region_name: str):
        self.arn = arn
        self.region_name = region_name

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SNS::Subscription"

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    def attributes(self) -> dict[str, Any]:
        return {"Arn": self.arn}

    @staticmethod
    def _set_attributes(backend: SNSBackend, arn: str, props: dict[str, Any]) -> None:
        current = backend.subscriptions[arn].attributes
        # The scope first: moto validates FilterPolicy against the scope already set.
        if props.get("FilterPolicyScope"):
            backend.set_subscription_attributes(arn, "FilterPolicyScope", props["FilterPolicyScope"])
        for name in JSON_ATTRIBUTES:
            value = props.get(name)
            if value:
                backend.set_subscription_attributes(arn, name, value if isinstance(value, str) else json.dumps(value))
            elif name in current:
                backend.set_subscription_attributes(arn, name, "")
                current.pop(name, None)
        backend.set_subscription_attributes(arn, "RawMessageDelivery", to_bool(props.get("RawMessageDelivery")))
        if props.get("SubscriptionRoleArn"):
            backend.set_subscription_attributes(arn, "SubscriptionRoleArn", props["SubscriptionRoleArn"])

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Subscription:
        props = cloudformation_json["Properties"]
        topic_arn = props["TopicArn"]
        region = props.get("Region") or region_of_arn(topic_arn, region_name)
        backend = _sns(account_id, region)
        subscription = backend.subscribe(topic_arn, props.get("Endpoint"), props["Protocol"])
        cls._set_attributes(backend, subscription.arn, props)
        return cls(subscription.arn, region)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: Subscription,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Subscription:
        props = cloudformation_json["Properties"]
        backend = _sns(account_id, original_resource.region_name)
        current = backend.subscriptions.get(original_resource.arn)
        same = (
            current is not None
            and current.topic.arn == props["TopicArn"]
            and current.protocol == props["Protocol"]
            and current.endpoint == props.get("Endpoint")
        )
        if not same:
            original_resource.delete(account_id, region_name)
            return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)
        cls._set_attributes(backend, original_resource.arn, props)
        return original_resource

    def delete(self, account_id: str, region_name: str) -> None:
        _sns(account_id, self.region_name).unsubscribe(self.arn)

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        _sns(account_id, region_of_arn(resource_name, region_name)).unsubscribe(resource_name)


# --- AWS::SNS::Topic and AWS::SQS::Queue ---------------------------------------------------

_original_topic_get_cfn_attribute = Topic.get_cfn_attribute
_original_queue_get_cfn_attribute = Queue.get_cfn_attribute


def topic_get_cfn_attribute(self: Topic, attribute_name: str) -> Any:
    if attribute_name == "TopicArn":
        return self.arn
    return _original_topic_get_cfn_attribute(self, attribute_name)


def queue_get_cfn_attribute(self: Queue, attribute_name: str) -> Any:
    if attribute_name == "QueueUrl":
        return self.physical_resource_id
    return _original_queue_get_cfn_attribute(self, attribute_name)


def topic_update_from_cloudformation_json(
    cls: type[Topic],
    original_resource: Topic,
    new_resource_name: str,
    cloudformation_json: dict[str, Any],
    account_id: str,
    region_name: str,
) -> Topic:
    props = cloudformation_json.get("Properties") or {}
    if new_resource_name != original_resource.name:
        replacement = Topic.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )
        original_resource.delete(account_id, region_name)
        return replacement
    backend = _sns(account_id, region_name)
    original_resource.display_name = props.get("DisplayName", "")
    original_resource.kms_master_key_id = props.get("KmsMasterKeyId", "")
    old = {(s["Protocol"], s["Endpoint"]) for s in getattr(original_resource, "subscription", None) or []}
    new = {(s["Protocol"], s["Endpoint"]) for s in props.get("Subscription") or []}
    for protocol, endpoint in old - new:
        existing = backend._find_subscription(original_resource.arn, endpoint, protocol)
        if existing is not None:
            backend.unsubscribe(existing.arn)
    for protocol, endpoint in new - old:
        backend.subscribe(original_resource.arn, endpoint, protocol)
    original_resource.subscription = props.get("Subscription") or []
    return original_resource


def _has_cfn_attr(original: Any, extra: set[str]) -> Any:
    def has_cfn_attr(cls: type, attr: str) -> bool:
        return attr in extra or original(attr)

    return classmethod(has_cfn_attr)


def install() -> None:
    Topic.get_cfn_attribute = topic_get_cfn_attribute  # type: ignore[method-assign]
    Topic.has_cfn_attr = _has_cfn_attr(Topic.has_cfn_attr, {"TopicArn"})  # type: ignore[method-assign]
    Topic.update_from_cloudformation_json = classmethod(topic_update_from_cloudformation_json)  # type: ignore[method-assign,assignment]
    Queue.get_cfn_attribute = queue_get_cfn_attribute  # type: ignore[method-assign]
    Queue.has_cfn_attr = _has_cfn_attr(Queue.has_cfn_attr, {"QueueUrl"})  # type: ignore[method-assign]
