"""The only package that talks to AWS (boto3). See clients.py and errors.py.

Each service module has keyword-only functions that take an ``AwsTarget`` (region, endpoint,
credentials), return small dataclasses and raise ``AwsError``.
"""

from controlplane.aws.clients import AwsTarget, Credentials
from controlplane.aws.errors import AwsError

__all__ = ["AwsError", "AwsTarget", "Credentials"]
