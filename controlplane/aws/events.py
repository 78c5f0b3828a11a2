"""Amazon EventBridge: the cross-region buses' resource policies."""

from __future__ import annotations

import json

from controlplane.aws.clients import AwsTarget, client
from controlplane.aws.errors import AwsError, translated

SERVICE = "events"


def bus_policy(*, target: AwsTarget, bus_name: str) -> dict | None:
    """The bus's resource policy as a dict, or None when it has none.

    A missing bus raises AwsError (code ResourceNotFoundException).
    """
    with translated(SERVICE, "DescribeEventBus"):
        resp = client(SERVICE, target).describe_event_bus(Name=bus_name)
    policy = resp.get("Policy")
    if not policy:
        return None
    try:
        return json.loads(policy)
    except ValueError as exc:
        raise AwsError(
            f"the policy of bus {bus_name} is not JSON: {exc}",
            code="MalformedPolicy",
            permanent=True,
            service=SERVICE,
            operation="DescribeEventBus",
        ) from exc
