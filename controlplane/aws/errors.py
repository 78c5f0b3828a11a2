"""One error type for every AWS failure, telling callers whether a retry can help.

Modelled on healthchecks' ``TransportError(permanent=...)``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

# Error codes that mean "try again later" whatever the service.
TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "SlowDown",
        "PriorRequestNotComplete",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)


class AwsError(Exception):
    """An AWS call failed. ``permanent`` is False when retrying later may succeed."""

    def __init__(self, message: str, *, code: str = "", permanent: bool, service: str = "", operation: str = ""):
        super().__init__(message)
        self.message = message
        self.code = code
        self.permanent = permanent
        self.service = service
        self.operation = operation

    def __str__(self) -> str:
        where = f"{self.service}.{self.operation}: " if self.service else ""
        code = f"{self.code}: " if self.code else ""
        return f"{where}{code}{self.message}"


@contextlib.contextmanager
def translated(service: str, operation: str) -> Iterator[None]:
    """Turn botocore exceptions raised inside the block into ``AwsError``."""
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "")).split(":")[-1]
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0
        transient = code in TRANSIENT_CODES or status >= 500 or status == 429
        raise AwsError(
            str(error.get("Message", "")) or str(exc),
            code=code,
            permanent=not transient,
            service=service,
            operation=operation,
        ) from exc
    except (EndpointConnectionError, BotoConnectionError, ReadTimeoutError, ConnectTimeoutError) as exc:
        raise AwsError(
            f"cannot reach AWS endpoint: {exc}",
            code="Unreachable",
            permanent=False,
            service=service,
            operation=operation,
        ) from exc
    except BotoCoreError as exc:
        raise AwsError(str(exc), code=type(exc).__name__, permanent=True, service=service, operation=operation) from exc
