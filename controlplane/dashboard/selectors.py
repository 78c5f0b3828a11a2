"""What the dashboard shows, read from the database only: telemetry snapshots (collected from
AWS by the beat job), executions, gates, alerts, reconciliation runs and findings.

``dashboard_status`` feeds the status partial and ``dashboard_charts`` the charts partial; the
REST API can serve the same dictionaries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from controlplane.dashboard.charts import Chart, Series, line_chart
from migrations_app import selectors
from migrations_app.models import Alert, Environment, Execution, Gate, TelemetryPoint, TelemetrySnapshot
from migrations_app.telemetry import SOURCE_LABELS, EnvironmentHealth, direction_name, environment_health
from reconciliation.models import Finding, ReconciliationRun

RUNS_SHOWN = 5
FINDINGS_SHOWN = 10


@dataclass
class Freshness:
    """How old the telemetry is, in words: a stale snapshot is never presented as current."""

    snapshot: TelemetrySnapshot | None
    age_seconds: float | None
    stale: bool
    limit_seconds: float
    interval_seconds: float

    @property
    def age_text(self) -> str:
        return duration_text(self.age_seconds) if self.age_seconds is not None else "never"


@dataclass
class SourceView:
    """One telemetry source as shown: its data (possibly from an older snapshot) and why."""

    key: str
    label: str
    data: dict | None
    status: str  # ok | error | unavailable | missing
    error: str = ""
    as_of: datetime | None = None
    age_seconds: float | None = None
    from_older_snapshot: bool = False

    @property
    def age_text(self) -> str:
        return duration_text(self.age_seconds) if self.age_seconds is not None else ""


@dataclass
class Phase:
    name: str
    detail: str
    execution: Execution | None = None
    step: int | None = None
    steps: int | None = None


@dataclass
class DashboardStatus:
    environment: Environment
    now: datetime
    freshness: Freshness
    sources: dict[str, SourceView]
    phase: Phase
    weights: list[dict]
    weights_match: bool | None
    waiting_gates: list[dict]
    alerts: list[Alert]
    runs: list[ReconciliationRun]
    open_findings: list[Finding]
    open_findings_count: int
    health: EnvironmentHealth | None = None


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = max(0, int(seconds))
    if s < 90:
        return f"{s} s"
    if s < 90 * 60:
        return f"{s // 60} min"
    if s < 48 * 3600:
        h, m = divmod(s // 60, 60)
        return f"{h} h {m} min" if m else f"{h} h"
    d, h = divmod(s // 3600, 24)
    return f"{d} d {h} h" if h else f"{d} d"


def freshness(*, environment: Environment, now: datetime) -> Freshness:
    snapshot = selectors.latest_snapshot(environment)
    interval = float(settings.TELEMETRY_INTERVAL_SECONDS)
    return Freshness(
        snapshot=snapshot,
        age_seconds=snapshot.age_seconds(now) if snapshot else None,
        stale=snapshot.is_stale(now) if snapshot else True,
        limit_seconds=interval * float(settings.TELEMETRY_STALE_FACTOR),
        interval_seconds=interval,
    )


def _last_good(
    environment: Environment, snapshot: TelemetrySnapshot, key: str, status: dict
) -> TelemetrySnapshot | None:
    """The newest snapshot where source ``key`` succeeded: the one the collector pointed at
    (``last_good_snapshot``: one row by its key, or none when it never succeeded), else, for
    snapshots taken before the pointer existed, a search back through the history."""
    older = TelemetrySnapshot.objects.only("collected_at", "payload")
    if "last_good_snapshot" in status:
        pointer = status["last_good_snapshot"]
        return older.filter(pk=pointer, environment=environment).first() if pointer else None
    return (
        older.filter(environment=environment, collected_at__lt=snapshot.collected_at, payload__has_key=key)
        .order_by("-collected_at")
        .first()
    )


def _sources(environment: Environment, snapshot: TelemetrySnapshot | None, now: datetime) -> dict[str, SourceView]:
    """Each source from the newest snapshot; a source that failed there is shown from the
    newest snapshot where it succeeded, with that snapshot's age, next to the error."""
    views = {}
    for key, label in SOURCE_LABELS.items():
        if snapshot is None:
            views[key] = SourceView(key, label, None, "missing", "no telemetry collected yet")
            continue
        status = snapshot.sources.get(key, {"status": "missing", "error": "not collected by this snapshot"})
        if key in snapshot.payload:
            views[key] = SourceView(
                key,
                label,
                snapshot.payload[key],
                "ok",
                as_of=snapshot.collected_at,
                age_seconds=snapshot.age_seconds(now),
            )
            continue
        older = _last_good(environment, snapshot, key, status)
        views[key] = SourceView(
            key,
            label,
            older.payload[key] if older else None,
            status.get("status", "error"),
            status.get("error", ""),
            as_of=older.collected_at if older else None,
            age_seconds=older.age_seconds(now) if older else None,
            from_older_snapshot=older is not None,
        )
    return views


def phase_of(*, environment: Environment) -> Phase:
    execution = (
        Execution.objects.filter(environment=environment).select_related("started_by").order_by("-created_at").first()
    )
    if execution is None:
        return Phase("Not started", "No cutover has been started for this environment.")
    steps = len(execution.plan.get("steps") or [])
    gates = list(execution.gates.order_by("arrived_at"))
    waiting = next((g for g in reversed(gates) if g.status == Gate.Status.WAITING), None)
    approved = [g for g in gates if g.status == Gate.Status.APPROVED]
    target = environment.target_region
    if execution.status == Execution.Status.STARTING:
        return Phase("Starting", "The execution is being started in Step Functions.", execution, 0, steps)
    if execution.status == Execution.Status.SUCCEEDED:
        return Phase("Complete", "The cutover finished and its window was closed.", execution, steps, steps)
    if not execution.is_active:
        why = f" ({execution.error})" if execution.error else ""
        return Phase(
            execution.get_status_display(), f"The execution ended {execution.status}{why}.", execution, None, steps
        )
    if waiting is not None and waiting.kind == Gate.KIND_CLOSE:
        return Phase("Post-cutover window", "Waiting for the close-window gate.", execution, steps, steps)
    if waiting is not None:
        return Phase(
            "Stepping",
            f"Waiting for approval of step {waiting.step} of {steps}: {waiting.target_weights.get(target, '?')} % "
            f"to {target}.",
            execution,
            waiting.step,
            steps,
        )
    last = approved[-1] if approved else None
    if last is not None and last.kind == Gate.KIND_STEP and int(last.target_weights.get(target, 0) or 0) >= 100:
        return Phase("Post-cutover window", f"All traffic on {target}; reconciliation runs in the window.", execution)
    if last is not None:
        return Phase(
            "Stepping",
            f"Step {last.step} of {steps} approved ({last.target_weights.get(target, '?')} % to {target}); "
            "soaking before the next gate.",
            execution,
            last.step,
            steps,
        )
    return Phase("Stepping", "Running; the first gate is on its way.", execution, 0, steps)


def planned_weights(*, environment: Environment, execution: Execution | None) -> dict[str, int]:
    """What the state machine should have set: the last approved step, else the initial split."""
    initial = {environment.source_region: 100, environment.target_region: 0}
    if execution is None:
        return initial
    last = execution.gates.filter(status=Gate.Status.APPROVED, kind=Gate.KIND_STEP).order_by("-decided_at").first()
    return {str(k): int(v) for k, v in last.target_weights.items()} if last else initial


def _share(weights: dict[str, int], region: str) -> float | None:
    total = sum(int(v) for v in weights.values())
    if not weights or region not in weights:
        return None
    if total == 0:  # Route 53: all-zero weights split evenly
        return 100.0 / len(weights)
    return 100.0 * int(weights[region]) / total


def dashboard_status(*, environment: Environment, now: datetime | None = None) -> DashboardStatus:
    now = now or timezone.now()
    fresh = freshness(environment=environment, now=now)
    sources = _sources(environment, fresh.snapshot, now)
    phase = phase_of(environment=environment)
    planned = planned_weights(environment=environment, execution=phase.execution)
    actual_view = sources["route53_weights"]
    actual = (actual_view.data or {}).get("weights") if actual_view.data else None
    weights = []
    for region in (environment.source_region, environment.target_region):
        weights.append(
            {
                "region": region,
                "planned": planned.get(region),
                "planned_share": _share(planned, region),
                "actual": actual.get(region) if actual is not None else None,
                "actual_share": _share(actual, region) if actual is not None else None,
            }
        )
    match = None if actual is None else all(w["planned"] == w["actual"] for w in weights)
    waiting = [
        {
            "gate": g,
            "age_seconds": (now - g.arrived_at).total_seconds(),
            "age": duration_text((now - g.arrived_at).total_seconds()),
        }
        for g in selectors.gate_list_waiting().filter(execution__environment=environment)
    ]
    findings = Finding.objects.filter(environment=environment, status__in=Finding.UNRESOLVED)
    return DashboardStatus(
        environment=environment,
        now=now,
        freshness=fresh,
        sources=sources,
        phase=phase,
        weights=weights,
        weights_match=match,
        waiting_gates=waiting,
        alerts=list(Alert.objects.filter(environment=environment, resolved_at=None).order_by("-created_at")[:10]),
        runs=list(ReconciliationRun.objects.filter(environment=environment).order_by("-window_start")[:RUNS_SHOWN]),
        open_findings=list(findings.order_by("-detected_at")[:FINDINGS_SHOWN]),
        open_findings_count=findings.count(),
        health=environment_health(environment=environment, snapshot=fresh.snapshot),
    )


# --- charts -------------------------------------------------------------------------------------


def _points(environment: Environment, metric: str, since: datetime) -> dict[str, list[TelemetryPoint]]:
    out: dict[str, list[TelemetryPoint]] = {}
    for p in selectors.telemetry_points(environment=environment, metric=metric, since=since):
        out.setdefault(p.series, []).append(p)
    return out


def _planned_share_history(environment: Environment, since: datetime, now: datetime) -> list[tuple[datetime, float]]:
    """The target region's planned share over time: the start split, then each approved step."""
    target = environment.target_region
    points: list[tuple[datetime, float]] = []
    executions = Execution.objects.filter(environment=environment).exclude(started_at=None).order_by("started_at")
    before = executions.filter(started_at__lt=since).last()
    current = planned_weights(environment=environment, execution=before)
    points.append((since, _share(current, target) or 0.0))
    for execution in executions.filter(started_at__gte=since):
        points.append((execution.started_at, 0.0))
    approved = (
        Gate.objects.filter(
            execution__environment=environment, status=Gate.Status.APPROVED, kind=Gate.KIND_STEP, decided_at__gte=since
        )
        .order_by("decided_at")
        .only("decided_at", "target_weights")
    )
    for g in approved:
        points.append((g.decided_at, _share({str(k): int(v) for k, v in g.target_weights.items()}, target) or 0.0))
    points.sort()
    return [p for p in points if p[0] <= now]


def dashboard_charts(*, environment: Environment, now: datetime | None = None) -> list[Chart]:
    now = now or timezone.now()
    since = now - timedelta(hours=float(settings.DASHBOARD_CHART_HOURS))
    src, tgt = environment.source_region, environment.target_region
    charts = []

    latency = _points(environment, TelemetryPoint.Metric.REPLICATION_LATENCY, since)
    series = []
    for i, (a, b) in enumerate(((src, tgt), (tgt, src))):
        pts = latency.get(direction_name(a, b), [])
        series.append(
            Series(f"{a}→{b} average", [(p.at, p.average) for p in pts if p.average is not None], f"s{2 * i + 1}")
        )
        series.append(
            Series(f"{a}→{b} maximum", [(p.at, p.maximum) for p in pts if p.maximum is not None], f"s{2 * i + 2}")
        )
    charts.append(
        line_chart(key="latency", title="Replication latency", unit="milliseconds", series=series, start=since, end=now)
    )

    # The current minute is still filling: leave it out rather than draw a false dip.
    tpm = {
        region: [p for p in pts if p.at + timedelta(seconds=60) <= now]
        for region, pts in _points(environment, TelemetryPoint.Metric.TRANSACTIONS, since).items()
    }
    charts.append(
        line_chart(
            key="tpm",
            title="Transactions per minute",
            unit="per minute, counted as Lambda invocations",
            series=[
                Series(region, [(p.at, p.value) for p in tpm.get(region, []) if p.value is not None], f"s{i * 2 + 1}")
                for i, region in enumerate((src, tgt))
            ],
            start=since,
            end=now,
        )
    )

    weights = _points(environment, TelemetryPoint.Metric.ROUTE53_WEIGHT, since)
    by_time: dict[datetime, dict[str, int]] = {}
    for region, pts in weights.items():
        for p in pts:
            by_time.setdefault(p.at, {})[region] = int(p.value or 0)
    actual = [(at, _share(w, tgt)) for at, w in sorted(by_time.items())]
    charts.append(
        line_chart(
            key="weights",
            title=f"Share of traffic to {tgt}",
            unit="percent",
            series=[
                Series("planned (approved steps)", _planned_share_history(environment, since, now), "s2", step=True),
                Series("actual (Route 53)", [(at, s) for at, s in actual if s is not None], "s1", step=True),
            ],
            start=since,
            end=now,
            y_max=100.0,
        )
    )
    return charts
