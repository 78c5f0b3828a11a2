"""The evidence shown on a gate: checks read from AWS (and the database), stored as GateCheck rows.

A check is a ``CheckSpec`` in a registry. This module registers the built-in ones; apps above
this one (reconciliation) register theirs from their AppConfig.ready, so migrations_app never
imports them. ``gate_evidence_collect`` runs every registered check and upserts one row per
key; pages and the approval rule read the rows, never AWS.

Each check says what it measured in words and numbers a compliance officer can read, with times
in UTC. An AWS error inside one check makes that check "unknown" and does not stop the others;
a missing stack output does the same. Anything else is a bug and propagates.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from controlplane.aws import AwsError, cloudformation, cloudwatch, events, route53, sqs, ssm
from migrations_app.deployments import outputs_known
from migrations_app.models import Environment, Gate, GateCheck, StackDeployment
from migrations_app.stacks import STACKS_BY_KEY

log = logging.getLogger(__name__)

Verdict = GateCheck.Verdict

# DESIGN.md "Gates" and issue 4: ReplicationLatency Maximum over the last 15 minutes must stay
# below 500 ms before traffic moves. Our threshold, not an AWS SLA (notes/aws-facts.md: MREC
# replication is typically well under a second, with no SLA).
REPLICATION_LATENCY_LIMIT_MS = 500
REPLICATION_LATENCY_WINDOW = timedelta(minutes=15)
REPLICATION_LATENCY_PERIOD_SECONDS = 60
# notes/aws-facts.md (Route 53): every record of a weighted set shares one TTL, <= 60 s
# recommended; DESIGN.md "Gates": TTL 60 s set at least 24 h (GATE_TTL_SETTLE_SECONDS) before the
# first weight shift, so answers cached under an older, longer TTL have expired.
REQUIRED_TTL_SECONDS = 60
DEFAULT_TTL_SETTLE_SECONDS = 24 * 3600
VALUE_MAX = 512  # GateCheck.value


@dataclass(frozen=True)
class CheckResult:
    verdict: str  # GateCheck.Verdict
    value: str
    detail: dict = field(default_factory=dict)
    observed_at: datetime | None = None


@dataclass(frozen=True)
class CheckSpec:
    key: str
    label: str
    hard: bool
    collect: Callable[[Environment, Gate], CheckResult]
    order: int


class EvidenceUnavailable(Exception):
    """What a check needs is not there (a stack not deployed yet): the verdict is unknown."""


_registry: dict[str, CheckSpec] = {}


def check_register(spec: CheckSpec) -> None:
    """Add a check, or replace the one with the same key (safe to call again)."""
    _registry[spec.key] = spec


def checks_registered() -> list[CheckSpec]:
    return sorted(_registry.values(), key=lambda s: (s.order, s.key))


# --- collecting -------------------------------------------------------------------------------


def _from_error(exc: AwsError) -> CheckResult:
    where = f"{exc.service}.{exc.operation}" if exc.service else "AWS"
    code = exc.code or "Error"
    return CheckResult(
        verdict=Verdict.UNKNOWN,
        value=f"could not read AWS ({where}): {code}: {exc.message[:200]}",
        detail={
            "error": {
                "code": exc.code,
                "message": exc.message[:1000],
                "service": exc.service,
                "operation": exc.operation,
                "permanent": exc.permanent,
            }
        },
    )


def gate_evidence_collect(*, gate: Gate) -> list[GateCheck]:
    """Run every registered check for the gate and store one GateCheck per key.

    AWS is read first, outside any transaction; the rows are then written together.
    Not audited: collecting is not a person's action.
    """
    gate = Gate.objects.select_related("execution__environment").get(pk=gate.pk)
    environment = gate.execution.environment
    results: list[tuple[CheckSpec, CheckResult]] = []
    for spec in checks_registered():
        try:
            result = spec.collect(environment, gate)
        except AwsError as exc:
            log.warning("gate %s check %s: %s", gate.pk, spec.key, exc)
            result = _from_error(exc)
        except EvidenceUnavailable as exc:
            result = CheckResult(verdict=Verdict.UNKNOWN, value=str(exc))
        results.append((spec, result))
    now = timezone.now()
    rows = []
    with transaction.atomic():
        for spec, result in results:
            row, _ = GateCheck.objects.update_or_create(
                gate=gate,
                key=spec.key,
                defaults={
                    "label": spec.label,
                    "hard": spec.hard,
                    "verdict": result.verdict,
                    "value": result.value[:VALUE_MAX],
                    "detail": result.detail,
                    "observed_at": result.observed_at,
                    "collected_at": now,
                },
            )
            rows.append(row)
    return rows


def gate_blocking_checks(*, gate: Gate) -> list[GateCheck]:
    """Hard checks whose verdict is not pass.

    A registered hard check never collected for this gate blocks too (an unsaved row, verdict
    unknown): no evidence is not a pass.
    """
    stored = {c.key: c for c in GateCheck.objects.filter(gate=gate)}
    blocking = [c for c in stored.values() if c.blocks]
    for spec in checks_registered():
        if spec.hard and spec.key not in stored:
            blocking.append(
                GateCheck(
                    gate=gate,
                    key=spec.key,
                    label=spec.label,
                    hard=True,
                    verdict=Verdict.UNKNOWN,
                    value="not collected yet",
                )
            )
    order = {s.key: s.order for s in checks_registered()}
    blocking.sort(key=lambda c: (order.get(c.key, 10_000), c.key))
    return blocking


# --- wording ------------------------------------------------------------------------------------


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _duration(seconds: float) -> str:
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    hours, minutes = divmod(s // 60, 60)
    if hours < 48:
        return f"{hours} h" if minutes == 0 else f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d" if hours == 0 else f"{days} d {hours} h"


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _output(known: dict[str, dict], stack_key: str, name: str) -> str:
    value = (known.get(stack_key) or {}).get(name)
    if not value:
        raise EvidenceUnavailable(f"the {stack_key} stack is not deployed (no {name} output), so this cannot be read")
    return value


def _queue_name(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def _weights_text(environment: Environment, weights: dict[str, int]) -> str:
    return f"{environment.source_region} {weights.get(environment.source_region, '-')} / " + (
        f"{environment.target_region} {weights.get(environment.target_region, '-')}"
    )


# --- a. replication latency ---------------------------------------------------------------------


def replication_latency_read(
    environment: Environment, *, start: datetime, end: datetime, period: int
) -> tuple[str, list[dict]]:
    """ReplicationLatency per direction between ``start`` and ``end``: the table name and, per
    direction, ``{"from", "to", "points": [Datapoint, ...]}`` (Average, Maximum, SampleCount).

    Shared by the gate check and the dashboard's telemetry collector.
    """
    table = _output(outputs_known(environment=environment), "data", "TransactionsTableName")
    out = []
    for sender in (environment.source_region, environment.target_region):
        receiver = environment.peer_of(sender)
        # Published by the sending region, per receiving region (notes/aws-facts.md).
        points = cloudwatch.metric_statistics(
            target=environment.aws_target(sender),
            namespace="AWS/DynamoDB",
            metric="ReplicationLatency",
            dimensions={"TableName": table, "ReceivingRegion": receiver},
            start=start,
            end=end,
            period=period,
            statistics=["Average", "Maximum", "SampleCount"],
        )
        out.append({"from": sender, "to": receiver, "points": [p for p in points if p.maximum is not None]})
    return table, out


def replication_latency_collect(environment: Environment, gate: Gate) -> CheckResult:
    now = timezone.now()
    start = now - REPLICATION_LATENCY_WINDOW
    # EndTime is exclusive and truncated to the second: reach one period past now, so a
    # datapoint published this very second counts.
    end = now + timedelta(seconds=REPLICATION_LATENCY_PERIOD_SECONDS)
    window = f"the last {int(REPLICATION_LATENCY_WINDOW.total_seconds() // 60)} minutes"
    table, series = replication_latency_read(
        environment, start=start, end=end, period=REPLICATION_LATENCY_PERIOD_SECONDS
    )
    directions = []
    newest: datetime | None = None
    for direction in series:
        points = direction["points"]
        worst = max(points, key=lambda p: p.maximum, default=None)
        if points:
            newest = max(newest or points[-1].timestamp, points[-1].timestamp)
        directions.append(
            {
                "from": direction["from"],
                "to": direction["to"],
                "datapoints": len(points),
                "max_ms": worst.maximum if worst else None,
                "max_at": worst.timestamp.isoformat() if worst else None,
                "newest_at": points[-1].timestamp.isoformat() if points else None,
            }
        )
    detail = {
        "table": table,
        "limit_ms": REPLICATION_LATENCY_LIMIT_MS,
        "window_seconds": int(REPLICATION_LATENCY_WINDOW.total_seconds()),
        "directions": directions,
    }

    def said(d: dict) -> str:
        return f"{d['max_ms']:.0f} ms {d['from']} → {d['to']}"

    over = [d for d in directions if d["max_ms"] is not None and d["max_ms"] >= REPLICATION_LATENCY_LIMIT_MS]
    missing = [d for d in directions if d["max_ms"] is None]
    measured = [d for d in directions if d["max_ms"] is not None]
    if over:
        worst_at = ", ".join(f"{said(d)} at {_when(datetime.fromisoformat(d['max_at']))}" for d in over)
        value = (
            f"ReplicationLatency max {worst_at} over {window}: at or above the {REPLICATION_LATENCY_LIMIT_MS} ms limit"
        )
        return CheckResult(Verdict.FAIL, value, detail, newest)
    if missing:
        if not measured:
            value = f"no ReplicationLatency datapoints in {window} (table {table}, either direction)"
        else:
            value = (
                f"no ReplicationLatency datapoints in {window} for "
                + ", ".join(f"{d['from']} → {d['to']}" for d in missing)
                + "; max "
                + ", ".join(said(d) for d in measured)
            )
        return CheckResult(Verdict.UNKNOWN, value, detail, newest)
    value = (
        "ReplicationLatency max "
        + " and ".join(said(d) for d in directions)
        + f" over {window} (limit {REPLICATION_LATENCY_LIMIT_MS} ms); newest datapoint {_when(newest)}"
    )
    return CheckResult(Verdict.PASS, value, detail, newest)


# --- b. DNS TTL ---------------------------------------------------------------------------------


def _ttl_in_place_since(environment: Environment) -> tuple[datetime | None, str]:
    """When TTL 60 s was set: the routing stack's first deploy (its template fixes TTL 60)."""
    first = (
        StackDeployment.objects.filter(
            deployment__environment=environment,
            stack_key="routing",
            status=StackDeployment.Status.COMPLETE,
            finished_at__isnull=False,
        )
        .order_by("finished_at")
        .first()
    )
    if first is not None:
        return first.finished_at, "the routing stack's first deploy"
    if environment.provisioned_at is not None:
        # Records made without the routing stack (minimal provisioning) carry record_ttl.
        return environment.provisioned_at, "the environment's provisioning"
    return None, ""


def _is_first_shift(gate: Gate) -> bool:
    """This gate moves traffic and no earlier approved gate of the execution did."""
    target = gate.execution.environment.target_region
    if int(gate.target_weights.get(target, 0) or 0) <= 0:
        return False
    earlier = Gate.objects.filter(
        execution=gate.execution, status=Gate.Status.APPROVED, arrived_at__lt=gate.arrived_at
    ).exclude(pk=gate.pk)
    return not any(int(g.target_weights.get(target, 0) or 0) > 0 for g in earlier)


def dns_ttl_collect(environment: Environment, gate: Gate) -> CheckResult:
    if not environment.hosted_zone_id:
        raise EvidenceUnavailable("the environment has no hosted zone id yet, so the records cannot be read")
    now = timezone.now()
    settle = int(getattr(settings, "GATE_TTL_SETTLE_SECONDS", DEFAULT_TTL_SETTLE_SECONDS))
    records = route53.weighted_records_list(
        target=environment.aws_target(), hosted_zone_id=environment.hosted_zone_id, name=environment.record_name
    )
    detail: dict = {
        "record": environment.record_name,
        "required_ttl": REQUIRED_TTL_SECONDS,
        "settle_seconds": settle,
        "records": {r.set_identifier: r.ttl for r in records},
    }
    if not records:
        value = f"no weighted records named {environment.record_name} in hosted zone {environment.hosted_zone_id}"
        return CheckResult(Verdict.FAIL, value, detail, now)
    wrong = [r for r in records if r.ttl != REQUIRED_TTL_SECONDS]
    if wrong:
        value = (
            "; ".join(f"TTL {r.ttl} s on {r.set_identifier}" for r in wrong)
            + f": set it to {REQUIRED_TTL_SECONDS} s"
            + (f" ≥ {_duration(settle)}" if settle else "")
            + " before shifting"
        )
        return CheckResult(Verdict.FAIL, value, detail, now)
    since, source = _ttl_in_place_since(environment)
    detail["since"] = since.isoformat() if since else None
    detail["since_from"] = source
    first_shift = _is_first_shift(gate)
    detail["first_shift"] = first_shift
    regions = " and ".join(dict.fromkeys(r.set_identifier for r in records))
    if since is None:
        if first_shift:
            value = (
                f"TTL {REQUIRED_TTL_SECONDS} s on {regions}, but when it was set is not recorded; this is the first "
                f"shift and needs it in place ≥ {_duration(settle)}"
            )
            return CheckResult(Verdict.UNKNOWN, value, detail, now)
        return CheckResult(Verdict.PASS, f"TTL {REQUIRED_TTL_SECONDS} s on {regions}", detail, now)
    age = (now - since).total_seconds()
    detail["age_seconds"] = int(age)
    in_place = f"TTL {REQUIRED_TTL_SECONDS} s on {regions}, in place since {_when(since)} ({_duration(age)})"
    if first_shift and age < settle:
        value = f"{in_place}: the first shift needs it in place ≥ {_duration(settle)}, {_duration(settle - age)} to go"
        return CheckResult(Verdict.FAIL, value, detail, now)
    if first_shift:
        return CheckResult(Verdict.PASS, f"{in_place}, ≥ {_duration(settle)} before this first shift", detail, now)
    return CheckResult(Verdict.PASS, in_place, detail, now)


# --- c. DLQ depths ------------------------------------------------------------------------------


def dlq_depths_read(environment: Environment) -> list[dict]:
    """Every dead-letter queue of the environment with its depth (gate checks and telemetry)."""
    known = outputs_known(environment=environment)
    queues = [
        ("gate queue DLQ", environment.home_region, _output(known, "orchestration", "GateDlqUrl")),
        ("forwarding DLQ", environment.source_region, _output(known, "regional-source", "ForwardingDlqUrl")),
        ("forwarding DLQ", environment.target_region, _output(known, "regional-target", "ForwardingDlqUrl")),
    ]
    depths = []
    for role, region, url in queues:
        depth = sqs.queue_depth(target=environment.aws_target(region), queue_url=url)
        depths.append({"queue": _queue_name(url), "role": role, "region": region, "messages": depth})
    return depths


def dlq_depth_collect(environment: Environment, gate: Gate) -> CheckResult:
    depths = dlq_depths_read(environment)
    now = timezone.now()
    detail = {"queues": depths}
    full = [d for d in depths if d["messages"] > 0]
    if full:
        value = "; ".join(
            f"{_plural(d['messages'], 'message')} in {d['queue']} ({d['region']}, {d['role']})" for d in full
        )
        return CheckResult(Verdict.FAIL, f"{value}: investigate and redrive before shifting", detail, now)
    names = ", ".join(f"{d['queue']} ({d['region']})" for d in depths)
    return CheckResult(Verdict.PASS, f"all {len(depths)} DLQs empty: {names}", detail, now)


# --- d. alarms ----------------------------------------------------------------------------------


def alarms_read(environment: Environment) -> list[tuple[str, cloudwatch.Alarm]]:
    """The environment's alarms in both regions as (region, alarm) (gate checks and telemetry)."""
    # Every AlarmName in infra_templates/ is "${EnvironmentName}-...". Another environment whose
    # name extends this one ("prod" / "prod-eu") shares the prefix: leave its alarms out.
    prefix = f"{environment.name}-"
    others = [
        f"{n}-"
        for n in Environment.objects.filter(name__startswith=prefix)
        .exclude(pk=environment.pk)
        .values_list("name", flat=True)
    ]
    found = []
    for region in dict.fromkeys((environment.source_region, environment.target_region)):
        for alarm in cloudwatch.alarms_list(target=environment.aws_target(region), prefix=prefix):
            if any(alarm.name.startswith(o) for o in others):
                continue
            found.append((region, alarm))
    return found


def alarms_collect(environment: Environment, gate: Gate) -> CheckResult:
    prefix = f"{environment.name}-"
    found = alarms_read(environment)
    now = timezone.now()
    detail = {
        "alarms": [
            {
                "name": a.name,
                "region": region,
                "state": a.state,
                "since": a.updated_at.isoformat() if a.updated_at else None,
                "reason": a.reason[:300],
            }
            for region, a in found
        ]
    }
    if not found:
        value = f"no alarms named {prefix}* in either region: the DLQ and error alarms must be in place before cutover"
        return CheckResult(Verdict.FAIL, value, detail, now)
    firing = [(r, a) for r, a in found if a.state == "ALARM"]
    no_data = [a for _, a in found if a.state == "INSUFFICIENT_DATA"]
    counts = f"{_plural(len(found), 'alarm')}: {len(firing)} in ALARM, {len(no_data)} with insufficient data"
    if firing:
        names = "; ".join(
            f"{a.name} ({r}" + (f", since {_when(a.updated_at)}" if a.updated_at else "") + ")" for r, a in firing
        )
        return CheckResult(Verdict.FAIL, f"{counts}. In ALARM: {names}", detail, now)
    if no_data:
        counts += " (not a failure: no data reported yet)"
    return CheckResult(Verdict.PASS, counts, detail, now)


# --- e. bus policy ------------------------------------------------------------------------------


def _allows_put_events(policy: dict) -> list[str]:
    """Sids of the Allow statements that grant events:PutEvents."""
    statements = policy.get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    sids = []
    for s in statements:
        actions = s.get("Action") or []
        if isinstance(actions, str):
            actions = [actions]
        if s.get("Effect") == "Allow" and any(a in ("events:PutEvents", "events:*", "*") for a in actions):
            sids.append(s.get("Sid") or "(no Sid)")
    return sids


def bus_policy_collect(environment: Environment, gate: Gate) -> CheckResult:
    known = outputs_known(environment=environment)
    buses = [
        (environment.source_region, _output(known, "events-source", "EventBusName")),
        (environment.target_region, _output(known, "events-target", "EventBusName")),
    ]
    found, problems = [], []
    for region, bus in buses:
        try:
            policy = events.bus_policy(target=environment.aws_target(region), bus_name=bus)
        except AwsError as exc:
            if exc.code != "ResourceNotFoundException":
                raise
            problems.append(f"bus {bus} does not exist in {region}")
            found.append({"bus": bus, "region": region, "exists": False, "statements": []})
            continue
        sids = _allows_put_events(policy or {})
        found.append({"bus": bus, "region": region, "exists": True, "statements": sids, "policy": policy})
        if policy is None:
            problems.append(f"{bus} ({region}) has no resource policy")
        elif not sids:
            problems.append(f"{bus} ({region}) has a policy that does not allow events:PutEvents")
    now = timezone.now()
    detail = {"buses": found}
    if problems:
        value = "; ".join(problems) + ": the peer region's forwarding rule cannot deliver"
        return CheckResult(Verdict.FAIL, value, detail, now)
    value = "both buses allow events:PutEvents: " + ", ".join(
        f"{b['bus']} ({b['region']}, {', '.join(b['statements'])})" for b in found
    )
    return CheckResult(Verdict.PASS, value, detail, now)


# --- f. weight drift ----------------------------------------------------------------------------


def _recorded_weights(parameters: list[ssm.Parameter]) -> tuple[dict[str, int], ssm.Parameter] | None:
    """The targetWeights of the newest decision parameter that has them."""
    best = None
    for p in parameters:
        try:
            value = json.loads(p.value)
        except ValueError:
            continue
        weights = value.get("targetWeights") if isinstance(value, dict) else None
        if not isinstance(weights, dict):
            continue
        when = p.last_modified or datetime.min.replace(tzinfo=UTC)
        key = (when, p.version, p.name)
        if best is None or key > best[0]:
            best = (key, {str(k): int(v) for k, v in weights.items()}, p)
    return (best[1], best[2]) if best else None


def weight_drift_collect(environment: Environment, gate: Gate) -> CheckResult:
    if not environment.hosted_zone_id:
        raise EvidenceUnavailable("the environment has no hosted zone id yet, so the records cannot be read")
    execution = gate.execution
    home = environment.aws_target()
    recorded = _recorded_weights(
        ssm.parameters_by_path(target=home, path=f"{environment.ssm_prefix()}/{execution.name}/")
    )
    if recorded is not None:
        expected, parameter = recorded
        where = parameter.name.rsplit("/", 1)[-1]
        if parameter.last_modified:
            where += f", {_when(parameter.last_modified)}"
        recorded_as = f"the state machine last recorded {{}} ({where})"
        as_recorded = f"as the state machine last recorded ({where})"
        detail_from = {"parameter": parameter.name, "version": parameter.version}
    else:
        # Every execution starts from the plan's 0 % step (statemachine.weights_for; it rolls
        # step 1 back to it). Rollback records carry no targetWeights: they go back to the last
        # approved step, which is then the newest record that has them.
        expected = {environment.source_region: 100, environment.target_region: 0}
        recorded_as = "the plan starts from {} and no shift is recorded yet"
        as_recorded = "the initial split; no shift recorded yet"
        detail_from = {"parameter": None}
    records = route53.weighted_records_list(
        target=home, hosted_zone_id=environment.hosted_zone_id, name=environment.record_name
    )
    actual = {r.set_identifier: r.weight for r in records}
    now = timezone.now()
    detail = {"actual": actual, "expected": expected, **detail_from}
    regions = (environment.source_region, environment.target_region)
    if any(actual.get(r) != expected.get(r) for r in regions) or set(actual) - set(regions):
        numbers = f"{expected.get(regions[0], '-')} / {expected.get(regions[1], '-')}"
        value = (
            f"drift: Route 53 has {_weights_text(environment, actual)}, {recorded_as.format(numbers)}"
            " — someone changed the records by hand"
        )
        return CheckResult(Verdict.FAIL, value, detail, now)
    value = f"Route 53 has {_weights_text(environment, actual)}, {as_recorded}"
    return CheckResult(Verdict.PASS, value, detail, now)


# --- g. stack status ----------------------------------------------------------------------------


def stack_statuses_read(environment: Environment) -> list[dict]:
    """CloudFormation status of every stack deployed through the control plane (checks, telemetry)."""
    keys = [k for k in outputs_known(environment=environment) if k in STACKS_BY_KEY]
    if not keys:
        raise EvidenceUnavailable("no stack of this environment has been deployed through the control plane")
    stacks = []
    for key in keys:
        region = environment.region_for(STACKS_BY_KEY[key].region_role)
        name = f"{environment.name}-{key}"
        stack = cloudformation.stack_describe(target=environment.aws_target(region), name=name)
        status = stack.status if stack is not None and stack.exists else "missing"
        healthy = status.endswith("_COMPLETE") and "ROLLBACK" not in status and not status.startswith("DELETE")
        stacks.append({"stack": name, "key": key, "region": region, "status": status, "healthy": healthy})
    return stacks


def stack_status_collect(environment: Environment, gate: Gate) -> CheckResult:
    stacks = stack_statuses_read(environment)
    offenders = [f"{s['stack']} ({s['region']}) {s['status']}" for s in stacks if not s["healthy"]]
    now = timezone.now()
    detail = {"stacks": stacks}
    if offenders:
        value = f"{len(offenders)} of {_plural(len(stacks), 'stack')} not healthy: " + "; ".join(offenders)
        return CheckResult(Verdict.FAIL, value, detail, now)
    return CheckResult(Verdict.PASS, f"all {_plural(len(stacks), 'stack')} complete, none rolled back", detail, now)


for _spec in (
    CheckSpec("replication_latency", "DynamoDB replication latency", True, replication_latency_collect, 10),
    CheckSpec("dns_ttl", "Route 53 TTL", True, dns_ttl_collect, 20),
    CheckSpec("dlq_depth", "Dead-letter queues", True, dlq_depth_collect, 30),
    CheckSpec("alarms", "CloudWatch alarms", True, alarms_collect, 40),
    CheckSpec("bus_policy", "EventBridge bus policies", True, bus_policy_collect, 50),
    CheckSpec("weight_drift", "Route 53 weights match the state machine", True, weight_drift_collect, 60),
    CheckSpec("stack_status", "CloudFormation stacks", True, stack_status_collect, 70),
):
    check_register(_spec)
