"""Report packs: an auditor's question answered as one signed ZIP.

``report_pack_request`` (auditors and approvers) records the request and queues the build;
``report_pack_build`` (the Celery task) writes each file to disk while hashing it, zips them
with a signed manifest, and marks the pack ready; ``report_pack_download`` audits the download
and opens the ZIP for a streamed response. The web pages and the REST API call these same
functions (``report_pack_status`` gives what a progress view shows).
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import re
import shutil
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO

from django.conf import settings
from django.db import models, transaction
from django.db.models.functions import TruncHour
from django.utils import timezone

from audit import pdf
from audit.exports import audit_csv_chunks
from audit.manifest import MANIFEST_NAME, manifest_sign
from audit.models import AuditChainHead, AuditEvent, Outcome, ReportPack
from audit.origin import system_origin
from audit.services import audit_record
from controlplane.accounts.models import Role
from controlplane.aws import dynamodb, ssm
from controlplane.aws.errors import AwsError

log = logging.getLogger(__name__)

PACK_FORMAT = "cutover-report-pack/1"
GENERATOR = "cutover-control-plane report packs"
GENERATOR_VERSION = "1.0.0"
REQUEST_ROLES = (Role.AUDITOR, Role.APPROVER)
READ_ROLES = (Role.AUDITOR, Role.APPROVER)
MAX_PERIOD = timedelta(days=400)
MAX_SUBJECTS = 20
MAX_SUBJECT_LENGTH = 128  # the Lambdas' limit on userId
BUILD_LEASE = timedelta(minutes=30)
CSV_CHUNK_ROWS = 2000


class ReportPackError(Exception):
    """The request cannot be accepted as made; the message is shown to the person.

    ``field`` names the request field at fault, where one is (the API reports it per field).
    """

    def __init__(self, message: str, *, field: str = ""):
        super().__init__(message)
        self.field = field


class ReportPackForbidden(ReportPackError):
    pass


@dataclass(frozen=True)
class ReportDownload:
    stream: IO[bytes]
    filename: str
    size: int
    sha256: str


def may_request(user) -> bool:
    return any(user.has_role(r) for r in REQUEST_ROLES)


def may_read(user) -> bool:
    return any(user.has_role(r) for r in READ_ROLES)


# --- requesting -------------------------------------------------------------------------------


def subjects_parse(raw: str | Iterable[str] | None) -> list[str]:
    """Data-subject ids from a form field (one per line or comma-separated) or a list."""
    if raw is None:
        return []
    items = re.split(r"[\n,]", raw) if isinstance(raw, str) else list(raw)
    subjects: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ReportPackError("Data-subject ids must be text.", field="subjects")
        item = item.strip()
        if not item:
            continue
        if len(item) > MAX_SUBJECT_LENGTH:
            raise ReportPackError(
                f"The data-subject id {item[:40]!r}… is longer than {MAX_SUBJECT_LENGTH} characters.", field="subjects"
            )
        if any(ord(c) < 32 for c in item):
            raise ReportPackError("A data-subject id contains control characters.", field="subjects")
        if item not in subjects:
            subjects.append(item)
    if len(subjects) > MAX_SUBJECTS:
        raise ReportPackError(
            f"At most {MAX_SUBJECTS} data subjects per pack ({len(subjects)} given).", field="subjects"
        )
    return subjects


def report_pack_request(
    *,
    actor,
    environment,
    period_start: datetime,
    period_end: datetime,
    region: str = "",
    subjects: str | Iterable[str] | None = None,
) -> ReportPack:
    """Record a pack request and queue its build. Auditors and approvers only; one AuditEvent."""
    if actor is None or not may_request(actor):
        raise ReportPackForbidden("Only auditors and compliance approvers may request report packs.")
    if period_start is None or period_end is None:
        raise ReportPackError("Give both the start and the end of the period.")
    if timezone.is_naive(period_start) or timezone.is_naive(period_end):
        raise ReportPackError("The period must be given with a time zone (UTC).")
    if period_end <= period_start:
        raise ReportPackError("The period must end after it starts.", field="period_end")
    if period_end - period_start > MAX_PERIOD:
        raise ReportPackError(
            f"A pack covers at most {MAX_PERIOD.days} days; request several packs.", field="period_end"
        )
    region = (region or "").strip()
    regions = (environment.source_region, environment.target_region)
    if region and region not in regions:
        raise ReportPackError(
            f"Region {region!r} is not one of {environment.name}'s regions ({', '.join(regions)}).",
            field="region",
        )
    subject_ids = subjects_parse(subjects)
    if subject_ids and not region:
        raise ReportPackError(
            "Choose a region for data-subject exports: they list what that region's replica holds on each person.",
            field="region",
        )
    with transaction.atomic():
        pack = ReportPack.objects.create(
            environment=environment,
            period_start=period_start,
            period_end=period_end,
            region=region,
            subjects=subject_ids,
            requested_by=actor,
        )
        audit_record(
            actor=actor,
            event_type="report.requested",
            target=pack,
            environment=environment.name,
            region=region,
            after={
                "uid": str(pack.uid),
                "period_start": period_start.isoformat(),
                "period_end": period_end.isoformat(),
                "region": region,
                "subjects": subject_ids,
            },
        )
        transaction.on_commit(lambda: _enqueue_build(pack.pk))
    return pack


def _enqueue_build(pack_id: int) -> None:
    from audit.tasks import report_pack_build_task

    report_pack_build_task.delay(pack_id)


def report_pack_status(*, pack: ReportPack) -> dict:
    """What a progress view shows (the page and the API)."""
    pack.refresh_from_db(fields=["status", "progress", "stage", "error", "size_bytes", "sha256", "finished_at"])
    return {
        "uid": str(pack.uid),
        "status": pack.status,
        "progress": pack.progress,
        "stage": pack.stage,
        "error": pack.error,
        "ready": pack.is_ready,
        "size_bytes": pack.size_bytes,
        "sha256": pack.sha256,
        "finished_at": pack.finished_at.isoformat() if pack.finished_at else None,
    }


# --- downloading --------------------------------------------------------------------------------


def report_pack_download(*, pack: ReportPack, actor) -> ReportDownload:
    """Audit the download and open the ZIP (read in blocks by a streamed response)."""
    if actor is None or not may_read(actor):
        raise ReportPackForbidden("Only auditors and compliance approvers may download report packs.")
    if not pack.is_ready:
        raise ReportPackError(f"This pack is {pack.get_status_display().lower()}, not ready to download.")
    path = pack.zip_path()
    try:
        stream = path.open("rb")
    except OSError as exc:
        with transaction.atomic():
            audit_record(
                actor=actor,
                event_type="report.downloaded",
                target=pack,
                environment=pack.environment.name,
                region=pack.region,
                outcome=Outcome.FAILURE,
                after={"uid": str(pack.uid), "error": f"file unavailable: {exc.strerror or exc}"},
            )
        raise ReportPackError(
            "The pack's file is no longer on the server (REPORTS_DIR); request the pack again."
        ) from exc
    with transaction.atomic():
        audit_record(
            actor=actor,
            event_type="report.downloaded",
            target=pack,
            environment=pack.environment.name,
            region=pack.region,
            after={"uid": str(pack.uid), "sha256": pack.sha256, "size_bytes": pack.size_bytes},
        )
    return ReportDownload(stream=stream, filename=pack.download_name(), size=pack.size_bytes or 0, sha256=pack.sha256)


# --- building ----------------------------------------------------------------------------------


class _HashingFile:
    """A file being written, hashed and counted as it goes (nothing held in memory)."""

    def __init__(self, path: Path):
        self.path = path
        self._file = path.open("wb")
        self._digest = hashlib.sha256()
        self.size = 0
        self.rows = 0

    def write_bytes(self, data: bytes) -> None:
        self._file.write(data)
        self._digest.update(data)
        self.size += len(data)

    def write(self, text: str) -> None:  # for csv.writer
        self.write_bytes(text.encode())

    def close(self) -> dict:
        self._file.close()
        return {"sha256": self._digest.hexdigest(), "bytes": self.size, "rows": self.rows}


def _csv_write(path: Path, header: Iterable[str], rows: Iterable[Iterable]) -> dict:
    out = _HashingFile(path)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
        out.rows += 1
    return out.close()


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def _progress(pack: ReportPack, percent: int, stage: str) -> None:
    ReportPack.objects.filter(pk=pack.pk).update(progress=percent, stage=stage)


def _counts_rows(pack: ReportPack) -> Iterator[list]:
    from reconciliation.models import WindowCount

    qs = WindowCount.objects.filter(
        environment=pack.environment, window_start__gte=pack.period_start, window_start__lt=pack.period_end
    )
    if pack.region:
        qs = qs.filter(region=pack.region)
    hourly = (
        qs.annotate(hour=TruncHour("window_start"))
        .values("region", "hour")
        .annotate(
            windows=models.Count("id"),
            processed=models.Sum("processed"),
            stored=models.Sum("stored"),
            replicated_in=models.Sum("replicated_in"),
            amount_sum=models.Sum("amount_sum"),
            findings=models.Sum("findings"),
        )
        .order_by("region", "hour")
    )
    for row in hourly.iterator(chunk_size=CSV_CHUNK_ROWS):
        yield [
            row["region"],
            row["hour"].isoformat(),
            (row["hour"] + timedelta(hours=1)).isoformat(),
            row["windows"],
            row["processed"],
            row["stored"],
            row["replicated_in"],
            row["amount_sum"],
            row["findings"],
        ]


COUNTS_HEADER = (
    "region",
    "hour_start_utc",
    "hour_end_utc",
    "windows",
    "processed",
    "stored",
    "replicated_in",
    "amount_sum_minor_units",
    "findings",
)

APPROVALS_HEADER = (
    "execution",
    "execution_arn",
    "gate_id",
    "gate_state",
    "gate_kind",
    "step",
    "target_weights",
    "required_approvals",
    "gate_status",
    "gate_arrived_at",
    "gate_decided_at",
    "approver_username",
    "approver_name",
    "approver_idp_issuer",
    "approver_idp_subject",
    "approver_email",
    "approver_signed_in_at",
    "decision",
    "decided_at",
    "reason",
    "override",
    "override_reason",
    "delivery_kind",
    "delivery_status",
    "delivered_at",
    "ssm_parameter",
    "ssm_parameter_version",
)


def _ssm_version(environment, name: str, cache: dict) -> str:
    """The version the state machine recorded the decision under (read by this job, not a page)."""
    if not name:
        return ""
    if name not in cache:
        try:
            parameter = ssm.parameter_get(target=environment.aws_target(), name=name)
            cache[name] = str(parameter.version) if parameter else "not recorded"
        except AwsError as exc:
            cache[name] = f"unavailable: {exc.code or exc.message}"
    return cache[name]


def _approvals_rows(pack: ReportPack, gates_summary: list) -> Iterator[list]:
    from migrations_app.models import Gate, GateDelivery

    gates = (
        Gate.objects.filter(
            execution__environment=pack.environment,
            arrived_at__gte=pack.period_start,
            arrived_at__lt=pack.period_end,
        )
        .select_related("execution", "delivery")
        .prefetch_related("approvals")
        .order_by("arrived_at", "pk")
    )
    ssm_cache: dict[str, str] = {}
    for gate in gates.iterator(chunk_size=200):
        try:
            delivery = gate.delivery
        except GateDelivery.DoesNotExist:
            delivery = None
        weights = ";".join(f"{region}={weight}" for region, weight in sorted(gate.target_weights.items()))
        base = [
            gate.execution.name,
            gate.execution.arn,
            gate.pk,
            gate.state_name,
            gate.kind,
            gate.step,
            weights,
            gate.required_approvals,
            gate.status,
            _iso(gate.arrived_at),
            _iso(gate.decided_at),
        ]
        tail = [
            delivery.get_kind_display() if delivery else "",
            delivery.status if delivery else "",
            _iso(delivery.delivered_at) if delivery else "",
            gate.ssm_parameter,
            _ssm_version(pack.environment, gate.ssm_parameter, ssm_cache) if delivery and delivery.delivered_at else "",
        ]
        approvals = list(gate.approvals.all())
        gates_summary.append((gate, approvals))
        if not approvals:
            yield base + [""] * 11 + tail
        for a in approvals:
            who = a.identity or {}
            yield (
                base
                + [
                    who.get("username", ""),
                    who.get("name", ""),
                    who.get("issuer", ""),
                    who.get("subject", ""),
                    who.get("email", ""),
                    who.get("authenticatedAt") or "",
                    a.decision,
                    _iso(a.created_at),
                    a.comment,
                    "yes" if a.override else "no",
                    a.override_reason,
                ]
                + tail
            )


FINDINGS_HEADER = (
    "finding_id",
    "detected_at",
    "kind",
    "status",
    "window_start",
    "regions",
    "transaction_ids",
    "summary",
    "acknowledged_by",
    "acknowledged_at",
    "acknowledgement_note",
    "resolved_by",
    "resolved_at",
    "resolution_note",
)


def _person(user) -> str:
    if user is None:
        return ""
    return f"{user.get_full_name() or user.username} ({user.username}; {user.idp_issuer} {user.idp_subject})".strip()


def _findings_rows(pack: ReportPack, findings_summary: list) -> Iterator[list]:
    from reconciliation.models import Finding

    qs = (
        Finding.objects.filter(
            environment=pack.environment, detected_at__gte=pack.period_start, detected_at__lt=pack.period_end
        )
        .select_related("acknowledged_by", "resolved_by")
        .order_by("detected_at", "pk")
    )
    for f in qs.iterator(chunk_size=CSV_CHUNK_ROWS):
        regions = [str(r) for r in (f.regions or [])]
        if pack.region and regions and pack.region not in regions:
            continue
        findings_summary.append(f)
        yield [
            f.pk,
            _iso(f.detected_at),
            f.kind,
            f.status,
            _iso(f.window_start),
            ";".join(regions),
            ";".join(str(t) for t in (f.transaction_ids or [])),
            f.summary,
            _person(f.acknowledged_by),
            _iso(f.acknowledged_at),
            f.acknowledgement_note,
            _person(f.resolved_by),
            _iso(f.resolved_at),
            f.resolution_note,
        ]


SUBJECT_HEADER = (
    "transaction_id",
    "user_id",
    "created_at",
    "amount_minor_units",
    "currency",
    "origin_region",
    "held_in_region",
    "version",
    "channel",
    "idempotency_key",
)


def subject_file_name(subject: str, taken: set[str]) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", subject)[:64]
    name = f"subject_{safe}.csv"
    if safe != subject or name in taken:
        name = f"subject_{safe}_{hashlib.sha256(subject.encode()).hexdigest()[:8]}.csv"
    return name


def transactions_table(environment) -> str:
    from migrations_app.deployments import outputs_known

    data = outputs_known(environment=environment).get("data") or {}
    return data.get("TransactionsTableName") or f"{environment.name}-transactions"


def _subject_rows(pack: ReportPack, subject: str) -> Iterator[list]:
    target = pack.environment.aws_target(pack.region)
    for t in dynamodb.transactions_by_user(target=target, table=transactions_table(pack.environment), user_id=subject):
        yield [
            t.transaction_id,
            t.user_id,
            t.created_at,
            t.amount,
            t.currency,
            t.origin_region,
            pack.region,
            t.version,
            t.channel,
            t.idempotency_key,
        ]


def _audit_export(pack: ReportPack, path: Path) -> tuple[dict, dict, AuditChainHead]:
    head = AuditChainHead.objects.filter(pk=1).first() or AuditChainHead(pk=1)
    events = AuditEvent.objects.filter(
        occurred_at__gte=pack.period_start, occurred_at__lt=pack.period_end, pk__lte=head.last_event_id
    )
    out = _HashingFile(path)
    for chunk in audit_csv_chunks(events):
        out.write_bytes(chunk)
    bounds = events.aggregate(first=models.Min("id"), last=models.Max("id"), count=models.Count("id"))
    out.rows = bounds["count"]
    first_prev = AuditEvent.objects.filter(pk=bounds["first"]).values_list("prev_hash", flat=True).first()
    last_hash = AuditEvent.objects.filter(pk=bounds["last"]).values_list("hash", flat=True).first()
    chain = {
        "count": bounds["count"],
        "first_id": bounds["first"],
        "last_id": bounds["last"],
        "first_prev_hash": first_prev,
        "last_hash": last_hash,
    }
    return out.close(), chain, head


def report_pack_build(*, pack_id: int) -> ReportPack:
    """Build the pack (the Celery task's body). Claims the row first, so two workers never both
    build it; a build whose worker died is taken over once its lease has passed."""
    now = timezone.now()
    claimed = (
        ReportPack.objects.filter(pk=pack_id)
        .filter(
            models.Q(status=ReportPack.Status.QUEUED) | models.Q(status=ReportPack.Status.BUILDING, lease_until__lt=now)
        )
        .update(status=ReportPack.Status.BUILDING, started_at=now, lease_until=now + BUILD_LEASE, progress=1)
    )
    pack = ReportPack.objects.select_related("environment", "requested_by").get(pk=pack_id)
    if not claimed:
        return pack
    workdir = Path(settings.REPORTS_DIR) / f".{pack.uid}.tmp"
    with system_origin("report_pack_build", request_id=f"report-{pack.uid}"):
        try:
            manifest = _build_files(pack, workdir)
            size, digest = _zip(pack, workdir)
        except Exception as exc:  # the pack fails visibly, whatever went wrong
            log.exception("report pack %s failed", pack.uid)
            error = f"{type(exc).__name__}: {exc}"[:2000]
            with transaction.atomic():
                ReportPack.objects.filter(pk=pack.pk).update(
                    status=ReportPack.Status.FAILED, error=error, finished_at=timezone.now(), lease_until=None
                )
                audit_record(
                    actor=None,
                    event_type="report.build_failed",
                    target=pack,
                    environment=pack.environment.name,
                    region=pack.region,
                    outcome=Outcome.FAILURE,
                    after={"uid": str(pack.uid), "error": error},
                )
            pack.refresh_from_db()
            return pack
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        with transaction.atomic():
            ReportPack.objects.filter(pk=pack.pk).update(
                status=ReportPack.Status.READY,
                progress=100,
                stage="Ready",
                finished_at=timezone.now(),
                lease_until=None,
                size_bytes=size,
                sha256=digest,
                manifest=manifest,
                error="",
            )
            audit_record(
                actor=None,
                event_type="report.built",
                target=pack,
                environment=pack.environment.name,
                region=pack.region,
                after={
                    "uid": str(pack.uid),
                    "sha256": digest,
                    "size_bytes": size,
                    "files": {name: meta["sha256"] for name, meta in manifest["files"].items()},
                },
            )
    pack.refresh_from_db()
    return pack


def _build_files(pack: ReportPack, workdir: Path) -> dict:
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    files: dict[str, dict] = {}
    _progress(pack, 10, "Transaction counts")
    files["transaction_counts.csv"] = _csv_write(workdir / "transaction_counts.csv", COUNTS_HEADER, _counts_rows(pack))
    _progress(pack, 25, "Approvals")
    gates_summary: list = []
    files["approvals.csv"] = _csv_write(
        workdir / "approvals.csv", APPROVALS_HEADER, _approvals_rows(pack, gates_summary)
    )
    _progress(pack, 40, "Findings")
    findings_summary: list = []
    files["findings.csv"] = _csv_write(
        workdir / "findings.csv", FINDINGS_HEADER, _findings_rows(pack, findings_summary)
    )
    _progress(pack, 55, "Audit trail")
    files["audit_events.csv"], chain, head = _audit_export(pack, workdir / "audit_events.csv")
    subject_files: dict[str, str] = {}
    for i, subject in enumerate(pack.subjects):
        _progress(pack, 70 + (15 * i) // max(len(pack.subjects), 1), f"Data subject {i + 1} of {len(pack.subjects)}")
        name = subject_file_name(subject, set(files))
        files[name] = _csv_write(workdir / name, SUBJECT_HEADER, _subject_rows(pack, subject))
        subject_files[name] = subject
    _progress(pack, 88, "Summary PDF")
    created_at = timezone.now()
    counts_totals = _counts_totals(workdir / "transaction_counts.csv")
    pdf_bytes = pdf.summary_render(
        pack=pack,
        created_at=created_at,
        counts=counts_totals,
        gates=gates_summary,
        findings=findings_summary,
        subjects={name: (subject, files[name]["rows"]) for name, subject in subject_files.items()},
        chain=chain,
    )
    out = _HashingFile(workdir / "summary.pdf")
    out.write_bytes(pdf_bytes)
    files["summary.pdf"] = {**out.close(), "rows": None}
    _progress(pack, 95, "Signing")
    requester = pack.requested_by
    manifest = {
        "format": PACK_FORMAT,
        "generator": {"name": GENERATOR, "version": GENERATOR_VERSION},
        "pack_id": str(pack.uid),
        "created_at": created_at.isoformat(),
        "requested_by": {
            "user_id": requester.pk,
            "username": requester.username,
            "name": requester.display_name,
            "email": requester.email,
            "idp_issuer": requester.idp_issuer,
            "idp_subject": requester.idp_subject,
        },
        "requested_at": pack.requested_at.isoformat(),
        "environment": pack.environment.name,
        "period": {"start": pack.period_start.isoformat(), "end": pack.period_end.isoformat()},
        "region": pack.region or None,
        "subjects": {name: subject for name, subject in subject_files.items()},
        "files": files,
        "audit_events": chain,
        "audit_chain_head": {"event_id": head.last_event_id, "hash": head.last_hash},
    }
    manifest["signatures"] = manifest_sign(manifest)
    (workdir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False))
    return manifest


def _counts_totals(path: Path) -> list[dict]:
    """Per-region totals for the summary, read back from the file (constant memory)."""
    totals: dict[str, dict] = {}
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            t = totals.setdefault(
                row["region"], {"region": row["region"], "processed": 0, "stored": 0, "replicated_in": 0, "findings": 0}
            )
            for key in ("processed", "stored", "replicated_in", "findings"):
                t[key] += int(row[key] or 0)
    return [totals[r] for r in sorted(totals)]


def _zip(pack: ReportPack, workdir: Path) -> tuple[int, str]:
    final = pack.zip_path()
    part = final.with_suffix(".zip.part")
    names = sorted(p.name for p in workdir.iterdir() if p.name != MANIFEST_NAME)
    with zipfile.ZipFile(part, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in [*names, MANIFEST_NAME]:
            zf.write(workdir / name, arcname=name)
    digest = hashlib.sha256()
    with part.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    os.replace(part, final)
    return final.stat().st_size, digest.hexdigest()
