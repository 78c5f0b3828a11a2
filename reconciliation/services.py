"""Writes of reconciliation: what people do to findings (acknowledge, resolve) and what the job
does (reconcile a window, run a cycle).

Each person's write runs in one transaction, claims its transition with a conditional update
(two clicks or two pipelines cannot both win) and writes one AuditEvent.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from audit.services import audit_record
from controlplane.accounts.models import Role
from controlplane.aws import AwsError, dynamodb
from migrations_app.errors import CutoverError, NotAllowed
from migrations_app.models import Alert, Environment
from migrations_app.watchdog import alert_raise, alerts_resolve
from reconciliation import compare, selectors
from reconciliation.models import Finding, ReconciliationRun, WindowCount

# Engineers investigate findings, compliance approvers decide they are dealt with; auditors read.
FINDING_ROLES = (Role.ENGINEER, Role.APPROVER)
NOTE_MAX = 4000


def _check(actor, note: str, what: str) -> str:
    if actor is None or not any(actor.has_role(r) for r in FINDING_ROLES):
        raise NotAllowed(f"Only engineers and compliance approvers may {what} a finding.")
    note = (note or "").strip()
    if not note:
        raise CutoverError(f"To {what} a finding, write a note saying what was found or done.")
    if len(note) > NOTE_MAX:
        raise CutoverError(f"The note is too long ({NOTE_MAX} characters at most).")
    return note


def finding_acknowledge(*, finding: Finding, actor, note: str) -> Finding:
    """Someone has seen the finding and is on it. It still blocks the close-window gate."""
    note = _check(actor, note, "acknowledge")
    with transaction.atomic():
        now = timezone.now()
        claimed = Finding.objects.filter(pk=finding.pk, status=Finding.Status.OPEN).update(
            status=Finding.Status.ACKNOWLEDGED, acknowledged_by=actor, acknowledged_at=now, acknowledgement_note=note
        )
        finding = Finding.objects.select_related("environment").get(pk=finding.pk)
        if not claimed:
            raise CutoverError(
                f"This finding is {finding.get_status_display().lower()}; only an open one is acknowledged."
            )
        audit_record(
            actor=actor,
            event_type="finding.acknowledge",
            target=finding,
            environment=finding.environment.name,
            before={"status": Finding.Status.OPEN},
            after={"status": Finding.Status.ACKNOWLEDGED, "note": note},
        )
    return finding


def finding_resolve(*, finding: Finding, actor, note: str) -> Finding:
    """The discrepancy is dealt with (refunded, replayed, explained). An open finding may be
    resolved directly; a resolved one stays resolved."""
    note = _check(actor, note, "resolve")
    with transaction.atomic():
        now = timezone.now()
        before = Finding.objects.select_for_update().get(pk=finding.pk).status
        claimed = Finding.objects.filter(pk=finding.pk, status__in=Finding.UNRESOLVED).update(
            status=Finding.Status.RESOLVED, resolved_by=actor, resolved_at=now, resolution_note=note
        )
        finding = Finding.objects.select_related("environment").get(pk=finding.pk)
        if not claimed:
            raise CutoverError("This finding is resolved already.")
        audit_record(
            actor=actor,
            event_type="finding.resolve",
            target=finding,
            environment=finding.environment.name,
            before={"status": before},
            after={"status": Finding.Status.RESOLVED, "note": note},
        )
        alerts_resolve(subject=finding)
    return finding


# --- the reconciliation job ----------------------------------------------------------------------
# reconciliation_cycle (Celery beat) -> reconciliation_window_run per due window. A run claims its
# row with a conditional update and a lease; whatever it writes is keyed (findings by fingerprint,
# window counts by window and region), so resuming or re-running a window repeats nothing.

log = logging.getLogger(__name__)


@dataclass
class _Suspect:
    kind: str
    transaction_ids: list[str]
    bucket: int
    reason: str


@dataclass
class _Outcome:
    findings: list[Finding] = field(default_factory=list)
    suspects: list[_Suspect] = field(default_factory=list)
    keys_read: int = 0


def _fingerprint(kind: str, transaction_ids: list[str], extra: str = "") -> str:
    raw = "|".join(sorted(transaction_ids)) + (f"|{extra}" if extra else "")
    return f"{kind}:{hashlib.sha256(raw.encode()).hexdigest()[:64]}"


def _parse_time(text: str) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _money(cents: int, currency: str) -> str:
    return f"{cents / 100:,.2f} {currency}".strip()


def _claim(*, environment: Environment, window_start: datetime, now: datetime, force: bool) -> ReconciliationRun | None:
    """The run row of the window, claimed for this worker (None: someone else holds it, or it
    is finished and ``force`` is off)."""
    lease = now + timedelta(seconds=settings.RECONCILIATION_LEASE_SECONDS)
    window_end = window_start + timedelta(seconds=settings.RECONCILIATION_WINDOW_SECONDS)
    run, created = ReconciliationRun.objects.get_or_create(
        environment=environment,
        window_start=window_start,
        region_a=environment.source_region,
        region_b=environment.target_region,
        defaults={"window_end": window_end, "started_at": now, "lease_until": lease},
    )
    if created:
        return run
    claimable = Q(status__in=(ReconciliationRun.Status.RECHECK, ReconciliationRun.Status.FAILED)) | Q(
        status=ReconciliationRun.Status.RUNNING, lease_until__lt=now
    )
    if force:
        claimable |= Q(status__in=(ReconciliationRun.Status.CLEAN, ReconciliationRun.Status.FINDINGS))
    claimed = (
        ReconciliationRun.objects.filter(pk=run.pk)
        .filter(claimable)
        .update(
            status=ReconciliationRun.Status.RUNNING,
            attempt=F("attempt") + 1,
            started_at=now,
            finished_at=None,
            lease_until=lease,
            window_end=window_end,
            error="",
        )
    )
    if not claimed:
        return None
    run.refresh_from_db()
    return run


def _finding_record(
    *,
    run: ReconciliationRun,
    kind: str,
    fingerprint: str,
    transaction_ids: list[str],
    regions: list[str],
    summary: str,
    detail: dict,
) -> Finding:
    """The finding of this fingerprint: created once (audited, alerted), found again after."""
    environment = run.environment
    with transaction.atomic():
        finding, created = Finding.objects.get_or_create(
            environment=environment,
            fingerprint=fingerprint,
            defaults={
                "run": run,
                "kind": kind,
                "window_start": run.window_start,
                "transaction_ids": sorted(transaction_ids),
                "regions": sorted(regions),
                "summary": summary[:512],
                "detail": detail,
                "detected_at": timezone.now(),
            },
        )
        if created:
            audit_record(
                actor=None,
                event_type="finding.detected",
                target=finding,
                environment=environment.name,
                after={"kind": kind, "transaction_ids": sorted(transaction_ids), "regions": sorted(regions)},
            )
            transaction.on_commit(lambda: _finding_alert(finding))
    return finding


def _finding_alert(finding: Finding) -> None:
    level = Alert.Level.CRITICAL if finding.kind == Finding.Kind.DUPLICATE_DEBIT else Alert.Level.WARNING
    try:
        alert_raise(
            environment=finding.environment,
            kind=f"reconciliation_{finding.kind}",
            level=level,
            subject=finding,
            message=f"Reconciliation finding in {finding.environment.name}: {finding.summary}",
            role=Role.ENGINEER,
        )
    except Exception:  # the finding is recorded; a failed notification must not undo it
        log.exception("reconciliation: alert for finding %s failed", finding.pk)


def _states(keys: list[dynamodb.KeyVersion]) -> dict[str, compare.KeyState]:
    return {
        k.transaction_id: compare.KeyState(k.version, k.amount, k.currency, k.idempotency_key, k.origin_region)
        for k in keys
    }


def _last_write(item: dynamodb.LedgerTransaction | None) -> datetime | None:
    if item is None:
        return None
    times = [t for t in (_parse_time(item.created_at), _parse_time(item.updated_at)) if t is not None]
    return max(times) if times else None


def _drill_down(
    *,
    run: ReconciliationRun,
    window: str,
    mismatched: list[int],
    tables: tuple[str, str],
    meter: dynamodb.ReadMeter,
    now: datetime,
    in_flight: float,
    duplicates: dict[str, set[str]],
) -> _Outcome:
    environment = run.environment
    region_a, region_b = run.region_a, run.region_b
    target_a, target_b = environment.aws_target(region_a), environment.aws_target(region_b)
    table, _ = tables
    out = _Outcome()
    horizon = now - timedelta(seconds=in_flight)
    window_end = run.window_end
    # Keys the stream consumers saw accepted twice (a replaced marker), then keys of differing items.
    idempotency_keys: dict[str, int | None] = dict.fromkeys(duplicates)
    for bucket in mismatched:
        shard = f"{window}#{bucket}"
        keys_a = _states(dynamodb.bucket_keys(target=target_a, table=table, time_bucket_shard=shard, meter=meter))
        keys_b = _states(dynamodb.bucket_keys(target=target_b, table=table, time_bucket_shard=shard, meter=meter))
        out.keys_read += len(keys_a) + len(keys_b)
        diff = compare.bucket_differences(keys_a, keys_b)
        if not diff.explained:
            summary = (
                f"Window {window} bucket {bucket}: the regions' aggregates differ but their items agree "
                "(the stream consumer miscounted or an item is not indexed)"
            )
            if window_end > horizon:
                out.suspects.append(_Suspect(Finding.Kind.COUNT_MISMATCH, [], bucket, "the consumer may be behind"))
            else:
                out.findings.append(
                    _finding_record(
                        run=run,
                        kind=Finding.Kind.COUNT_MISMATCH,
                        fingerprint=f"{Finding.Kind.COUNT_MISMATCH}:{window}#{bucket}",
                        transaction_ids=[],
                        regions=[region_a, region_b],
                        summary=summary,
                        detail={"bucket": bucket, "window": window, "items_per_region": len(keys_a)},
                    )
                )
            continue
        items_a = dynamodb.transactions_get(
            target=target_a, table=table, transaction_ids=diff.only_a + diff.conflicting, meter=meter
        )
        items_b = dynamodb.transactions_get(
            target=target_b, table=table, transaction_ids=diff.only_b + diff.conflicting, meter=meter
        )
        for present, absent, ids, items, keys in (
            (region_a, region_b, diff.only_a, items_a, keys_a),
            (region_b, region_a, diff.only_b, items_b, keys_b),
        ):
            for transaction_id in ids:
                idempotency_keys[keys[transaction_id].idempotency_key] = bucket
                written = _last_write(items.get(transaction_id))
                if written is not None and written > horizon:
                    out.suspects.append(
                        _Suspect(Finding.Kind.MISSING_IN_REGION, [transaction_id], bucket, "replication in flight")
                    )
                    continue
                state = keys[transaction_id]
                out.findings.append(
                    _finding_record(
                        run=run,
                        kind=Finding.Kind.MISSING_IN_REGION,
                        fingerprint=_fingerprint(Finding.Kind.MISSING_IN_REGION, [transaction_id]),
                        transaction_ids=[transaction_id],
                        regions=[region_a, region_b],
                        summary=f"Transaction {transaction_id} ({_money(state.amount, state.currency)}, written in "
                        f"{state.origin_region}) is in {present} but missing in {absent}",
                        detail={
                            "present_in": present,
                            "missing_in": absent,
                            "bucket": bucket,
                            "origin_region": state.origin_region,
                            "written_at": written.isoformat() if written else None,
                        },
                    )
                )
        for transaction_id in diff.conflicting:
            x, y = keys_a[transaction_id], keys_b[transaction_id]
            idempotency_keys[x.idempotency_key] = bucket
            writes = [
                w for w in (_last_write(items_a.get(transaction_id)), _last_write(items_b.get(transaction_id))) if w
            ]
            if writes and max(writes) > horizon:
                out.suspects.append(
                    _Suspect(Finding.Kind.CONFLICTING_VERSIONS, [transaction_id], bucket, "an update in flight")
                )
                continue
            out.findings.append(
                _finding_record(
                    run=run,
                    kind=Finding.Kind.CONFLICTING_VERSIONS,
                    fingerprint=_fingerprint(Finding.Kind.CONFLICTING_VERSIONS, [transaction_id]),
                    transaction_ids=[transaction_id],
                    regions=[region_a, region_b],
                    summary=f"Transaction {transaction_id} differs: version {x.version} "
                    f"({_money(x.amount, x.currency)}) in {region_a}, version {y.version} "
                    f"({_money(y.amount, y.currency)}) in {region_b}",
                    detail={
                        "bucket": bucket,
                        region_a: {"version": x.version, "amount": x.amount, "currency": x.currency},
                        region_b: {"version": y.version, "amount": y.amount, "currency": y.currency},
                    },
                )
            )
    # Duplicate debits: an idempotency key that maps to several transactions in either region
    # (each region's conditional write only saw its own replica).
    for key, bucket in sorted(idempotency_keys.items()):
        ids_a = dynamodb.transaction_ids_by_idempotency_key(
            target=target_a, table=table, idempotency_key=key, meter=meter
        )
        ids_b = dynamodb.transaction_ids_by_idempotency_key(
            target=target_b, table=table, idempotency_key=key, meter=meter
        )
        out.keys_read += len(ids_a) + len(ids_b)
        ids = sorted(set(ids_a) | set(ids_b) | duplicates.get(key, set()))
        if len(ids) < 2:
            continue
        items = dynamodb.transactions_get(target=target_a, table=table, transaction_ids=ids, meter=meter)
        missing = [i for i in ids if i not in items]
        if missing:
            items.update(dynamodb.transactions_get(target=target_b, table=table, transaction_ids=missing, meter=meter))
        regions = sorted({items[i].origin_region for i in ids if i in items and items[i].origin_region})
        amounts = ", ".join(f"{i} {_money(items[i].amount, items[i].currency)}" for i in ids if i in items)
        out.findings.append(
            _finding_record(
                run=run,
                kind=Finding.Kind.DUPLICATE_DEBIT,
                fingerprint=_fingerprint(Finding.Kind.DUPLICATE_DEBIT, ids),
                transaction_ids=ids,
                regions=regions or [region_a, region_b],
                summary=f"Idempotency key {key} was accepted {len(ids)} times (in {', '.join(regions) or '?'}): "
                f"{amounts}",
                detail={
                    "idempotency_key": key,
                    "bucket": bucket,
                    "seen_by": "stream consumer (replaced marker)" if key in duplicates else "differing items",
                    "in_region": {region_a: ids_a, region_b: ids_b},
                    "origin": {i: items[i].origin_region for i in ids if i in items},
                },
            )
        )
    return out


def reconciliation_window_run(
    *,
    environment: Environment,
    window_start: datetime,
    now: datetime | None = None,
    force: bool = False,
    lag: selectors.Lag | None = None,
) -> ReconciliationRun | None:
    """Reconcile one window between the environment's two regions.

    Compares both regions' aggregates bucket by bucket, reads the keys of mismatched buckets
    only, and records findings (once per fingerprint). Returns the run, or None when another
    worker holds it (or it is finished and ``force`` is off). An AWS error marks the run
    FAILED with the error; the next cycle retries it.
    """
    now = now or timezone.now()
    window_start = window_start.astimezone(UTC)
    if window_start != selectors.window_floor(window_start):
        raise CutoverError(
            f"{window_start.isoformat()} is not the start of a reconciliation window "
            f"({settings.RECONCILIATION_WINDOW_SECONDS} s windows; that one starts at "
            f"{selectors.window_floor(window_start).isoformat()})"
        )
    run = _claim(environment=environment, window_start=window_start, now=now, force=force)
    if run is None:
        return None
    try:
        if lag is None:
            lag = selectors.replication_lag(environment=environment, since=window_start, now=now)
        _reconcile(run=run, lag=lag, now=now)
    except AwsError as exc:
        log.warning("reconciliation %s window %s failed: %s", environment.name, window_start.isoformat(), exc)
        ReconciliationRun.objects.filter(pk=run.pk).update(
            status=ReconciliationRun.Status.FAILED, finished_at=timezone.now(), lease_until=None, error=str(exc)[:2000]
        )
    run.refresh_from_db()
    return run


def _reconcile(*, run: ReconciliationRun, lag: selectors.Lag, now: datetime) -> None:
    environment = run.environment
    window = selectors.window_id(run.window_start)
    tables = (selectors.transactions_table(environment), selectors.aggregates_table(environment))
    meter = dynamodb.ReadMeter()
    aggregates = {
        region: dynamodb.window_aggregates(
            target=environment.aws_target(region), table=tables[1], window_id=window, meter=meter
        )
        for region in (run.region_a, run.region_b)
    }
    rows_a, rows_b = aggregates[run.region_a], aggregates[run.region_b]
    mismatched = compare.buckets_mismatched(
        {b: (r.count, r.amount_sum, r.checksum) for b, r in rows_a.items()},
        {b: (r.count, r.amount_sum, r.checksum) for b, r in rows_b.items()},
    )
    counts = {}
    for region, rows in aggregates.items():
        stored = sum(r.count for r in rows.values())
        counts[region] = {
            "count": stored,
            "amount": sum(r.amount_sum for r in rows.values()),
            "checksum": f"{sum(r.checksum for r in rows.values()) % compare.MOD:016x}",
            "processed": sum(r.processed_here for r in rows.values()),
        }
    duplicates: dict[str, set[str]] = {}
    for region in (run.region_a, run.region_b):
        seen = dynamodb.window_duplicates(
            target=environment.aws_target(region), table=tables[1], window_id=window, meter=meter
        )
        for key, ids in seen.items():
            duplicates.setdefault(key, set()).update(ids)
    in_flight = selectors.in_flight_seconds(lag, run.window_start)
    ReconciliationRun.objects.filter(pk=run.pk).update(
        counts=counts,
        buckets_compared=max(settings.RECONCILIATION_BUCKETS, len(set(rows_a) | set(rows_b))),
        buckets_mismatched=len(mismatched),
        detail={**run.detail, "phase": "drill-down", "mismatched_buckets": mismatched[:500]},
    )
    outcome = _drill_down(
        run=run,
        window=window,
        mismatched=mismatched,
        tables=tables,
        meter=meter,
        now=now,
        in_flight=in_flight,
        duplicates=duplicates,
    )
    found = {f.pk for f in outcome.findings}
    if outcome.suspects:
        status = ReconciliationRun.Status.RECHECK
    elif found:
        status = ReconciliationRun.Status.FINDINGS
    else:
        status = ReconciliationRun.Status.CLEAN
    rechecks = int(run.detail.get("rechecks", 0)) + (1 if outcome.suspects else 0)
    with transaction.atomic():
        for region in (run.region_a, run.region_b):
            c = counts[region]
            WindowCount.objects.update_or_create(
                environment=environment,
                window_start=run.window_start,
                region=region,
                defaults={
                    "run": run,
                    "window_end": run.window_end,
                    "processed": c["processed"],
                    "stored": c["count"],
                    "replicated_in": max(0, c["count"] - c["processed"]),
                    "amount_sum": c["amount"],
                    "findings": sum(1 for f in outcome.findings if region in f.regions),
                    "recorded_at": timezone.now(),
                },
            )
        ReconciliationRun.objects.filter(pk=run.pk).update(
            status=status,
            finished_at=timezone.now(),
            lease_until=None,
            keys_read=outcome.keys_read,
            read_units=meter.read_units,
            detail={
                "phase": "done",
                "mismatched_buckets": mismatched[:500],
                "findings": sorted(found),
                "suspects": [vars(s) for s in outcome.suspects],
                "rechecks": rechecks,
                "items_read": meter.items,
                "bytes_read": meter.bytes,
                "modelled_read_units": meter.modelled_units,
                "requests": meter.requests,
                "grace_seconds": selectors.grace_seconds(lag),
                "in_flight_seconds": in_flight,
                "lag": lag.as_detail(),
            },
        )


@dataclass
class CycleReport:
    environments: int = 0
    runs: list[ReconciliationRun] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def reconciliation_cycle(*, environment: Environment | None = None, now: datetime | None = None) -> CycleReport:
    """One beat tick: every due window of every environment whose reconciliation is active."""
    now = now or timezone.now()
    report = CycleReport()
    environments = [environment] if environment is not None else list(Environment.objects.order_by("name"))
    for env in environments:
        period = selectors.reconciliation_period(environment=env)
        if period is None:
            report.skipped[env.name] = "no weight shift yet"
            continue
        report.environments += 1
        lag = selectors.replication_lag(environment=env, since=now - selectors.LAG_LOOKBACK, now=now)
        grace = selectors.grace_seconds(lag)
        for start in selectors.windows_due(
            environment=env, now=now, grace=grace, limit=settings.RECONCILIATION_MAX_WINDOWS_PER_CYCLE
        ):
            run = reconciliation_window_run(environment=env, window_start=start, now=now, lag=lag)
            if run is not None:
                report.runs.append(run)
    return report
