"""The telemetry collector against the sandbox moto server: what it stores, failing sources,
overlapping ticks, retention."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from controlplane.aws import AwsError, cloudwatch, route53
from migrations_app import selectors, telemetry
from migrations_app.models import TelemetryPoint, TelemetrySnapshot
from migrations_app.tasks import telemetry_collect_all_task

pytestmark = pytest.mark.django_db(transaction=True)


def _transactions_put(environment, region: str, invocations: float, *, at) -> None:
    """What Lambda publishes: Invocations of the transaction function, per minute."""
    from migrations_app.deployments import outputs_known

    role = "source" if region == environment.source_region else "target"
    arn = outputs_known(environment=environment)[f"regional-{role}"]["TransactionFunctionArn"]
    cloudwatch.metric_put(
        target=environment.aws_target(region),
        namespace="AWS/Lambda",
        metric="Invocations",
        dimensions={"FunctionName": arn.split(":")[6]},
        value=invocations,
        unit="Count",
        timestamp=at,
    )


def test_collector_stores_every_source_from_the_sandbox(environment):
    minute = (timezone.now() - timedelta(minutes=1)).replace(second=0, microsecond=0)
    _transactions_put(environment, environment.source_region, 1200, at=minute)
    _transactions_put(environment, environment.target_region, 300, at=minute)
    _transactions_put(environment, environment.target_region, 999, at=minute - timedelta(minutes=3))

    # Collected 30 s into the next minute: the minute above is the last complete one.
    snapshot = telemetry.telemetry_collect(environment=environment, now=minute + timedelta(seconds=90))

    assert snapshot.status == TelemetrySnapshot.Status.COMPLETE, snapshot.sources
    assert set(snapshot.sources) == {s.key for s in telemetry.SOURCES}
    assert snapshot.collected_at is not None and snapshot.duration_ms is not None
    payload = snapshot.payload
    # Route 53 as the sandbox holds it: all traffic still on the source region.
    assert payload["route53_weights"]["weights"] == {environment.source_region: 100, environment.target_region: 0}
    # The 120 ms the fixture published, both directions, average and maximum.
    directions = {(d["from"], d["to"]): d for d in payload["replication_latency"]["directions"]}
    assert directions[(environment.source_region, environment.target_region)]["latest_maximum_ms"] == 120.0
    assert directions[(environment.target_region, environment.source_region)]["latest_average_ms"] == 120.0
    per_region = {r["region"]: r for r in payload["transactions"]["regions"]}
    assert per_region[environment.source_region]["per_minute"] == 1200
    assert per_region[environment.target_region]["per_minute"] == 300
    assert per_region[environment.source_region]["minute"] == minute.isoformat()
    assert {q["messages"] for q in payload["dlq_depths"]["queues"]} == {0}
    assert len(payload["dlq_depths"]["queues"]) == 3
    assert payload["alarms"]["alarms"] and all(a["state"] for a in payload["alarms"]["alarms"])
    assert all(
        s["status"] == "CREATE_COMPLETE" or s["status"].endswith("_COMPLETE") for s in payload["stacks"]["stacks"]
    )
    assert payload["executions"] == {"executions": []}
    # Chart points for the history.
    metrics = set(TelemetryPoint.objects.filter(environment=environment).values_list("metric", "series"))
    assert (TelemetryPoint.Metric.ROUTE53_WEIGHT, environment.target_region) in metrics
    assert (
        TelemetryPoint.Metric.REPLICATION_LATENCY,
        telemetry.direction_name(environment.source_region, environment.target_region),
    ) in metrics
    assert (TelemetryPoint.Metric.TRANSACTIONS, environment.source_region) in metrics
    assert selectors.latest_snapshot(environment) == snapshot


def test_a_minute_without_invocations_reads_zero_not_an_older_minute(environment):
    minute = (timezone.now() - timedelta(minutes=1)).replace(second=0, microsecond=0)
    _transactions_put(environment, environment.source_region, 500, at=minute - timedelta(minutes=2))
    snapshot = telemetry.telemetry_collect(environment=environment, now=minute + timedelta(seconds=90))
    per_region = {r["region"]: r for r in snapshot.payload["transactions"]["regions"]}
    assert per_region[environment.source_region]["per_minute"] == 0
    # The older minute is still a chart point.
    assert TelemetryPoint.objects.filter(
        environment=environment, metric=TelemetryPoint.Metric.TRANSACTIONS, value=500
    ).exists()


def test_a_failing_source_records_its_error_and_the_rest_are_stored(environment, monkeypatch):
    def throttled(**kwargs):
        raise AwsError("Rate exceeded", code="Throttling", permanent=False, service="route53", operation="List")

    monkeypatch.setattr(route53, "weighted_records_list", throttled)

    snapshot = telemetry.telemetry_collect(environment=environment)

    assert snapshot.status == TelemetrySnapshot.Status.PARTIAL
    failed = snapshot.sources["route53_weights"]
    assert failed["status"] == "error"
    assert failed["code"] == "Throttling"
    assert "Rate exceeded" in failed["error"]
    assert "route53_weights" not in snapshot.payload
    assert snapshot.sources["dlq_depths"]["status"] == "ok"
    assert snapshot.payload["replication_latency"]["directions"]


def test_an_undeployed_environment_says_what_is_missing(empty_environment):
    snapshot = telemetry.telemetry_collect(environment=empty_environment)
    assert snapshot.sources["route53_weights"] == {
        "status": "unavailable",
        "error": "the environment has no hosted zone id yet",
        "duration_ms": snapshot.sources["route53_weights"]["duration_ms"],
        "last_good_snapshot": None,  # the first snapshot: no good reading before it
    }
    assert snapshot.sources["stacks"]["status"] == "unavailable"
    # Alarms are read by name prefix: none yet, and that is an answer, not an error.
    assert snapshot.payload["alarms"] == {"alarms": []}
    assert "not deployed" in snapshot.sources["dlq_depths"]["error"]
    assert snapshot.status == TelemetrySnapshot.Status.PARTIAL


def test_an_unreachable_endpoint_fails_every_aws_source_and_still_stores(environment, settings):
    from controlplane.aws import clients

    settings.AWS_MAX_ATTEMPTS = 1
    settings.AWS_CONNECT_TIMEOUT = 0.5
    clients.clear_cache()
    environment.aws_endpoint_url = "http://127.0.0.1:9"  # discard port: nothing listens
    environment.save(update_fields=["aws_endpoint_url"])
    try:
        snapshot = telemetry.telemetry_collect(environment=environment)
    finally:
        clients.clear_cache()
    # Every source that reads AWS failed (no execution to describe: that one has nothing to ask).
    failed = {k for k, s in snapshot.sources.items() if s["status"] == "error"}
    assert failed == {s.key for s in telemetry.SOURCES} - {"executions"}
    assert snapshot.status == TelemetrySnapshot.Status.PARTIAL
    assert snapshot.payload == {"executions": {"executions": []}}
    assert snapshot.sources["route53_weights"]["code"] == "Unreachable"
    assert selectors.latest_snapshot(environment) == snapshot


def test_a_second_tick_in_the_same_slot_is_skipped(empty_environment):
    # Another worker (or an overlapping beat tick) holds this slot already.
    now = timezone.now()
    TelemetrySnapshot.objects.create(environment=empty_environment, slot=telemetry.telemetry_slot(now))
    assert telemetry.telemetry_collect(environment=empty_environment, now=now) is None
    assert TelemetrySnapshot.objects.filter(environment=empty_environment).count() == 1
    assert selectors.latest_snapshot(empty_environment) is None  # a claimed, unfinished row is not shown


def test_re_reading_cloudwatch_does_not_duplicate_points(environment):
    telemetry.telemetry_collect(environment=environment)
    before = TelemetryPoint.objects.filter(
        environment=environment, metric=TelemetryPoint.Metric.REPLICATION_LATENCY
    ).count()
    TelemetrySnapshot.objects.filter(environment=environment).update(slot=0)  # free the slot
    telemetry.telemetry_collect(environment=environment)
    after = TelemetryPoint.objects.filter(environment=environment, metric=TelemetryPoint.Metric.REPLICATION_LATENCY)
    assert after.count() == before
    # Because windows are aligned to the minute: two cycles in one minute ask for the same buckets.
    minute = timezone.now().replace(second=0, microsecond=0)
    first = telemetry.replication_latency_read(environment, minute + timedelta(seconds=5))
    second = telemetry.replication_latency_read(environment, minute + timedelta(seconds=50))
    assert first.points
    assert {(p.series, p.at) for p in first.points} == {(p.series, p.at) for p in second.points}
    assert all(p.at.second == 0 and p.at.microsecond == 0 for p in first.points)


def test_the_beat_task_collects_and_prunes_old_history(empty_environment, settings):
    environment = empty_environment
    settings.TELEMETRY_RETENTION_HOURS = 1
    old = timezone.now() - timedelta(hours=2)
    TelemetrySnapshot.objects.create(environment=environment, slot=1, started_at=old, collected_at=old)
    TelemetryPoint.objects.create(
        environment=environment, metric=TelemetryPoint.Metric.ROUTE53_WEIGHT, series="x", at=old, value=1
    )

    totals = telemetry_collect_all_task()

    assert totals["collected"] == 1
    assert totals["pruned_snapshots"] == 1 and totals["pruned_points"] == 1
    assert TelemetrySnapshot.objects.filter(environment=environment).count() == 1
    assert not TelemetryPoint.objects.filter(series="x").exists()


def test_the_collector_is_in_the_beat_schedule(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["telemetry-collect"]
    assert entry["task"] == "migrations_app.tasks.telemetry_collect_all_task"
    assert entry["schedule"].total_seconds() == settings.TELEMETRY_INTERVAL_SECONDS


def test_staleness_is_three_intervals(empty_environment, settings):
    environment = empty_environment
    settings.TELEMETRY_INTERVAL_SECONDS = 30
    now = timezone.now()
    snap = TelemetrySnapshot(environment=environment, slot=5, collected_at=now - timedelta(seconds=89))
    assert not snap.is_stale(now)
    snap.collected_at = now - timedelta(seconds=91)
    assert snap.is_stale(now)
    assert TelemetrySnapshot(environment=environment, slot=6).is_stale(now)  # never finished


def test_a_failing_source_points_at_its_last_good_snapshot(empty_environment, django_assert_num_queries):
    """The collector records, for each failed source, the newest snapshot where it succeeded,
    so the dashboard reads that one row instead of searching two days of history per poll."""
    from controlplane.dashboard.selectors import _sources

    environment = empty_environment
    state = {"weights_ok": True}

    def weights(env, now):
        if not state["weights_ok"]:
            raise AwsError("Rate exceeded", code="Throttling", permanent=False, service="route53", operation="List")
        return telemetry.SourceResult({"weights": {"us-east-1": 90, "eu-central-1": 10}}, [])

    def never(env, now):
        raise telemetry.checks.EvidenceUnavailable("not deployed")

    def fine(env, now):
        return telemetry.SourceResult({}, [])

    sources = tuple(
        telemetry.Source(key, label, {"route53_weights": weights, "stacks": never}.get(key, fine))
        for key, label in telemetry.SOURCE_LABELS.items()
    )
    t0 = timezone.now()

    def collect(i: int) -> TelemetrySnapshot:
        return telemetry.telemetry_collect(environment=environment, sources=sources, now=t0 + timedelta(seconds=30 * i))

    good = collect(0)
    assert good.sources["stacks"]["last_good_snapshot"] is None  # never succeeded
    assert "last_good_snapshot" not in good.sources["route53_weights"]
    state["weights_ok"] = False
    first_bad, second_bad = collect(1), collect(2)
    assert first_bad.sources["route53_weights"]["last_good_snapshot"] == good.pk
    assert second_bad.sources["route53_weights"]["last_good_snapshot"] == good.pk  # carried forward
    assert second_bad.sources["stacks"]["last_good_snapshot"] is None

    with django_assert_num_queries(1):  # the pointed row; nothing for the source that never succeeded
        views = _sources(environment, second_bad, timezone.now())
    assert (
        views["route53_weights"].from_older_snapshot and views["route53_weights"].data["weights"]["eu-central-1"] == 10
    )
    assert views["stacks"].data is None and views["stacks"].status == "unavailable"

    # A snapshot from before the pointers existed: the collector searches once, the page too.
    TelemetrySnapshot.objects.filter(pk=second_bad.pk).update(
        sources={"route53_weights": {"status": "error", "error": "Rate exceeded"}, "stacks": {"status": "unavailable"}}
    )
    third_bad = collect(3)
    assert third_bad.sources["route53_weights"]["last_good_snapshot"] == good.pk
    second_bad.refresh_from_db()
    assert _sources(environment, second_bad, timezone.now())["route53_weights"].as_of == good.collected_at
