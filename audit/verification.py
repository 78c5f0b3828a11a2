"""Checking the hash chain: every entry's content against its hash, and each link to the one before."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import connection

from audit.immutability import triggers_present
from audit.models import GENESIS_HASH, AuditChainHead, AuditEvent


@dataclass(frozen=True)
class ChainBreak:
    event_id: int | None
    reason: str

    def __str__(self) -> str:
        where = f"entry #{self.event_id}" if self.event_id is not None else "chain head"
        return f"{where}: {self.reason}"


@dataclass
class ChainReport:
    checked: int = 0
    last_event_id: int | None = None
    last_hash: str = GENESIS_HASH
    first_break: ChainBreak | None = None
    missing_triggers: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.first_break is None and not self.missing_triggers


def audit_chain_verify(*, chunk_size: int = 5000) -> ChainReport:
    """Walk the whole trail in id order with constant memory; stop at the first broken link."""
    report = ChainReport(missing_triggers=triggers_present(connection))
    previous_hash, previous_id = GENESIS_HASH, None
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=chunk_size):
        report.checked += 1
        if event.compute_hash() != event.hash:
            report.first_break = ChainBreak(
                event.pk,
                f"its content does not match its hash ({event.occurred_at:%Y-%m-%d %H:%M:%S} {event.event_type}): "
                "the entry was changed after it was written",
            )
            return report
        if event.prev_hash != previous_hash:
            after = f"entry #{previous_id}" if previous_id is not None else "the start of the trail"
            report.first_break = ChainBreak(
                event.pk,
                f"its previous-hash does not match {after} "
                f"({event.occurred_at:%Y-%m-%d %H:%M:%S} {event.event_type}): "
                f"an entry between {after} and this one was removed, or {after} was rewritten",
            )
            return report
        previous_hash, previous_id = event.hash, event.pk
    report.last_event_id, report.last_hash = previous_id, previous_hash
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is not None and (head.last_hash != previous_hash or (head.last_event_id or None) != previous_id):
        report.first_break = ChainBreak(
            None,
            f"the chain head names entry #{head.last_event_id} ({head.last_hash[:16]}…) but the trail ends at "
            f"entry #{previous_id} ({previous_hash[:16]}…): the newest entries were removed or rewritten",
        )
    elif head is None and previous_id is not None:
        report.first_break = ChainBreak(None, "the chain head row is missing although the trail has entries")
    return report
