"""Traffic through the REAL transaction and webhook handlers, and the faults injected on purpose.

Requests are API Gateway proxy events handed to infra_templates/lambda/{transaction,webhook}/
handler.py (sandbox.dataplane.lambdas). The region of each request follows the Route 53
weighted records of the environment as they are now (re-read every 2 s), except for a share of
"stale" resolvers that still answer with the weights from before the cutover (all traffic to
the source region unless the scenario says otherwise). A share of transactions gets the
payment provider's webhook callback (same idempotency key, same body) after a delay, some of
them in the other region: with the delay well above the replication lag, the callback finds
the idempotency marker already replicated and is answered with the original (no duplicate).

Faults (``FAULTS``) each return what they did and the divergence they should leave behind
(``expect``), which the detection benchmark checks the reconciliation against.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from .config import DataPlaneConfig, DataPlaneError, ReplicationControl
from .lambdas import LambdaRuntime

log = logging.getLogger("sandbox.dataplane")

WEIGHTS_REFRESH = 2.0
USERS = 500


@dataclass
class TrafficProfile:
    rate: float = 1.0  # API transactions per second
    stale_share: float = 0.0  # share of requests resolved with stale (pre-cutover) weights
    stale_weights: dict[str, int] | None = None  # region -> weight; default all to the source region
    weights: dict[str, int] | None = None  # region -> weight; None: the Route 53 records, live
    callback_share: float = 0.3  # share of transactions followed by a webhook callback
    callback_delay: float = 5.0  # seconds after the transaction (keep it well above the lag)
    cross_region_callback_share: float = 0.2  # share of callbacks that reach the other region

    def check(self) -> None:
        if self.rate < 0:
            raise DataPlaneError(f"rate must be zero or more requests per second, not {self.rate}")
        for name in ("stale_share", "callback_share", "cross_region_callback_share"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise DataPlaneError(f"{name} must be between 0 and 1, not {value}")
        if self.callback_delay < 0:
            raise DataPlaneError(f"callback_delay must not be negative, not {self.callback_delay}")


@dataclass
class Injected:
    """One fault as it was injected (a row of sandbox_scenario's table and JSON)."""

    at: str  # ISO time of injection
    offset: float  # seconds since the run started
    fault: str
    expect: str  # the divergence it leaves: duplicate_debit, missing_in_region, conflicting_version, lag
    regions: list[str]
    transaction_ids: list[str] = field(default_factory=list)
    idempotency_key: str = ""
    windows: list[str] = field(default_factory=list)
    buckets: list[str] = field(default_factory=list)
    missing_in: str = ""  # for missing_in_region: the region that lacks the item
    detail: str = ""


def _now_iso() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


class TrafficGenerator:
    def __init__(
        self,
        config: DataPlaneConfig,
        runtime: LambdaRuntime,
        control: ReplicationControl,
        profile: TrafficProfile,
        *,
        seed: int | None = None,
    ):
        profile.check()
        self.config, self.runtime, self.control, self.profile = config, runtime, control, profile
        self.rng = random.Random(seed)
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._weights: dict[str, int] = {}
        self._weights_read = 0.0
        self.started = time.time()
        self.injected: list[Injected] = []
        self.counts = {"transactions": 0, "callbacks": 0, "cross_region_callbacks": 0, "duplicates_201": 0}
        self.by_region = {r: 0 for r in config.regions}
        self.statuses: dict[int, int] = {}
        self.errors = 0
        self.stopped = threading.Event()

    # --- routing ---

    def weights(self) -> dict[str, int]:
        if self.profile.weights is not None:
            return self.profile.weights
        if time.monotonic() - self._weights_read > WEIGHTS_REFRESH:
            self._weights_read = time.monotonic()
            if self.config.hosted_zone_id and self.config.record_name:
                from sandbox.traffic_metrics import route53_weights

                try:
                    self._weights = route53_weights(
                        endpoint=self.config.endpoint,
                        region=self.config.source_region,
                        hosted_zone_id=self.config.hosted_zone_id,
                        record_name=self.config.record_name,
                    )
                except Exception:  # noqa: BLE001 - keep the last weights
                    log.exception("reading the Route 53 weights failed")
        return self._weights

    def _pick(self, weights: dict[str, int]) -> str:
        regions = list(self.config.regions)
        values = [max(0, int(weights.get(r, 0))) for r in regions]
        if sum(values) == 0:
            return self.rng.choice(regions)  # Route 53 answers all-zero records evenly
        return self.rng.choices(regions, weights=values)[0]

    def region(self) -> str:
        if self.rng.random() < self.profile.stale_share:
            return self._pick(self.profile.stale_weights or {self.config.source_region: 100})
        return self._pick(self.weights())

    # --- requests ---

    def _body(self, key: str | None = None) -> dict:
        return {
            "idempotencyKey": key or f"pay-{uuid.uuid4()}",
            "userId": f"user-{self.rng.randrange(USERS):04d}",
            "amount": self.rng.randrange(100, 50000),
            "currency": "EUR",
        }

    def send(self, channel: str, region: str, body: dict) -> tuple[int, dict]:
        function, path = (
            ("transaction", "/api/v1/transactions") if channel == "api" else ("webhook", "/api/v1/payments/webhook")
        )
        event = {"httpMethod": "POST", "resource": path, "path": path, "body": json.dumps(body)}
        response = self.runtime.invoke(function, region, event)
        status = int(response["statusCode"])
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.by_region[region] += 1
        return status, json.loads(response["body"])

    def transaction(self) -> None:
        region = self.region()
        body = self._body()
        status, _ = self.send("api", region, body)
        self.counts["transactions"] += 1
        if status == 201 and self.rng.random() < self.profile.callback_share:
            cross = self.rng.random() < self.profile.cross_region_callback_share
            callback_region = self.config.peer(region) if cross else region
            self.at(time.time() + self.profile.callback_delay, lambda: self.callback(callback_region, body, cross))

    def callback(self, region: str, body: dict, cross: bool) -> None:
        status, _ = self.send("webhook", region, body)
        self.counts["callbacks"] += 1
        self.counts["cross_region_callbacks"] += int(cross)
        if status == 201:
            self.counts["duplicates_201"] += 1  # the key was accepted twice: a duplicate debit

    # --- scheduling ---

    def at(self, when: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._heap, (when, next(self._seq), action))

    def run(self, duration: float | None, *, drain: bool = True) -> None:
        """Send at ``profile.rate`` for ``duration`` seconds (None: until stop()), running the
        scheduled actions (callbacks, faults) on time; then, with ``drain``, the pending ones."""
        self.started = time.time()
        end = None if duration is None else self.started + duration
        interval = 1 / self.profile.rate if self.profile.rate > 0 else None
        next_send = self.started
        while not self.stopped.is_set():
            now = time.time()
            if end is not None and now >= end and (not drain or not self._heap):
                break
            # Scheduled actions (callbacks, faults) first: they must happen on time even when
            # the sandbox cannot keep up with the rate.
            if self._heap and self._heap[0][0] <= now:
                _, _, action = heapq.heappop(self._heap)
                self._safely(action)
                continue
            if interval is not None and (end is None or now < end) and now >= next_send:
                self._safely(self.transaction)
                next_send += interval
                if next_send < now - 1:  # cannot keep up: do not burst to catch up
                    next_send = now
                continue
            candidates = [now + 0.2]
            if interval is not None and (end is None or now < end):
                candidates.append(next_send)
            if self._heap:
                candidates.append(self._heap[0][0])
            if end is not None and now < end:
                candidates.append(end)
            wake = min(candidates)
            self.stopped.wait(max(0.0, wake - now))

    def _safely(self, action: Callable[[], None]) -> None:
        try:
            action()
        except Exception:  # noqa: BLE001 - one failed request must not stop the traffic
            self.errors += 1
            log.exception("traffic action failed")

    def stop(self) -> None:
        self.stopped.set()

    def summary(self) -> dict:
        elapsed = max(1e-9, time.time() - self.started)
        return {
            **self.counts,
            "by_region": dict(self.by_region),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "errors": self.errors,
            "seconds": round(elapsed, 2),
            "requests_per_second": round(sum(self.by_region.values()) / elapsed, 2),
        }

    # --- faults ---

    def record(self, fault: str, expect: str, regions: list[str], items: list[dict] | None = None, **extra) -> Injected:
        items = items or []
        row = Injected(
            at=_now_iso(),
            offset=round(time.time() - self.started, 3),
            fault=fault,
            expect=expect,
            regions=regions,
            transaction_ids=[i["transactionId"] for i in items if i.get("transactionId")],
            windows=sorted({i["timeBucket"] for i in items if i.get("timeBucket")}),
            buckets=sorted({i["timeBucketShard"].rsplit("#", 1)[1] for i in items if i.get("timeBucketShard")}),
            **extra,
        )
        self.injected.append(row)
        return row

    def _item(self, region: str, transaction_id: str) -> dict | None:
        ddb = self.config.client("dynamodb", region)
        item = ddb.get_item(
            TableName=self.config.transactions_table,
            Key={"transactionId": {"S": transaction_id}},
            ConsistentRead=True,
        ).get("Item")
        return item

    def _wait_for(self, region: str, transaction_id: str, timeout: float = 10.0) -> dict:
        deadline = time.time() + timeout
        while time.time() < deadline:
            item = self._item(region, transaction_id)
            if item is not None:
                return item
            time.sleep(0.05)
        raise DataPlaneError(f"{transaction_id} did not replicate to {region} within {timeout:.0f}s")


def _region(config: DataPlaneConfig, name: str) -> str:
    if name in ("source", "target"):
        return config.source_region if name == "source" else config.target_region
    if name not in config.regions:
        raise DataPlaneError(f"region {name!r} is neither source, target, nor one of {', '.join(config.regions)}")
    return name


def fault_replication_pause(gen: TrafficGenerator, *, duration: float, speed: float = 1.0) -> None:
    seconds = duration / speed
    gen.control.set_mode("paused")
    gen.at(time.time() + seconds, lambda: gen.control.set_mode("on"))
    gen.record(
        "replication_pause",
        "lag",
        list(gen.config.regions),
        detail=f"replication paused for {seconds:g}s, then resumed: copies land late, nothing is lost",
    )


def fault_replication_delay(gen: TrafficGenerator, *, extra_ms: float, duration: float, speed: float = 1.0) -> None:
    seconds = duration / speed
    gen.control.update(extra_lag_ms=float(extra_ms))
    gen.at(time.time() + seconds, lambda: gen.control.update(extra_lag_ms=0.0))
    gen.record(
        "replication_delay",
        "lag",
        list(gen.config.regions),
        detail=f"+{extra_ms:g} ms on every copy for {seconds:g}s",
    )


def _missing(gen: TrafficGenerator, fault: str, region: str, *, lose_in_origin: bool) -> None:
    """A write in ``region`` that ends up in one region only: its copy is never made
    (``dropped_replica_write``), or it is replicated and then lost from the origin (``lost_write``)."""
    origin = _region(gen.config, region)
    peer = gen.config.peer(origin)
    body = gen._body()
    if not lose_in_origin:
        gen.control.add_drop(body["idempotencyKey"])  # the copy is never made
    status, item = gen.send("api", origin, body)
    if status != 201:
        raise DataPlaneError(f"{fault}: the write was refused ({status}): {item}")
    if lose_in_origin:
        gen._wait_for(peer, item["transactionId"])
        gen.control.add_drop(body["idempotencyKey"])  # the loss itself must not replicate
        gen.config.client("dynamodb", origin).delete_item(
            TableName=gen.config.transactions_table, Key={"transactionId": {"S": item["transactionId"]}}
        )
        detail = f"acknowledged in {origin}, replicated, then lost from {origin} (present only in {peer})"
    else:
        detail = f"written in {origin}; its copy to {peer} is never made"
    gen.record(
        fault,
        "missing_in_region",
        [origin, peer],
        [item],
        idempotency_key=body["idempotencyKey"],
        missing_in=origin if lose_in_origin else peer,
        detail=detail,
    )


def fault_dropped_replica_write(gen: TrafficGenerator, *, region: str = "source", speed: float = 1.0) -> None:
    _missing(gen, "dropped_replica_write", region, lose_in_origin=False)


def fault_lost_write(gen: TrafficGenerator, *, region: str = "source", speed: float = 1.0) -> None:
    _missing(gen, "lost_write", region, lose_in_origin=True)


def fault_duplicate_debit(
    gen: TrafficGenerator,
    *,
    first_region: str = "source",
    second_region: str = "target",
    delay_ms: float = 180.0,
    speed: float = 1.0,
) -> None:
    first, second = _region(gen.config, first_region), _region(gen.config, second_region)
    if first == second:
        raise DataPlaneError("duplicate_debit needs two different regions")
    body = gen._body()
    # The race: the callback must reach the second region before the first write's copy does.
    # With a 100-300 ms lag a 180 ms delay loses the race only part of the time; the fault holds
    # this request's copies until the callback has been answered, then lets them go.
    gen.control.add_hold(body["idempotencyKey"], time.time() + 60)
    try:
        status_1, item_1 = gen.send("api", first, body)
        time.sleep(delay_ms / 1000)
        status_2, item_2 = gen.send("webhook", second, body)
    finally:
        gen.control.add_hold(body["idempotencyKey"], time.time())
    if (status_1, status_2) != (201, 201):
        raise DataPlaneError(f"the race did not produce two writes (statuses {status_1}, {status_2})")
    gen.record(
        "duplicate_debit",
        "duplicate_debit",
        [first, second],
        [item_1, item_2],
        idempotency_key=body["idempotencyKey"],
        detail=f"API write in {first}, webhook {delay_ms:g} ms later in {second} before replication landed",
    )


def fault_conflicting_update(gen: TrafficGenerator, *, region: str = "source", speed: float = 1.0) -> None:
    origin = _region(gen.config, region)
    peer = gen.config.peer(origin)
    body = gen._body()
    status, item = gen.send("api", origin, body)
    if status != 201:
        raise DataPlaneError(f"the write to update was refused ({status}): {item}")
    gen._wait_for(peer, item["transactionId"])
    stamp = _now_iso()  # both regions stamp the same moment: last writer wins cannot order them
    for where, delta in ((origin, 100), (peer, 200)):
        gen.config.client("dynamodb", where).update_item(
            TableName=gen.config.transactions_table,
            Key={"transactionId": {"S": item["transactionId"]}},
            UpdateExpression="SET version = :v2, amount = amount + :d, updatedAt = :ts REMOVE replicatedFrom",
            ConditionExpression="version = :v1",
            ExpressionAttributeValues={
                ":v1": {"N": "1"},
                ":v2": {"N": "2"},
                ":d": {"N": str(delta)},
                ":ts": {"S": stamp},
            },
        )
    gen.record(
        "conflicting_update",
        "conflicting_version",
        [origin, peer],
        [item],
        idempotency_key=body["idempotencyKey"],
        detail=f"version 2 written in both regions at {stamp} with different amounts (+100 in {origin}, "
        f"+200 in {peer}); a tie for last writer wins, so each region keeps its own",
    )


FAULTS: dict[str, Callable[..., None]] = {
    "replication_pause": fault_replication_pause,
    "replication_delay": fault_replication_delay,
    "dropped_replica_write": fault_dropped_replica_write,
    "lost_write": fault_lost_write,
    "duplicate_debit": fault_duplicate_debit,
    "conflicting_update": fault_conflicting_update,
}


def injected_rows(injected: list[Injected]) -> list[dict]:
    return [asdict(row) for row in injected]
