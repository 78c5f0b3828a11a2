"""KMS: signing report-pack manifests with an asymmetric key, and checking such signatures."""

from __future__ import annotations

from controlplane.aws.clients import AwsTarget, client
from controlplane.aws.errors import AwsError, translated

SERVICE = "kms"


def digest_sign(*, target: AwsTarget, key_id: str, digest: bytes, algorithm: str) -> bytes:
    """Sign a SHA-256 digest (MessageType DIGEST: the manifest may exceed KMS's 4 KB message limit)."""
    with translated(SERVICE, "Sign"):
        response = client(SERVICE, target).sign(
            KeyId=key_id, Message=digest, MessageType="DIGEST", SigningAlgorithm=algorithm
        )
    return response["Signature"]


def digest_verify(*, target: AwsTarget, key_id: str, digest: bytes, signature: bytes, algorithm: str) -> bool:
    """True when KMS says ``signature`` is the key's signature of ``digest``."""
    try:
        with translated(SERVICE, "Verify"):
            response = client(SERVICE, target).verify(
                KeyId=key_id, Message=digest, MessageType="DIGEST", Signature=signature, SigningAlgorithm=algorithm
            )
    except AwsError as exc:
        if exc.code == "KMSInvalidSignatureException":
            return False
        raise
    return bool(response.get("SignatureValid"))


def signing_key_create(*, target: AwsTarget, key_spec: str = "ECC_NIST_P256", description: str = "") -> str:
    """A new asymmetric SIGN_VERIFY key; returns its ARN (provisioning and tests)."""
    with translated(SERVICE, "CreateKey"):
        response = client(SERVICE, target).create_key(
            KeyUsage="SIGN_VERIFY", KeySpec=key_spec, Description=description or "report-pack manifests"
        )
    return response["KeyMetadata"]["Arn"]
