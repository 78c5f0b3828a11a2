"""AwsError tells callers whether to retry. Throttling and 5xx cannot be made to happen in the
sandbox, so botocore's Stubber produces them here; everything else goes to the moto server."""

from __future__ import annotations

import pytest
from botocore.stub import Stubber

from controlplane.aws import AwsError, AwsTarget, ssm, stepfunctions
from controlplane.aws.clients import client


@pytest.fixture
def target(sandbox_aws):
    return AwsTarget(region="us-east-1", endpoint_url=sandbox_aws)


@pytest.mark.parametrize(
    "code, status, permanent",
    [
        ("ThrottlingException", 400, False),
        ("ProvisionedThroughputExceededException", 400, False),
        ("ServiceUnavailable", 503, False),
        ("InternalFailure", 500, False),
        ("TaskTimedOut", 400, True),
        ("InvalidToken", 400, True),
        ("AccessDeniedException", 400, True),
    ],
)
def test_client_errors_are_classified(target, code, status, permanent):
    sfn = client("stepfunctions", target)
    with Stubber(sfn) as stub:
        stub.add_client_error("send_task_heartbeat", service_error_code=code, http_status_code=status)
        with pytest.raises(AwsError) as caught:
            stepfunctions.task_heartbeat(target=target, task_token="t" * 40)
    assert caught.value.code == code
    assert caught.value.permanent is permanent
    assert "t" * 40 not in str(caught.value)  # the token is not in the message


def test_an_unreachable_endpoint_is_transient():
    target = AwsTarget(region="us-east-1", endpoint_url="http://127.0.0.1:9")  # discard port: nothing listens
    with pytest.raises(AwsError) as caught:
        ssm.parameter_get(target=target, name="/x")
    assert caught.value.permanent is False
    assert caught.value.code == "Unreachable"


def test_a_garbage_token_is_permanent_against_the_sandbox(target):
    with pytest.raises(AwsError) as caught:
        stepfunctions.task_success(target=target, task_token="not-a-token", output={})
    assert caught.value.code == "InvalidToken"
    assert caught.value.permanent is True


def test_missing_parameter_is_none_not_an_error(target):
    assert ssm.parameter_get(target=target, name="/does/not/exist") is None
