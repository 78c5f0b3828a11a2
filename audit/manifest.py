"""Signing a report pack's manifest, and checking a pack (``report_verify``).

The signature covers the canonical JSON of the manifest without its ``signatures`` list
(sorted keys, no spaces, UTF-8). An HMAC-SHA256 with ``REPORT_SIGNING_KEY`` is always
present; with ``REPORT_KMS_KEY_ID`` set, a KMS asymmetric signature of the same bytes'
SHA-256 is added, which a verifier checks with kms:Verify (no shared secret).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import json
import zipfile
import zlib
from dataclasses import dataclass, field

from django.conf import settings

from audit.exports import content_from_csv_row
from audit.models import content_hash
from controlplane.aws import AwsTarget, kms
from controlplane.aws.errors import AwsError

MANIFEST_NAME = "manifest.json"
HMAC_ALG = "HMAC-SHA256"
KMS_PREFIX = "KMS:"


def signing_key() -> bytes:
    if settings.REPORT_SIGNING_KEY:
        return settings.REPORT_SIGNING_KEY.encode()
    # Derived, so the HMAC key is not SECRET_KEY itself (which also signs sessions).
    return hashlib.sha256(b"cutover-control-plane report-pack signing\0" + settings.SECRET_KEY.encode()).digest()


def key_id(key: bytes) -> str:
    """Names the key without revealing it, so a verifier knows which one to use."""
    return hashlib.sha256(b"key-id\0" + key).hexdigest()[:16]


def signed_bytes(manifest: dict) -> bytes:
    unsigned = {k: v for k, v in manifest.items() if k != "signatures"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def kms_target() -> AwsTarget:
    return AwsTarget(region=settings.REPORT_KMS_REGION, endpoint_url=settings.REPORT_KMS_ENDPOINT_URL or None)


def manifest_sign(manifest: dict) -> list[dict]:
    payload = signed_bytes(manifest)
    key = signing_key()
    signatures = [{"alg": HMAC_ALG, "key_id": key_id(key), "value": hmac.new(key, payload, hashlib.sha256).hexdigest()}]
    if settings.REPORT_KMS_KEY_ID:
        algorithm = settings.REPORT_KMS_ALGORITHM
        signature = kms.digest_sign(
            target=kms_target(),
            key_id=settings.REPORT_KMS_KEY_ID,
            digest=hashlib.sha256(payload).digest(),
            algorithm=algorithm,
        )
        signatures.append(
            {
                "alg": KMS_PREFIX + algorithm,
                "key_id": settings.REPORT_KMS_KEY_ID,
                "region": settings.REPORT_KMS_REGION,
                "value": base64.b64encode(signature).decode(),
            }
        )
    return signatures


@dataclass
class PackCheck:
    """What ``report_verify`` found: one line per check, and the failures."""

    passed: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def _signatures_check(manifest: dict, check: PackCheck) -> None:
    signatures = manifest.get("signatures") or []
    if not signatures:
        check.failures.append("signature: the manifest carries no signature")
        return
    payload = signed_bytes(manifest)
    for sig in signatures:
        alg = sig.get("alg", "")
        if alg == HMAC_ALG:
            key = signing_key()
            if sig.get("key_id") != key_id(key):
                check.failures.append(
                    f"signature {HMAC_ALG}: signed with key {sig.get('key_id')}, this installation's key is "
                    f"{key_id(key)}: set REPORT_SIGNING_KEY to the key the pack was signed with"
                )
                continue
            expected = hmac.new(key, payload, hashlib.sha256).hexdigest()
            if hmac.compare_digest(expected, str(sig.get("value", ""))):
                check.passed.append(f"signature {HMAC_ALG} (key {sig['key_id']}) valid")
            else:
                check.failures.append(f"signature {HMAC_ALG}: does not match: manifest.json was changed")
        elif alg.startswith(KMS_PREFIX):
            target = AwsTarget(
                region=sig.get("region") or settings.REPORT_KMS_REGION,
                endpoint_url=settings.REPORT_KMS_ENDPOINT_URL or None,
            )
            try:
                valid = kms.digest_verify(
                    target=target,
                    key_id=sig["key_id"],
                    digest=hashlib.sha256(payload).digest(),
                    signature=base64.b64decode(sig["value"]),
                    algorithm=alg[len(KMS_PREFIX) :],
                )
            except (AwsError, KeyError, ValueError) as exc:
                check.failures.append(f"signature {alg}: cannot be checked: {exc}")
                continue
            if valid:
                check.passed.append(f"signature {alg} (key {sig['key_id']}) valid")
            else:
                check.failures.append(f"signature {alg}: does not match: manifest.json was changed")
        else:
            check.failures.append(f"signature: unknown algorithm {alg!r}")


def _audit_events_check(zf: zipfile.ZipFile, name: str, manifest: dict, check: PackCheck) -> None:
    """Every exported entry's hash from its content, and each link to the row before."""
    expected_first_prev = (manifest.get("audit_events") or {}).get("first_prev_hash")
    previous = None
    rows = 0
    with zf.open(name) as raw:
        reader = csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
        for rows, row in enumerate(reader, start=1):  # noqa: B007 - rows is read after the loop
            if content_hash(content_from_csv_row(row)) != row["hash"]:
                check.failures.append(f"file {name}: row {rows} (entry #{row['id']}) does not match its hash")
                return
            link = previous if previous is not None else expected_first_prev
            if link is not None and row["prev_hash"] != link:
                check.failures.append(
                    f"file {name}: row {rows} (entry #{row['id']}) does not link to the row before it"
                )
                return
            previous = row["hash"]
    check.passed.append(f"file {name}: {rows} entries, each hash and link recomputed")


def _member_sha256(path, info: zipfile.ZipInfo) -> str:
    """SHA-256 of one member's content, read strictly from its raw bytes.

    Stricter than ``ZipFile.open``: every byte of the compressed data must belong to one
    complete deflate stream (a flipped bit that leaves the output intact, such as the final-
    block flag, is still refused), and the CRC-32 and size must match the header.
    """
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        header = f.read(30)
        if len(header) != 30 or header[:4] != b"PK\x03\x04":
            raise zipfile.BadZipFile("bad local header")
        name_len, extra_len = int.from_bytes(header[26:28], "little"), int.from_bytes(header[28:30], "little")
        f.seek(name_len + extra_len, 1)
        remaining = info.compress_size
        digest, crc, size = hashlib.sha256(), 0, 0
        inflate = zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
        if info.compress_type not in (zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED):
            raise ValueError(f"unexpected compression method {info.compress_type}")
        while remaining:
            raw = f.read(min(remaining, 1 << 20))
            if not raw:
                raise EOFError("the pack ends inside this file")
            remaining -= len(raw)
            block = inflate.decompress(raw) if inflate else raw
            digest.update(block)
            crc, size = zlib.crc32(block, crc), size + len(block)
        if inflate is not None:
            tail = inflate.flush()
            digest.update(tail)
            crc, size = zlib.crc32(tail, crc), size + len(tail)
            if not inflate.eof or inflate.unused_data:
                raise zipfile.BadZipFile("the compressed data is not one complete deflate stream")
        if crc != info.CRC or size != info.file_size:
            raise zipfile.BadZipFile("CRC-32 or size does not match the ZIP header")
    return digest.hexdigest()


def pack_verify(path) -> PackCheck:
    """Recompute a pack: the manifest's signatures, every file's SHA-256, the audit chain inside."""
    check = PackCheck()
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        check.failures.append(f"pack: not a readable ZIP file: {exc}")
        return check
    with zf:
        try:
            manifest = json.loads(zf.read(MANIFEST_NAME))
        except KeyError:
            check.failures.append(f"pack: {MANIFEST_NAME} is missing")
            return check
        except (ValueError, zipfile.BadZipFile, OSError) as exc:
            check.failures.append(f"file {MANIFEST_NAME}: cannot be read: {exc}")
            return check
        _signatures_check(manifest, check)
        listed = manifest.get("files") or {}
        present = {info.filename for info in zf.infolist() if info.filename != MANIFEST_NAME}
        for extra in sorted(present - set(listed)):
            check.failures.append(f"file {extra}: in the pack but not in the manifest")
        for name in sorted(listed):
            if name not in present:
                check.failures.append(f"file {name}: listed in the manifest but missing from the pack")
                continue
            try:
                digest = _member_sha256(path, zf.getinfo(name))
            except (zipfile.BadZipFile, OSError, EOFError, zlib.error, ValueError) as exc:
                check.failures.append(f"file {name}: cannot be read: {exc}")
                continue
            if digest != listed[name].get("sha256"):
                check.failures.append(f"file {name}: SHA-256 {digest} does not match the manifest")
                continue
            check.passed.append(f"file {name}: SHA-256 matches")
            if name == "audit_events.csv":
                _audit_events_check(zf, name, manifest, check)
    return check
