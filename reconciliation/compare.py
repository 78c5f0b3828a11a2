"""The arithmetic of reconciliation, without I/O: window aggregates, the bucket comparison and
the key-level differences of a drilled-down bucket.

The stream consumer keeps, per window and hash bucket: count, amount sum, and a checksum that is
the sum mod 2**64 of h(transactionId + "#" + version), h = the first 8 bytes of SHA-256 read
big-endian. The sum does not depend on the order items arrive in, so two replicas holding the
same items at the same versions have equal rows whatever the replication order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

MOD = 2**64


def h64(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def shard_for(transaction_id: str, buckets: int) -> int:
    """The hash bucket of a transaction (the Lambdas stamp it into timeBucketShard)."""
    return h64(transaction_id) % buckets


@dataclass
class Aggregate:
    count: int = 0
    amount_sum: int = 0
    checksum: int = 0  # mod 2**64

    def add(self, transaction_id: str, version: int, amount: int) -> None:
        self.count += 1
        self.amount_sum += amount
        self.checksum = (self.checksum + h64(f"{transaction_id}#{version}")) % MOD

    def key(self) -> tuple[int, int, int]:
        return (self.count, self.amount_sum, self.checksum % MOD)


def aggregate(records: Iterable[tuple[str, int, int]], buckets: int) -> dict[int, Aggregate]:
    """(transactionId, version, amount) records into per-bucket aggregates, as the consumer does."""
    out: dict[int, Aggregate] = {}
    for transaction_id, version, amount in records:
        digest = hashlib.sha256(transaction_id.encode()).digest()
        bucket = int.from_bytes(digest[:8], "big") % buckets
        row = out.get(bucket)
        if row is None:
            row = out[bucket] = Aggregate()
        row.add(transaction_id, version, amount)
    return out


def buckets_mismatched(a: dict[int, tuple[int, int, int]], b: dict[int, tuple[int, int, int]]) -> list[int]:
    """Buckets whose (count, amount sum, checksum) differ; a missing bucket counts as zeros."""
    zero = (0, 0, 0)
    return sorted(k for k in set(a) | set(b) if a.get(k, zero) != b.get(k, zero))


@dataclass(frozen=True)
class KeyState:
    """What one region holds for a transaction: enough to tell a conflicting version."""

    version: int
    amount: int
    currency: str
    idempotency_key: str
    origin_region: str


@dataclass
class BucketDifferences:
    only_a: list[str] = field(default_factory=list)
    only_b: list[str] = field(default_factory=list)
    conflicting: list[str] = field(default_factory=list)

    @property
    def explained(self) -> bool:
        return bool(self.only_a or self.only_b or self.conflicting)


def bucket_differences(a: dict[str, KeyState], b: dict[str, KeyState]) -> BucketDifferences:
    """Key-level differences between two regions' items of one bucket."""
    diff = BucketDifferences(
        only_a=sorted(set(a) - set(b)),
        only_b=sorted(set(b) - set(a)),
    )
    for transaction_id in sorted(set(a) & set(b)):
        x, y = a[transaction_id], b[transaction_id]
        if (x.version, x.amount, x.currency) != (y.version, y.amount, y.currency):
            diff.conflicting.append(transaction_id)
    return diff
