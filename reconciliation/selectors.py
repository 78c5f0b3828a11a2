"""Reads of reconciliation: when an environment is reconciled, which windows are due, the
replication lag that sets the grace, and the lists the pages and the API show."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q, QuerySet

from controlplane.aws import AwsError, cloudwatch
from migrations_app.deployments import outputs_known
from migrations_app.models import Environment, Execution, Gate
from migrations_app.selectors import latest_snapshot
from reconciliation.models import Finding, ReconciliationRun

log = logging.getLogger(__name__)

LAG_PERIOD_SECONDS = 60
LAG_LOOKBACK = timedelta(hours=3)
DONE = (ReconciliationRun.Status.CLEAN, ReconciliationRun.Status.FINDINGS)


# --- names -------------------------------------------------------------------------------------


def transactions_table(environment: Environment) -> str:
    return (outputs_known(environment=environment).get("data") or {}).get(
        "TransactionsTableName"
    ) or f"{environment.name}-transactions"


def aggregates_table(environment: Environment) -> str:
    known = outputs_known(environment=environment)
    for outputs in known.values():
        if outputs.get("AggregatesTableName"):
            return outputs["AggregatesTableName"]
    return f"{environment.name}-aggregates"


# --- windows -----------------------------------------------------------------------------------


def window_floor(moment: datetime, seconds: int | None = None) -> datetime:
    """Start of the epoch-aligned window containing ``moment``."""
    seconds = seconds or settings.RECONCILIATION_WINDOW_SECONDS
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=UTC)


def window_id(start: datetime) -> str:
    """The windowId / timeBucket of a window: its start, ISO 8601 to the second, UTC."""
    return start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Period:
    """When an environment's reconciliation is active: from the first weight shift until the
    post-cutover window closes (``end`` None: still open)."""

    start: datetime
    end: datetime | None
    reason: str


def reconciliation_period(*, environment: Environment) -> Period | None:
    """None until a gate that moves traffic to the target region has been approved.

    It ends when the close-window gate is approved (or the execution succeeded). An execution
    that failed or was stopped after a shift keeps it active for the plan's window after it
    stopped: traffic may still be split, and stragglers need the same time to surface.
    """
    target = environment.target_region
    shifted = [
        g
        for g in Gate.objects.filter(
            execution__environment=environment, kind=Gate.KIND_STEP, status=Gate.Status.APPROVED
        ).order_by("decided_at", "arrived_at")
        if int(g.target_weights.get(target, 0) or 0) > 0
    ]
    if not shifted:
        return None
    first = shifted[0]
    start = first.decided_at or first.arrived_at
    latest = Execution.objects.filter(environment=environment).order_by("-created_at").first()
    if latest is None or latest.is_active:
        return Period(start, None, "a cutover is running")
    close = (
        Gate.objects.filter(execution=latest, kind=Gate.KIND_CLOSE, status=Gate.Status.APPROVED)
        .order_by("-decided_at")
        .first()
    )
    if close is not None:
        return Period(start, close.decided_at or close.arrived_at, "the post-cutover window was closed")
    stopped = latest.stopped_at or latest.last_synced_at or latest.created_at
    if latest.status == Execution.Status.SUCCEEDED:
        return Period(start, stopped, "the cutover succeeded")
    window = int(latest.plan.get("window_seconds") or settings.CUTOVER_WINDOW_SECONDS)
    return Period(start, stopped + timedelta(seconds=window), f"the execution ended {latest.status}")


@dataclass(frozen=True)
class Lag:
    """Replication lag in seconds: ``current`` sets the grace; ``peak_since(t)`` (the worst
    datapoint since ``t``) says whether a difference may still be in flight."""

    current: float | None
    points: tuple[tuple[datetime, float], ...] = ()
    source: str = "none"
    error: str = ""

    def peak_since(self, moment: datetime) -> float:
        since = moment - timedelta(seconds=LAG_PERIOD_SECONDS)
        return max([v for t, v in self.points if t >= since] + [self.current or 0.0])

    def as_detail(self) -> dict:
        return {"current_seconds": self.current, "source": self.source, "error": self.error}


def replication_lag(*, environment: Environment, since: datetime, now: datetime) -> Lag:
    """ReplicationLatency of both directions from CloudWatch (Maximum per minute); on an AWS
    error, the latest telemetry snapshot; else unknown (the grace is then its floor)."""
    table = transactions_table(environment)
    start = max(since - timedelta(seconds=LAG_PERIOD_SECONDS), now - LAG_LOOKBACK)
    try:
        points: list[tuple[datetime, float]] = []
        for sender in (environment.source_region, environment.target_region):
            series = cloudwatch.metric_statistics(
                target=environment.aws_target(sender),
                namespace="AWS/DynamoDB",
                metric="ReplicationLatency",
                dimensions={"TableName": table, "ReceivingRegion": environment.peer_of(sender)},
                start=start,
                end=now + timedelta(seconds=LAG_PERIOD_SECONDS),
                period=LAG_PERIOD_SECONDS,
                statistics=["Maximum"],
            )
            points += [(p.timestamp, p.maximum / 1000.0) for p in series if p.maximum is not None]
        if points:
            newest = max(t for t, _ in points)
            return Lag(max(v for t, v in points if t == newest), tuple(points), "cloudwatch")
        error = "no ReplicationLatency datapoint in CloudWatch"
    except AwsError as exc:
        error = str(exc)
        log.warning("reconciliation %s: replication lag from CloudWatch unavailable: %s", environment.name, exc)
    snapshot = latest_snapshot(environment)
    directions = ((snapshot.payload.get("replication_latency") or {}).get("directions") or []) if snapshot else []
    values = [d.get("latest_maximum_ms") for d in directions if d.get("latest_maximum_ms") is not None]
    if values:
        return Lag(max(values) / 1000.0, (), "telemetry snapshot", error)
    return Lag(None, (), "none", error)


def grace_seconds(lag: Lag) -> float:
    return max(
        float(settings.RECONCILIATION_GRACE_FLOOR_SECONDS),
        float(settings.RECONCILIATION_GRACE_LAG_FACTOR) * (lag.current or 0.0),
    )


def in_flight_seconds(lag: Lag, window_start: datetime) -> float:
    """How recent a write may be and still be replication in flight, for one window."""
    return float(settings.RECONCILIATION_GRACE_LAG_FACTOR) * lag.peak_since(window_start)


def windows_due(*, environment: Environment, now: datetime, grace: float, limit: int | None = None) -> list[datetime]:
    """Starts of the windows of the active period that closed more than ``grace`` seconds ago
    and have no finished run (a RECHECK or FAILED run, or a RUNNING one whose lease expired, is
    due again), oldest first."""
    period = reconciliation_period(environment=environment)
    if period is None:
        return []
    seconds = settings.RECONCILIATION_WINDOW_SECONDS
    step = timedelta(seconds=seconds)
    last_end = now - timedelta(seconds=grace)
    if period.end is not None:
        last_end = min(last_end, window_floor(period.end) + step)
    candidates = []
    start = window_floor(period.start)
    while start + step <= last_end:
        candidates.append(start)
        start += step
    if not candidates:
        return []
    busy = set(
        ReconciliationRun.objects.filter(
            environment=environment, window_start__gte=candidates[0], window_start__lte=candidates[-1]
        )
        .filter(Q(status__in=DONE) | Q(status=ReconciliationRun.Status.RUNNING, lease_until__gte=now))
        .values_list("window_start", flat=True)
    )
    due = [w for w in candidates if w not in busy]
    return due[:limit] if limit else due


# --- lists -------------------------------------------------------------------------------------


def run_list(*, environment: Environment | None = None, limit: int = 200) -> QuerySet[ReconciliationRun]:
    qs = ReconciliationRun.objects.select_related("environment").annotate(findings_count=Count("findings"))
    if environment is not None:
        qs = qs.filter(environment=environment)
    return qs.order_by("-window_start", "environment__name")[:limit]


def finding_list(
    *, environment: Environment | None = None, status: str | None = None, limit: int = 200
) -> QuerySet[Finding]:
    qs = Finding.objects.select_related("environment", "run", "acknowledged_by", "resolved_by")
    if environment is not None:
        qs = qs.filter(environment=environment)
    if status == "unresolved":
        qs = qs.filter(status__in=Finding.UNRESOLVED)
    elif status:
        qs = qs.filter(status=status)
    return qs.order_by("-detected_at")[:limit]
