"""Gate evidence: every check against a deployed sandbox, healthy and broken the way reality breaks it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from controlplane.aws import cloudwatch, route53
from controlplane.aws.clients import client
from migrations_app import checks, services
from migrations_app.checks import CheckResult, CheckSpec, gate_blocking_checks, gate_evidence_collect
from migrations_app.models import GateCheck
from reconciliation.checks import register_gate_checks
from reconciliation.models import Finding
from tests.conftest import wait_for_gate

# Transactional: on_commit hooks (the Celery enqueues) fire as they do in production.
pytestmark = pytest.mark.django_db(transaction=True)

ALL_KEYS = [
    "replication_latency",
    "dns_ttl",
    "dlq_depth",
    "alarms",
    "bus_policy",
    "weight_drift",
    "stack_status",
    "open_findings",
]


@pytest.fixture(autouse=True)
def registry(monkeypatch):
    """Reconciliation's check registered (as its AppConfig does); tests' own checks do not leak."""
    monkeypatch.setattr(checks, "_registry", dict(checks._registry))
    register_gate_checks()


@pytest.fixture
def env(deployed_environment, settings):
    settings.GATE_TTL_SETTLE_SECONDS = 0
    return deployed_environment


@pytest.fixture
def first_gate(env, engineer):
    execution = services.execution_start(environment=env, actor=engineer)
    return wait_for_gate(env, execution)


def latency(env, *, sender: str, ms: float, minutes_ago: float = 2) -> None:
    """A ReplicationLatency datapoint as DynamoDB publishes it: in the sending region."""
    cloudwatch.metric_put(
        target=env.aws_target(sender),
        namespace="AWS/DynamoDB",
        metric="ReplicationLatency",
        dimensions={"TableName": f"{env.name}-transactions", "ReceivingRegion": env.peer_of(sender)},
        value=ms,
        unit="Milliseconds",
        timestamp=timezone.now() - timedelta(minutes=minutes_ago),
    )


@pytest.fixture
def healthy_gate(env, first_gate):
    latency(env, sender=env.source_region, ms=120)
    latency(env, sender=env.target_region, ms=130)
    return first_gate


def collect(gate) -> dict[str, GateCheck]:
    return {c.key: c for c in gate_evidence_collect(gate=gate)}


def blocking_keys(gate) -> list[str]:
    return [c.key for c in gate_blocking_checks(gate=gate)]


def weights(env) -> dict[str, int]:
    records = route53.weighted_records_list(
        target=env.aws_target(), hosted_zone_id=env.hosted_zone_id, name=env.record_name
    )
    return {r.set_identifier: r.weight for r in records}


# --- healthy --------------------------------------------------------------------------------------


def test_a_freshly_deployed_sandbox_passes_every_check(env, healthy_gate):
    found = collect(healthy_gate)
    assert list(found) == ALL_KEYS
    assert {k: c.verdict for k, c in found.items()} == dict.fromkeys(ALL_KEYS, "pass"), {
        k: c.value for k, c in found.items() if c.verdict != "pass"
    }
    assert all(c.hard for c in found.values())
    assert gate_blocking_checks(gate=healthy_gate) == []

    values = {k: c.value for k, c in found.items()}
    assert "120 ms us-east-1 → eu-central-1" in values["replication_latency"]
    assert "130 ms eu-central-1 → us-east-1" in values["replication_latency"]
    assert "limit 500 ms" in values["replication_latency"]
    assert values["dns_ttl"].startswith("TTL 60 s on us-east-1 and eu-central-1, in place since ")
    assert values["dlq_depth"].startswith("all 3 DLQs empty")
    assert f"{env.name}-cutover-gates-dlq (us-east-1)" in values["dlq_depth"]
    assert f"{env.name}-events-forwarding-dlq (eu-central-1)" in values["dlq_depth"]
    assert values["alarms"].startswith("10 alarms: 0 in ALARM")
    assert values["bus_policy"].startswith("both buses allow events:PutEvents")
    assert values["weight_drift"] == (
        "Route 53 has us-east-1 100 / eu-central-1 0, the initial split; no shift recorded yet"
    )
    assert values["stack_status"] == "all 9 stacks complete, none rolled back"
    assert values["open_findings"] == "no open reconciliation findings"

    latency_check = found["replication_latency"]
    assert latency_check.observed_at is not None
    assert timezone.now() - latency_check.observed_at < timedelta(minutes=5)
    assert latency_check.detail["table"] == f"{env.name}-transactions"

    # Collecting again updates the rows in place.
    collected_first = latency_check.collected_at
    again = collect(healthy_gate)
    assert GateCheck.objects.filter(gate=healthy_gate).count() == len(ALL_KEYS)
    assert again["replication_latency"].collected_at > collected_first


# --- a. replication latency -----------------------------------------------------------------------


def test_replication_latency_at_800_ms_fails(env, healthy_gate):
    latency(env, sender=env.target_region, ms=800, minutes_ago=1)
    check = collect(healthy_gate)["replication_latency"]
    assert check.verdict == "fail"
    assert "800 ms eu-central-1 → us-east-1" in check.value
    assert "at or above the 500 ms limit" in check.value
    assert blocking_keys(healthy_gate) == ["replication_latency"]


def test_no_latency_datapoints_is_unknown_not_pass(env, first_gate):
    check = collect(first_gate)["replication_latency"]
    assert check.verdict == "unknown"
    assert check.value.startswith("no ReplicationLatency datapoints in the last 15 minutes")
    assert check.observed_at is None

    # Older than the window does not count; one direction alone is not enough.
    latency(env, sender=env.source_region, ms=100, minutes_ago=20)
    latency(env, sender=env.source_region, ms=90)
    check = collect(first_gate)["replication_latency"]
    assert check.verdict == "unknown"
    assert "for eu-central-1 → us-east-1" in check.value
    assert "90 ms us-east-1 → eu-central-1" in check.value
    assert "replication_latency" in blocking_keys(first_gate)


# --- b. DNS TTL -----------------------------------------------------------------------------------


def test_ttl_must_be_in_place_24_hours_before_the_first_shift(env, healthy_gate, settings):
    settings.GATE_TTL_SETTLE_SECONDS = 86400
    check = collect(healthy_gate)["dns_ttl"]
    assert check.verdict == "fail"
    assert "the first shift needs it in place ≥ 24 h" in check.value
    assert "to go" in check.value
    assert check.detail["first_shift"] is True
    assert blocking_keys(healthy_gate) == ["dns_ttl"]


def test_after_the_first_shift_the_settle_rule_no_longer_applies_and_weights_follow_ssm(
    env, healthy_gate, approver1, settings
):
    collect(healthy_gate)  # with the latency datapoints put after intake collected
    services.gate_approve(gate=healthy_gate, actor=approver1)
    second = wait_for_gate(env, healthy_gate.execution)
    assert second.step == 2
    settings.GATE_TTL_SETTLE_SECONDS = 86400
    found = collect(second)
    assert found["dns_ttl"].verdict == "pass", found["dns_ttl"].value
    assert found["dns_ttl"].detail["first_shift"] is False
    # The state machine shifted to 90/10 and recorded it in SSM under Gate1.
    assert found["weight_drift"].verdict == "pass", found["weight_drift"].value
    assert found["weight_drift"].value.startswith(
        "Route 53 has us-east-1 90 / eu-central-1 10, as the state machine last recorded (Gate1, "
    )
    # A hand edit after a recorded shift shows both sets of numbers.
    route53.weighted_records_upsert(
        target=env.aws_target(),
        hosted_zone_id=env.hosted_zone_id,
        name=env.record_name,
        record_type="CNAME",
        ttl=60,
        records={"us-east-1": (70, env.source_endpoint), "eu-central-1": (30, env.target_endpoint)},
    )
    check = collect(second)["weight_drift"]
    assert check.verdict == "fail"
    assert check.value.startswith(
        "drift: Route 53 has us-east-1 70 / eu-central-1 30, the state machine last recorded 90 / 10 (Gate1, "
    )
    assert check.value.endswith(" — someone changed the records by hand")


def test_a_ttl_other_than_60_fails(env, healthy_gate, settings):
    settings.GATE_TTL_SETTLE_SECONDS = 86400
    route53.weighted_records_upsert(
        target=env.aws_target(),
        hosted_zone_id=env.hosted_zone_id,
        name=env.record_name,
        record_type="CNAME",
        ttl=300,
        records={"eu-central-1": (0, env.target_endpoint)},
    )
    check = collect(healthy_gate)["dns_ttl"]
    assert check.verdict == "fail"
    assert check.value == "TTL 300 s on eu-central-1: set it to 60 s ≥ 24 h before shifting"


# --- c. DLQ depth ---------------------------------------------------------------------------------


def test_a_message_in_a_forwarding_dlq_fails_naming_the_queue(env, healthy_gate):
    from migrations_app.deployments import outputs_known

    url = outputs_known(environment=env)["regional-target"]["ForwardingDlqUrl"]
    client("sqs", env.aws_target(env.target_region)).send_message(QueueUrl=url, MessageBody='{"detail": {}}')
    check = collect(healthy_gate)["dlq_depth"]
    assert check.verdict == "fail"
    assert check.value.startswith(f"1 message in {env.name}-events-forwarding-dlq (eu-central-1, forwarding DLQ)")
    assert blocking_keys(healthy_gate) == ["dlq_depth"]


def test_an_aws_error_in_one_check_makes_it_unknown_and_the_others_still_collect(env, healthy_gate):
    from migrations_app.deployments import outputs_known

    url = outputs_known(environment=env)["orchestration"]["GateDlqUrl"]
    client("sqs", env.aws_target()).delete_queue(QueueUrl=url)
    found = collect(healthy_gate)
    assert found["dlq_depth"].verdict == "unknown"
    assert found["dlq_depth"].value.startswith("could not read AWS (sqs.GetQueueAttributes): ")
    assert found["dlq_depth"].detail["error"]["code"]
    assert {k: c.verdict for k, c in found.items() if k != "dlq_depth"} == dict.fromkeys(
        [k for k in ALL_KEYS if k != "dlq_depth"], "pass"
    )
    assert blocking_keys(healthy_gate) == ["dlq_depth"]


# --- d. alarms ------------------------------------------------------------------------------------


def test_an_alarm_in_alarm_fails_naming_it(env, healthy_gate):
    name = f"{env.name}-transaction-errors-eu-central-1"
    client("cloudwatch", env.aws_target(env.target_region)).set_alarm_state(
        AlarmName=name, StateValue="ALARM", StateReason="Threshold crossed: 12 errors"
    )
    client("cloudwatch", env.aws_target(env.source_region)).set_alarm_state(
        AlarmName=f"{env.name}-cutover-oldest-gate-age", StateValue="INSUFFICIENT_DATA", StateReason="no data"
    )
    check = collect(healthy_gate)["alarms"]
    assert check.verdict == "fail"
    assert check.value.startswith("10 alarms: 1 in ALARM, 1 with insufficient data. In ALARM: ")
    assert f"{name} (eu-central-1, since " in check.value
    assert blocking_keys(healthy_gate) == ["alarms"]


def test_insufficient_data_alone_is_not_a_failure(env, healthy_gate):
    client("cloudwatch", env.aws_target(env.source_region)).set_alarm_state(
        AlarmName=f"{env.name}-cutover-oldest-gate-age", StateValue="INSUFFICIENT_DATA", StateReason="no data"
    )
    check = collect(healthy_gate)["alarms"]
    assert check.verdict == "pass"
    assert check.value == "10 alarms: 0 in ALARM, 1 with insufficient data (not a failure: no data reported yet)"


# --- e. bus policy --------------------------------------------------------------------------------


def test_a_bus_without_its_policy_fails(env, healthy_gate):
    bus = f"{env.name}-cutover-bus"
    client("events", env.aws_target(env.target_region)).remove_permission(EventBusName=bus, RemoveAllPermissions=True)
    check = collect(healthy_gate)["bus_policy"]
    assert check.verdict == "fail"
    assert check.value == (
        f"{bus} (eu-central-1) has no resource policy: the peer region's forwarding rule cannot deliver"
    )
    assert blocking_keys(healthy_gate) == ["bus_policy"]


# --- f. weight drift ------------------------------------------------------------------------------


def test_a_manual_weight_change_is_drift_with_both_sets_of_numbers(env, healthy_gate):
    route53.weighted_records_upsert(
        target=env.aws_target(),
        hosted_zone_id=env.hosted_zone_id,
        name=env.record_name,
        record_type="CNAME",
        ttl=60,
        records={"us-east-1": (70, env.source_endpoint), "eu-central-1": (30, env.target_endpoint)},
    )
    assert weights(env) == {"us-east-1": 70, "eu-central-1": 30}
    check = collect(healthy_gate)["weight_drift"]
    assert check.verdict == "fail"
    assert check.value == (
        "drift: Route 53 has us-east-1 70 / eu-central-1 30, the plan starts from 100 / 0 and no shift is "
        "recorded yet — someone changed the records by hand"
    )
    assert check.detail["actual"] == {"us-east-1": 70, "eu-central-1": 30}
    assert check.detail["expected"] == {"us-east-1": 100, "eu-central-1": 0}
    assert blocking_keys(healthy_gate) == ["weight_drift"]


# --- g. stack status ------------------------------------------------------------------------------


def test_a_deleted_stack_fails_naming_it(env, healthy_gate):
    client("cloudformation", env.aws_target(env.target_region)).delete_stack(StackName=f"{env.name}-storage-target")
    check = collect(healthy_gate)["stack_status"]
    assert check.verdict == "fail"
    assert check.value == f"1 of 9 stacks not healthy: {env.name}-storage-target (eu-central-1) missing"
    assert "stack_status" in blocking_keys(healthy_gate)


# --- open findings (reconciliation) ---------------------------------------------------------------


def test_open_findings_block_until_resolved(env, healthy_gate, approver1):
    duplicate = Finding.objects.create(
        environment=env, kind=Finding.Kind.DUPLICATE_DEBIT, summary="idempotency key k1 debited twice"
    )
    missing = Finding.objects.create(
        environment=env,
        kind=Finding.Kind.MISSING_IN_REGION,
        status=Finding.Status.ACKNOWLEDGED,
        summary="t-42 missing in eu-central-1",
    )
    check = collect(healthy_gate)["open_findings"]
    assert check.verdict == "fail"
    assert check.value == (
        "2 open findings (1 duplicate debit, 1 missing in a region); 1 of them acknowledged but not resolved"
    )
    assert blocking_keys(healthy_gate) == ["open_findings"]

    Finding.objects.filter(pk__in=[duplicate.pk, missing.pk]).update(
        status=Finding.Status.RESOLVED, resolved_by=approver1, resolved_at=timezone.now()
    )
    check = collect(healthy_gate)["open_findings"]
    assert check.verdict == "pass"
    assert check.value == "no open reconciliation findings"
    assert blocking_keys(healthy_gate) == []


# --- the registry and blocking ----------------------------------------------------------------


def test_uncollected_hard_checks_block(env, first_gate):
    GateCheck.objects.filter(gate=first_gate).delete()  # intake queued a collection already
    blocking = gate_blocking_checks(gate=first_gate)
    assert [c.key for c in blocking] == ALL_KEYS
    assert {c.verdict for c in blocking} == {"unknown"}
    assert {c.value for c in blocking} == {"not collected yet"}


def test_soft_checks_never_block_and_a_bug_in_a_check_propagates(env, healthy_gate):
    def soft(environment, gate):
        return CheckResult("fail", "advisory only")

    checks.check_register(CheckSpec("advisory", "Advisory", False, soft, 5))
    checks.check_register(CheckSpec("advisory", "Advisory", False, soft, 5))  # idempotent by key
    assert [s.key for s in checks.checks_registered()].count("advisory") == 1
    found = collect(healthy_gate)
    assert found["advisory"].verdict == "fail"
    assert blocking_keys(healthy_gate) == []

    def broken(environment, gate):
        raise ZeroDivisionError("a bug")

    checks.check_register(CheckSpec("broken", "Broken", True, broken, 99))
    with pytest.raises(ZeroDivisionError):
        gate_evidence_collect(gate=healthy_gate)
