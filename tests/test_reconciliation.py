"""The reconciliation job against the sandbox: both regions' ledgers are written by hand (no
replication runs), so each test decides exactly what each region holds."""

from __future__ import annotations

from datetime import timedelta

import pytest
from botocore.stub import Stubber
from django.core import mail
from django.core.management import CommandError, call_command
from django.utils import timezone

from audit.models import AuditEvent
from controlplane.aws.clients import client
from migrations_app.errors import CutoverError
from migrations_app.models import Alert, TelemetrySnapshot
from reconciliation import selectors, services
from reconciliation.models import Finding, ReconciliationRun, WindowCount
from reconciliation.tasks import reconciliation_cycle_task
from sandbox import ledger_fixture
from tests.conftest import replication_latency_put
from tests.reconciliation_helpers import Ledger, activate, closed_window

Run = ReconciliationRun.Status
W = 60


@pytest.fixture(autouse=True)
def small_windows(settings):
    settings.RECONCILIATION_WINDOW_SECONDS = W
    settings.RECONCILIATION_BUCKETS = 8
    settings.RECONCILIATION_GRACE_FLOOR_SECONDS = 5
    settings.RECONCILIATION_GRACE_LAG_FACTOR = 5


@pytest.fixture
def ledger(empty_environment):
    replication_latency_put(empty_environment, 120.0)
    return Ledger(empty_environment)


def _window(ledger, *, closed_for: float = 120.0):
    start = closed_window(closed_for=closed_for)
    return start, start + timedelta(seconds=W)


def _items(ledger, start, n, **fields):
    return [
        ledger.item(created_at=start + timedelta(seconds=1 + i * 0.5), origin=(ledger.a, ledger.b)[i % 2], **fields)
        for i in range(n)
    ]


def _shard(item) -> int:
    return int(item["timeBucketShard"].rsplit("#", 1)[1])


def test_identical_regions_are_clean_and_counted(ledger):
    start, _ = _window(ledger)
    items = _items(ledger, start, 12)
    ledger.hold(ledger.a, items)
    ledger.hold(ledger.b, items)

    run = services.reconciliation_window_run(environment=ledger.environment, window_start=start)

    assert run.status == Run.CLEAN, run.error
    assert (run.buckets_compared, run.buckets_mismatched, run.keys_read) == (8, 0, 0)
    assert run.counts[ledger.a]["count"] == run.counts[ledger.b]["count"] == 12
    assert run.read_units > 0  # ReturnConsumedCapacity of the two aggregate queries
    assert not Finding.objects.exists()
    counts = {c.region: c for c in WindowCount.objects.filter(run=run)}
    assert (counts[ledger.a].stored, counts[ledger.a].processed, counts[ledger.a].replicated_in) == (12, 6, 6)
    assert counts[ledger.b].amount_sum == 12 * 1250


def test_each_fault_is_detected_and_classified(ledger, engineer, django_capture_on_commit_callbacks):
    start, _ = _window(ledger)
    env = ledger.environment
    lost = ledger.item(created_at=start + timedelta(seconds=10))  # never reached the target region
    v1 = ledger.item(created_at=start + timedelta(seconds=11))
    v2 = {**v1, "version": 2, "amount": 9900}  # an update that last-writer-wins lost in one region
    first = ledger.item(created_at=start + timedelta(seconds=12), idempotency_key="pay-42", origin=ledger.a)
    second = ledger.item(created_at=start + timedelta(seconds=12.2), idempotency_key="pay-42", origin=ledger.b)
    busy = {_shard(x) for x in (lost, v1, second)}
    common = _items(ledger, start, 6)
    while all(_shard(c) in busy for c in common):
        common += _items(ledger, start, 1)
    ledger.hold(ledger.a, [*common, lost, v1, first])
    ledger.hold(ledger.b, [*common, v2, first, second])  # second has not reached the source region
    # The target's consumer counted one item twice in a bucket where the items agree.
    shard = next(_shard(c) for c in common if _shard(c) not in busy)
    rows = ledger_fixture.aggregates_for([*common, v2, first, second], region=ledger.b, buckets=8)
    bad = next(r for r in rows if r["bucket"] == str(shard))
    ledger.aggregates(ledger.b, [{**bad, "count": bad["count"] + 1}])

    with django_capture_on_commit_callbacks(execute=True):
        run = services.reconciliation_window_run(environment=env, window_start=start)

    assert run.status == Run.FINDINGS, run.error
    found = {(f.kind, tuple(f.transaction_ids)) for f in Finding.objects.filter(environment=env)}
    assert found == {
        (Finding.Kind.MISSING_IN_REGION, (lost["transactionId"],)),
        (Finding.Kind.MISSING_IN_REGION, (second["transactionId"],)),
        (Finding.Kind.CONFLICTING_VERSIONS, (v1["transactionId"],)),
        (Finding.Kind.DUPLICATE_DEBIT, tuple(sorted([first["transactionId"], second["transactionId"]]))),
        (Finding.Kind.COUNT_MISMATCH, ()),
    }
    duplicate = Finding.objects.get(kind=Finding.Kind.DUPLICATE_DEBIT)
    assert duplicate.regions == sorted([ledger.a, ledger.b])
    assert "pay-42" in duplicate.summary
    missing = Finding.objects.get(transaction_ids=[lost["transactionId"]])
    assert missing.detail["missing_in"] == ledger.b
    assert run.buckets_mismatched == len(busy | {shard})
    # Reads grow with the mismatched buckets, not the window: keys of those buckets only.
    assert run.keys_read < 2 * (len(common) + 4) + 4
    # Alerted on creation: a banner per finding, e-mail to the engineers; audited as detected.
    assert Alert.objects.filter(environment=env, resolved_at=None, kind__startswith="reconciliation_").count() == 5
    assert Alert.objects.get(subject_id=str(duplicate.pk)).level == Alert.Level.CRITICAL
    assert any("engineer@example.com" in m.to for m in mail.outbox)
    assert AuditEvent.objects.filter(event_type="finding.detected").count() == 5
    stored = {c.region: c.stored for c in WindowCount.objects.filter(run=run)}
    assert stored == {ledger.a: len(common) + 3, ledger.b: len(common) + 3 + 1}  # + the miscount

    # Re-running the window gives the same result and no second finding or alert.
    with django_capture_on_commit_callbacks(execute=True):
        again = services.reconciliation_window_run(environment=env, window_start=start, force=True)
    assert (again.status, again.attempt, again.buckets_mismatched) == (Run.FINDINGS, 2, run.buckets_mismatched)
    assert Finding.objects.filter(environment=env).count() == 5
    assert Alert.objects.filter(environment=env).count() == 5
    # A finished window is not taken again unless forced.
    assert services.reconciliation_window_run(environment=env, window_start=start) is None


def test_a_replicated_duplicate_debit_is_found_from_the_consumers_signal(ledger):
    env = ledger.environment
    start, _ = _window(ledger)
    first = ledger.item(created_at=start + timedelta(seconds=3), idempotency_key="pay-7", origin=ledger.a)
    second = ledger.item(created_at=start + timedelta(seconds=3.18), idempotency_key="pay-7", origin=ledger.b)
    items = [*_items(ledger, start, 4), first, second]
    ledger.hold(ledger.a, items)
    ledger.hold(ledger.b, items)  # both replicated: every bucket agrees

    assert services.reconciliation_window_run(environment=env, window_start=start).status == Run.CLEAN

    # The source's consumer saw its marker idem#pay-7 replaced by the target's (last writer wins).
    ids = sorted([first["transactionId"], second["transactionId"]])
    pair = {"windowId": f"dup#{selectors.window_id(start)}", "bucket": "pay-7", "updatedAt": "x"}
    client("dynamodb", env.aws_target(ledger.a)).put_item(
        TableName=f"{env.name}-aggregates",
        Item={**{k: {"S": v} for k, v in pair.items()}, "transactionIds": {"SS": ids}},
    )
    run = services.reconciliation_window_run(environment=env, window_start=start, force=True)

    assert (run.status, run.buckets_mismatched) == (Run.FINDINGS, 0)
    (finding,) = Finding.objects.filter(environment=env)
    assert (finding.kind, finding.transaction_ids, finding.regions) == (
        Finding.Kind.DUPLICATE_DEBIT,
        ids,
        sorted([ledger.a, ledger.b]),
    )


def test_lag_without_faults_is_rechecked_then_clean(ledger):
    env = ledger.environment
    replication_latency_put(env, 30_000.0)  # a 30 s spike: writes of the last 150 s may be in flight
    start, end = _window(ledger, closed_for=0)
    items = _items(ledger, start, 4)
    late = ledger.item(created_at=end - timedelta(seconds=1))
    ledger.hold(ledger.a, [*items, late])
    ledger.hold(ledger.b, items)  # the late write is still replicating

    run = services.reconciliation_window_run(environment=env, window_start=start, force=True)

    assert run.status == Run.RECHECK, run.error
    assert [s["transaction_ids"] for s in run.detail["suspects"]] == [[late["transactionId"]]]
    assert not Finding.objects.exists()

    ledger.hold(ledger.b, [*items, late])  # replication lands
    again = services.reconciliation_window_run(environment=env, window_start=start)  # RECHECK is due again

    assert again.status == Run.CLEAN
    assert again.attempt == 2
    assert not Finding.objects.exists()


def test_the_cycle_reconciles_due_windows_of_active_environments_only(ledger, engineer, settings):
    env = ledger.environment
    start, _ = _window(ledger, closed_for=2 * W)
    ledger.hold(ledger.a, _items(ledger, start, 3))
    ledger.hold(ledger.b, _items(ledger, start, 0))

    assert services.reconciliation_cycle(environment=env).runs == []  # no weight shift yet

    activate(env, engineer, shifted_at=start + timedelta(seconds=1))
    report = services.reconciliation_cycle(environment=env)

    windows = [r.window_start for r in report.runs]
    assert windows[0] == start and len(windows) >= 2  # the shift's window and each closed one after
    assert ReconciliationRun.objects.get(window_start=start).status == Run.FINDINGS
    assert all(r.status == Run.CLEAN for r in report.runs[1:])
    # The next beat tick finds nothing left to do.
    assert settings.CELERY_BEAT_SCHEDULE["reconciliation"]["task"] == "reconciliation.tasks.reconciliation_cycle_task"
    assert reconciliation_cycle_task.delay().get()["runs"] == 0


def test_a_run_that_died_is_resumed(ledger, engineer):
    env = ledger.environment
    start, end = _window(ledger)
    items = _items(ledger, start, 3)
    ledger.hold(ledger.a, items)
    ledger.hold(ledger.b, items)
    activate(env, engineer, shifted_at=start + timedelta(seconds=1))
    dead = ReconciliationRun.objects.create(
        environment=env,
        window_start=start,
        window_end=end,
        region_a=env.source_region,
        region_b=env.target_region,
        lease_until=start,  # long expired: its worker died
    )
    held = ReconciliationRun.objects.create(
        environment=env,
        window_start=start + timedelta(seconds=W),
        window_end=end + timedelta(seconds=W),
        region_a=env.source_region,
        region_b=env.target_region,
        lease_until=end + timedelta(hours=1),  # another worker is on it
    )

    report = services.reconciliation_cycle(environment=env)

    dead.refresh_from_db()
    assert (dead.status, dead.attempt) == (Run.CLEAN, 2)
    assert held.pk not in [r.pk for r in report.runs]
    held.refresh_from_db()
    assert held.status == Run.RUNNING


def test_an_aws_error_fails_the_run_and_the_next_cycle_retries(ledger, engineer):
    env = ledger.environment
    start, _ = _window(ledger)
    items = _items(ledger, start, 2)
    ledger.hold(ledger.a, items)
    ledger.hold(ledger.b, items)
    activate(env, engineer, shifted_at=start + timedelta(seconds=1))
    lag = selectors.Lag(current=0.1)
    ddb = client("dynamodb", env.aws_target(env.source_region))
    with Stubber(ddb) as stub:
        stub.add_client_error(
            "query", service_error_code="ProvisionedThroughputExceededException", http_status_code=400
        )
        run = services.reconciliation_window_run(environment=env, window_start=start, lag=lag)

    assert run.status == Run.FAILED
    assert "ProvisionedThroughputExceededException" in run.error

    report = services.reconciliation_cycle(environment=env)
    run.refresh_from_db()
    assert run.pk in [r.pk for r in report.runs]
    assert (run.status, run.attempt, run.error) == (Run.CLEAN, 2, "")


def test_reconcile_command_reruns_a_window_and_prints_findings(ledger, capsys):
    env = ledger.environment
    start, _ = _window(ledger)
    lost = ledger.item(created_at=start + timedelta(seconds=3))
    ledger.hold(ledger.a, [lost])
    ledger.hold(ledger.b, [])

    call_command("reconcile", env.name, "--window", start.isoformat())
    call_command("reconcile", env.name, "--window", selectors.window_id(start))

    out = capsys.readouterr().out
    assert out.count(f"missing in {ledger.b}") == 2
    assert lost["transactionId"] in out
    assert Finding.objects.filter(environment=env).count() == 1
    assert ReconciliationRun.objects.get(environment=env, window_start=start).attempt == 2

    call_command("reconcile", env.name, "--since", (start - timedelta(seconds=W)).isoformat())
    out = capsys.readouterr().out
    assert f"{selectors.window_id(start - timedelta(seconds=W))} clean" in out
    assert Finding.objects.filter(environment=env).count() == 1

    with pytest.raises(CommandError, match="not the start of a reconciliation window"):
        call_command("reconcile", env.name, "--window", (start + timedelta(seconds=7)).isoformat())
    with pytest.raises(CommandError, match="not an ISO 8601 time"):
        call_command("reconcile", env.name, "--since", "yesterday")
    with pytest.raises(CommandError, match="no environment"):
        call_command("reconcile", "nope", "--window", start.isoformat())


def test_a_misaligned_window_is_refused(ledger):
    with pytest.raises(CutoverError, match="not the start"):
        services.reconciliation_window_run(
            environment=ledger.environment, window_start=closed_window() + timedelta(seconds=1)
        )


def test_the_grace_follows_the_replication_lag_with_the_telemetry_snapshot_as_fallback(ledger):
    env = ledger.environment
    now = timezone.now()
    replication_latency_put(env, 4_000.0)
    lag = selectors.replication_lag(environment=env, since=now - timedelta(minutes=5), now=now)
    assert (lag.source, lag.current) == ("cloudwatch", 4.0)
    assert selectors.grace_seconds(lag) == 20.0  # 5 x 4 s, above the 5 s floor

    TelemetrySnapshot.objects.create(
        environment=env,
        slot=1,
        status=TelemetrySnapshot.Status.COMPLETE,
        collected_at=now,
        payload={"replication_latency": {"directions": [{"latest_maximum_ms": 300.0}, {"latest_maximum_ms": 900.0}]}},
    )
    watch = client("cloudwatch", env.aws_target(env.source_region))
    with Stubber(watch) as stub:
        stub.add_client_error("get_metric_statistics", service_error_code="Throttling", http_status_code=400)
        lag = selectors.replication_lag(environment=env, since=now - timedelta(minutes=5), now=now)
    assert (lag.source, lag.current) == ("telemetry snapshot", 0.9)
    assert "Throttling" in lag.error
    assert selectors.grace_seconds(lag) == 5.0  # the floor: 5 x 0.9 s is less
