"""What the sandbox adds to moto so that CloudFormation behaves as the deploy code expects.

Loaded only by the moto server process (``python -m sandbox.moto_server``), never by Django:

- ``changesets``: change sets that create and update stacks as create_stack/update_stack do
  (Outputs, Exports, parameters), a Changes list with Replacement and Details, the AWS
  "didn't contain changes" failure, rollback instead of HTTP 500 when a resource fails, and an
  update path that neither loses resources moto cannot update nor ignores DeletionPolicy on
  removal.
- one module per service for the resource types moto's CloudFormation skips, each backed by
  moto's own backend so what a stack creates is visible through the normal APIs
  (dynamodb: GlobalTable; cloudwatch: Alarm; cloudfront: Distribution, ResponseHeadersPolicy;
  events: EventBusPolicy; messaging: QueuePolicy, TopicPolicy, Subscription; s3: BucketPolicy;
  apigateway: Stage; awslambda: Url; xray: Group), and fixes to types moto has but gets
  wrong (Table settings and updates, EventBus and Topic updates, StateMachine's backend,
  SSM Parameter names and versions, API Gateway Method, bucket-policy enforcement);
- ``attributes``: GetAtt attributes and Ref values moto's own types lack;
- ``streams``: DynamoDB streams a consumer can follow (transactions that do not swap the
  table, and with it the stream, on cancellation; no dispatch to event source mappings).

Each module says what moto does there and what the sandbox does instead.

moto discovers resource types through ``CloudFormationModel.__subclasses__()`` (cached on first
use), so ``install()`` must run before the server handles its first request.
"""

from __future__ import annotations

_installed = False


def install() -> None:
    """Register the resource types and apply the behaviour patches (idempotent)."""
    global _installed
    if _installed:
        return

    from moto.cloudformation import parsing

    from . import (  # noqa: F401 - importing a module defines (registers) its resource types
        apigateway,
        attributes,
        awslambda,
        changesets,
        cloudfront,
        cloudwatch,
        dynamodb,
        events,
        messaging,
        route53,
        s3,
        ssm,
        stepfunctions,
        streams,
        xray,
    )

    changesets.install()
    cloudfront.install()
    dynamodb.install()
    events.install()
    messaging.install()
    apigateway.install()
    awslambda.install()
    attributes.install()
    ssm.install()
    s3.install()
    route53.install()
    stepfunctions.install()
    streams.install()

    parsing.get_model_list.cache_clear()
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()
    _installed = True
