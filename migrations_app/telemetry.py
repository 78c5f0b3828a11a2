"""The telemetry collector: AWS state of an environment, snapshotted into the database.

A Celery beat job (``TELEMETRY_INTERVAL_SECONDS``, 30 s by default) calls
``telemetry_collect`` for every environment. It claims the slot first (one row per
environment and interval, so overlapping ticks skip), then reads each *source* — CloudWatch
replication latency and Lambda invocations, alarm states, Route 53 weights, SQS dead-letter
queues, Step Functions executions, CloudFormation stacks — through ``controlplane.aws`` and
the readers the gate checks already use, and stores what it read. A source that fails records
its error; the others are stored all the same. The dashboard reads these rows, never AWS.

Not audited: collecting is not a person's action (as ``gate_evidence_collect``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from controlplane.aws import AwsError, cloudwatch, route53, stepfunctions
from migrations_app import checks
from migrations_app.deployments import outputs_known
from migrations_app.models import Environment, Execution, TelemetryPoint, TelemetrySnapshot

log = logging.getLogger(__name__)

Metric = TelemetryPoint.Metric

# Each cycle re-reads this much of CloudWatch: datapoints arrive late and a missed cycle
# (a worker restart) must not leave a hole in the charts; upserts make re-reading harmless.
LOOKBACK = timedelta(minutes=10)
PERIOD_SECONDS = 60  # one datapoint per minute: per-minute transactions, 1-min latency


@dataclass
class SourceResult:
    """What one source read: its JSON-safe payload and the chart points it produced."""

    payload: dict
    points: list[TelemetryPoint]


@dataclass(frozen=True)
class Source:
    key: str
    label: str
    read: Callable[[Environment, datetime], SourceResult]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _point(environment: Environment, metric: str, series: str, at: datetime, **values) -> TelemetryPoint:
    return TelemetryPoint(environment=environment, metric=metric, series=series, at=at, **values)


def direction_name(sender: str, receiver: str) -> str:
    return f"{sender}→{receiver}"


def _bucket(moment: datetime) -> datetime:
    """The start of the period a datapoint belongs to: one key per minute whatever timestamp
    the service reports (AWS gives the bucket start; the sandbox the first sample's time)."""
    return datetime.fromtimestamp(int(moment.timestamp()) // PERIOD_SECONDS * PERIOD_SECONDS, tz=UTC)


def _window(now: datetime) -> tuple[datetime, datetime]:
    """The CloudWatch query window, aligned to whole periods so every cycle asks for the same
    buckets (CloudWatch buckets from StartTime; unaligned windows would give each cycle its own
    timestamps and the chart duplicate points). The end reaches past now: EndTime is exclusive."""
    aligned = _bucket(now)
    return aligned - LOOKBACK, aligned + timedelta(seconds=PERIOD_SECONDS)


# --- sources ------------------------------------------------------------------------------------


def route53_weights_read(environment: Environment, now: datetime) -> SourceResult:
    if not environment.hosted_zone_id:
        raise checks.EvidenceUnavailable("the environment has no hosted zone id yet")
    records = route53.weighted_records_list(
        target=environment.aws_target(), hosted_zone_id=environment.hosted_zone_id, name=environment.record_name
    )
    weights = {r.set_identifier: r.weight for r in records}
    at = now.replace(microsecond=0)
    points = [_point(environment, Metric.ROUTE53_WEIGHT, region, at, value=w) for region, w in weights.items()]
    return SourceResult(
        {"record": environment.record_name, "weights": weights, "ttl": {r.set_identifier: r.ttl for r in records}},
        points,
    )


def replication_latency_read(environment: Environment, now: datetime) -> SourceResult:
    start, end = _window(now)
    table, series = checks.replication_latency_read(environment, start=start, end=end, period=PERIOD_SECONDS)
    directions, points = [], []
    for direction in series:
        name = direction_name(direction["from"], direction["to"])
        pts = direction["points"]
        for p in pts:
            points.append(
                _point(
                    environment,
                    Metric.REPLICATION_LATENCY,
                    name,
                    _bucket(p.timestamp),
                    average=p.average,
                    maximum=p.maximum,
                )
            )
        newest = pts[-1] if pts else None
        directions.append(
            {
                "from": direction["from"],
                "to": direction["to"],
                "datapoints": len(pts),
                "latest_at": _iso(newest.timestamp) if newest else None,
                "latest_average_ms": newest.average if newest else None,
                "latest_maximum_ms": newest.maximum if newest else None,
                "window_maximum_ms": max((p.maximum for p in pts), default=None),
            }
        )
    return SourceResult(
        {"table": table, "window_seconds": int(LOOKBACK.total_seconds()), "directions": directions}, points
    )


def _function_name(arn: str) -> str:
    # arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]
    parts = arn.split(":")
    return parts[6] if len(parts) > 6 else arn


def transactions_read(environment: Environment, now: datetime) -> SourceResult:
    """Invocations (and errors) per minute of each region's transaction function: every
    transaction is one invocation, so invocations per minute stand in for transactions."""
    known = outputs_known(environment=environment)
    start, end = _window(now)
    regions, points = [], []
    for role in ("source", "target"):
        region = environment.region_for(role)
        arn = (known.get(f"regional-{role}") or {}).get("TransactionFunctionArn")
        if not arn:
            raise checks.EvidenceUnavailable(f"the regional-{role} stack is not deployed (no TransactionFunctionArn)")
        function = _function_name(arn)
        per_metric = {}
        for metric_name in ("Invocations", "Errors"):
            per_metric[metric_name] = cloudwatch.metric_statistics(
                target=environment.aws_target(region),
                namespace="AWS/Lambda",
                metric=metric_name,
                dimensions={"FunctionName": function},
                start=start,
                end=end,
                period=PERIOD_SECONDS,
                statistics=["Sum"],
            )
        for p in per_metric["Invocations"]:
            points.append(_point(environment, Metric.TRANSACTIONS, region, _bucket(p.timestamp), value=p.sum or 0.0))
        for p in per_metric["Errors"]:
            points.append(_point(environment, Metric.ERRORS, region, _bucket(p.timestamp), value=p.sum or 0.0))
        # The newest minute is still filling: report the last complete one. No datapoint for
        # it means no invocation in it (Lambda publishes nothing then): zero, not an older value.
        minute = _bucket(now) - timedelta(seconds=PERIOD_SECONDS)
        invocations = {_bucket(p.timestamp): p.sum for p in per_metric["Invocations"]}
        errors = {_bucket(p.timestamp): p.sum for p in per_metric["Errors"]}
        regions.append(
            {
                "region": region,
                "function": function,
                "minute": _iso(minute),
                "per_minute": invocations.get(minute) or 0.0,
                "errors_per_minute": errors.get(minute) or 0.0,
            }
        )
    return SourceResult({"regions": regions}, points)


def dlq_depths_read(environment: Environment, now: datetime) -> SourceResult:
    return SourceResult({"queues": checks.dlq_depths_read(environment)}, [])


def alarms_read(environment: Environment, now: datetime) -> SourceResult:
    alarms = [
        {
            "name": a.name,
            "region": region,
            "state": a.state,
            "since": _iso(a.updated_at),
            "reason": a.reason[:300],
            "metric": a.metric,
        }
        for region, a in checks.alarms_read(environment)
    ]
    return SourceResult({"alarms": alarms}, [])


def executions_read(environment: Environment, now: datetime) -> SourceResult:
    """Step Functions' own view of the environment's newest execution and any still active."""
    rows = list(Execution.objects.filter(environment=environment).exclude(arn="").order_by("-created_at")[:1]) + list(
        Execution.objects.filter(environment=environment, status__in=Execution.ACTIVE).exclude(arn="")
    )
    seen, out = set(), []
    for row in rows:
        if row.pk in seen:
            continue
        seen.add(row.pk)
        described = stepfunctions.execution_describe(target=environment.aws_target(), execution_arn=row.arn)
        out.append(
            {
                "name": row.name,
                "status": described.status,
                "started_at": _iso(described.started_at),
                "stopped_at": _iso(described.stopped_at),
                "error": described.error[:256],
            }
        )
    return SourceResult({"executions": out}, [])


def stacks_read(environment: Environment, now: datetime) -> SourceResult:
    return SourceResult({"stacks": checks.stack_statuses_read(environment)}, [])


SOURCES: tuple[Source, ...] = (
    Source("route53_weights", "Route 53 weights", route53_weights_read),
    Source("replication_latency", "DynamoDB replication latency (CloudWatch)", replication_latency_read),
    Source("transactions", "Transactions per minute (Lambda invocations, CloudWatch)", transactions_read),
    Source("dlq_depths", "Dead-letter queues (SQS)", dlq_depths_read),
    Source("alarms", "CloudWatch alarms", alarms_read),
    Source("executions", "Step Functions executions", executions_read),
    Source("stacks", "CloudFormation stacks", stacks_read),
)
SOURCE_LABELS = {s.key: s.label for s in SOURCES}


# --- collecting ---------------------------------------------------------------------------------


def telemetry_slot(moment: datetime) -> int:
    return int(moment.timestamp() // max(1.0, float(settings.TELEMETRY_INTERVAL_SECONDS)))


def _error_status(exc: Exception) -> dict:
    if isinstance(exc, checks.EvidenceUnavailable):
        return {"status": "unavailable", "error": str(exc)[:500]}
    if isinstance(exc, AwsError):
        return {
            "status": "error",
            "error": str(exc)[:500],
            "code": exc.code,
            "permanent": exc.permanent,
        }
    return {"status": "error", "error": f"internal error: {type(exc).__name__}: {str(exc)[:400]}"}


def _last_good_pointers(environment, snapshot, statuses: dict, payload: dict) -> None:
    """For each failed source, the id of the newest snapshot where it succeeded
    (``last_good_snapshot``; None when it never did in the history kept), so the dashboard
    reads that one row instead of searching the history on every poll. Carried forward from
    the previous snapshot; the search happens here, once per failing source and cycle, only
    when the previous snapshot predates these pointers."""
    failed = [key for key in statuses if key not in payload]
    if not failed:
        return
    previous = (
        TelemetrySnapshot.objects.filter(environment=environment, collected_at__isnull=False)
        .exclude(pk=snapshot.pk)
        .order_by("-collected_at")
        .only("id", "sources", "payload")
        .first()
    )
    for key in failed:
        if previous is None:
            pointer = None
        elif key in previous.payload:
            pointer = previous.pk
        elif "last_good_snapshot" in previous.sources.get(key, {}):
            pointer = previous.sources[key]["last_good_snapshot"]
        else:
            pointer = (
                TelemetrySnapshot.objects.filter(
                    environment=environment, collected_at__isnull=False, payload__has_key=key
                )
                .exclude(pk=snapshot.pk)
                .order_by("-collected_at")
                .values_list("pk", flat=True)
                .first()
            )
        statuses[key]["last_good_snapshot"] = pointer


def telemetry_collect(
    *, environment: Environment, sources: tuple[Source, ...] = SOURCES, now: datetime | None = None
) -> TelemetrySnapshot | None:
    """Collect one snapshot of ``environment``; None when this slot is already taken."""
    started = now or timezone.now()
    try:
        with transaction.atomic():
            snapshot = TelemetrySnapshot.objects.create(
                environment=environment, slot=telemetry_slot(started), started_at=started
            )
    except IntegrityError:
        log.info("telemetry %s: slot already collected or being collected", environment.name)
        return None
    clock = time.monotonic()
    statuses: dict[str, dict] = {}
    payload: dict[str, dict] = {}
    points: list[TelemetryPoint] = []
    for source in sources:
        tick = time.monotonic()
        try:
            result = source.read(environment, started)
        except checks.EvidenceUnavailable as exc:
            statuses[source.key] = _error_status(exc)
        except AwsError as exc:
            log.warning("telemetry %s %s: %s", environment.name, source.key, exc)
            statuses[source.key] = _error_status(exc)
        except Exception as exc:  # noqa: BLE001 - one broken source must not blank the dashboard
            log.exception("telemetry %s %s failed", environment.name, source.key)
            statuses[source.key] = _error_status(exc)
        else:
            statuses[source.key] = {"status": "ok"}
            payload[source.key] = result.payload
            points.extend(result.points)
        statuses[source.key]["duration_ms"] = int((time.monotonic() - tick) * 1000)
    _last_good_pointers(environment, snapshot, statuses, payload)
    ok = sum(1 for s in statuses.values() if s["status"] == "ok")
    if ok == len(statuses):
        status = TelemetrySnapshot.Status.COMPLETE
    elif ok == 0:
        status = TelemetrySnapshot.Status.FAILED
    else:
        status = TelemetrySnapshot.Status.PARTIAL
    with transaction.atomic():
        if points:
            TelemetryPoint.objects.bulk_create(
                points,
                update_conflicts=True,
                unique_fields=["environment", "metric", "series", "at"],
                update_fields=["average", "maximum", "value"],
            )
        snapshot.status = status
        snapshot.sources = statuses
        snapshot.payload = payload
        snapshot.collected_at = timezone.now()
        snapshot.duration_ms = int((time.monotonic() - clock) * 1000)
        snapshot.save(update_fields=["status", "sources", "payload", "collected_at", "duration_ms"])
    return snapshot


def telemetry_prune(*, now: datetime | None = None) -> tuple[int, int]:
    """Delete snapshots and points older than ``TELEMETRY_RETENTION_HOURS``; (snapshots, points)."""
    cutoff = (now or timezone.now()) - timedelta(hours=settings.TELEMETRY_RETENTION_HOURS)
    snapshots, _ = TelemetrySnapshot.objects.filter(started_at__lt=cutoff).delete()
    points, _ = TelemetryPoint.objects.filter(at__lt=cutoff).delete()
    return snapshots, points


# --- health verdict ------------------------------------------------------------------------------

# Error codes that mean "AWS does not have what this environment recorded".
GONE_CODES = frozenset(
    {
        "ExecutionDoesNotExist",
        "StateMachineDoesNotExist",
        "NoSuchHostedZone",
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "ResourceNotFoundException",
        "ResourceNotFound",
        "NoSuchBucket",
        "ParameterNotFound",
    }
)


@dataclass(frozen=True)
class EnvironmentHealth:
    """Whether AWS answered the last collection and still holds what the environment recorded.
    ``verdict`` is ``ok``, ``unreachable`` or ``inconsistent``; ``message`` is for a person."""

    verdict: str
    message: str

    @property
    def is_ok(self) -> bool:
        return self.verdict == "ok"


def environment_health(*, environment: Environment, snapshot: TelemetrySnapshot | None) -> EnvironmentHealth:
    """The verdict on the newest telemetry snapshot: AWS unreachable (every source failed to
    connect), inconsistent (stacks, the state machine, executions or queues the environment
    recorded are gone: a sandbox AWS restarted with its memory wiped, or resources deleted by
    hand), or ok. Read from the snapshot only, so pages can show it without calling AWS."""
    if snapshot is None or not environment.is_provisioned:
        return EnvironmentHealth("ok", "")
    failed = snapshot.failed_sources
    codes = {s.get("code", "") for s in failed.values()}
    where = environment.aws_endpoint_url or "AWS"
    if failed and len(failed) == len(snapshot.sources) and codes == {"Unreachable"}:
        return EnvironmentHealth(
            "unreachable",
            f"AWS cannot be reached at {where}: no call answered at "
            f"{timezone.localtime(snapshot.collected_at):%H:%M:%S} UTC. The figures shown are the last known ones; "
            "gate decisions are kept and delivered once AWS answers.",
        )
    gone: list[str] = []
    stacks = (snapshot.payload.get("stacks") or {}).get("stacks") or []
    missing = [s["stack"] for s in stacks if s.get("status") == "missing"]
    if missing:
        gone.append(
            f"{len(missing)} of {len(stacks)} stacks ({', '.join(missing[:3])}{', …' if len(missing) > 3 else ''})"
        )
    for key, status in failed.items():
        if status.get("code") in GONE_CODES:
            gone.append(f"{SOURCE_LABELS.get(key, key)}: {status.get('code')}")
    if gone:
        return EnvironmentHealth(
            "inconsistent",
            f"AWS no longer has what this environment recorded — missing: {'; '.join(gone)}. "
            "If the sandbox AWS was restarted, its state is gone: deploy the environment again and start a new "
            "cutover; waiting gates of the old one cannot be decided.",
        )
    return EnvironmentHealth("ok", "")
