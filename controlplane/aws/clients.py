"""The client factory: one boto3 client per (service, region, endpoint, credentials).

Where the control plane talks to is data (an ``AwsTarget`` built from an Environment row);
the sandbox is only an endpoint override, nothing else in the code knows about it.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass

import boto3
from botocore.config import Config
from django.conf import settings


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None


# Credentials the sandbox accepts; never used against a real endpoint.
SANDBOX_CREDENTIALS = Credentials(access_key_id="testing", secret_access_key="testing", session_token="testing")


@dataclass(frozen=True)
class AwsTarget:
    """Where one AWS call goes: a region, optionally an endpoint override and credentials."""

    region: str
    endpoint_url: str | None = None
    credentials: Credentials | None = None

    def with_credentials(self, credentials: Credentials) -> AwsTarget:
        return AwsTarget(region=self.region, endpoint_url=self.endpoint_url, credentials=credentials)

    def in_region(self, region: str) -> AwsTarget:
        return AwsTarget(region=region, endpoint_url=self.endpoint_url, credentials=self.credentials)


_lock = threading.Lock()


@functools.lru_cache(maxsize=256)
def _client(service: str, target: AwsTarget):
    config = Config(
        region_name=target.region,
        retries={"max_attempts": settings.AWS_MAX_ATTEMPTS, "mode": "standard"},
        connect_timeout=settings.AWS_CONNECT_TIMEOUT,
        read_timeout=settings.AWS_READ_TIMEOUT,
    )
    creds = target.credentials
    if creds is None and target.endpoint_url:
        creds = SANDBOX_CREDENTIALS
    session_kwargs = {}
    if creds is not None:
        session_kwargs = {
            "aws_access_key_id": creds.access_key_id,
            "aws_secret_access_key": creds.secret_access_key,
            "aws_session_token": creds.session_token,
        }
    # boto3.Session is not thread-safe to create clients from concurrently; clients are.
    with _lock:
        session = boto3.session.Session(region_name=target.region, **session_kwargs)
        return session.client(service, endpoint_url=target.endpoint_url, config=config)


def client(service: str, target: AwsTarget):
    """A boto3 client for ``service`` at ``target``; cached, safe to share between threads."""
    return _client(service, target)


def clear_cache() -> None:
    _client.cache_clear()
