"""Replication between the regions' tables and buckets, and the stream consumers, as AWS runs them.

- ``StreamFollower`` (one per region) reads that region's transactions stream through the
  DynamoDB Streams API, hands every record to the replicator, and invokes the REAL aggregates
  Lambda (infra_templates/lambda/aggregates/handler.py) on batches of up to 100 records, as the
  event source mapping would; a failed batch is retried whole until it succeeds.
- ``TableReplicator`` copies each local write to the other region after a lag drawn from the
  configured distribution, measured from the write's stream timestamp; last writer wins on
  ``version``, then on ``updatedAt``/``createdAt`` (a conditional put; a tie keeps the copy
  already there); the copy carries ``replicatedFrom`` and is never sent back. The measured lag
  is published as ``AWS/DynamoDB ReplicationLatency`` (TableName, ReceivingRegion) in the
  sending region, as DynamoDB does for a global table.
- ``ObjectReplicator`` copies new objects of the source region's document bucket to the
  target region's one (the direction storage.yaml configures), with the same lag.

All three obey the environment's control file (sandbox.dataplane.config.ReplicationControl):
``paused`` holds copies back (they land on resume, late), ``off`` discards them, per-key holds
and drops are the scenario faults.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import random
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from botocore.exceptions import ClientError

from .config import DataPlaneConfig, LagDistribution, ReplicationControl, ReplicationState
from .lambdas import LambdaRuntime

log = logging.getLogger("sandbox.dataplane")

REPLICATED_FROM = "replicatedFrom"
MARKER_PREFIX = "idem#"
AGGREGATES_BATCH = 100
LANES = 4
HOLD_RECHECK = 0.05  # seconds between looks at a held copy


def _s(image: dict, name: str) -> str | None:
    typed = image.get(name) or {}
    return typed.get("S") if "S" in typed else typed.get("N")


def request_key(image: dict) -> str | None:
    """The idempotency key a stream image belongs to (transaction or its marker)."""
    transaction_id = _s(image, "transactionId") or ""
    if transaction_id.startswith(MARKER_PREFIX):
        return transaction_id[len(MARKER_PREFIX) :]
    return _s(image, "idempotencyKey")


def _created(record: dict) -> float:
    stamp = (record.get("dynamodb") or {}).get("ApproximateCreationDateTime")
    if isinstance(stamp, int | float):
        return float(stamp)
    if isinstance(stamp, datetime):
        return stamp.replace(tzinfo=stamp.tzinfo or UTC).timestamp()
    return time.time()


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@dataclass(order=True)
class _Pending:
    due: float
    seq: int
    source: str = field(compare=False)
    record: dict = field(compare=False)
    created: float = field(compare=False)
    key: str | None = field(compare=False, default=None)


class TableReplicator:
    """Copies stream records to the peer region; see the module docstring."""

    def __init__(
        self, config: DataPlaneConfig, control: ReplicationControl, lag: LagDistribution, *, seed: int | None = None
    ):
        self.config, self.control, self.lag = config, control, lag
        self.rng = random.Random(seed)
        self._queue: list[_Pending] = []
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self.enqueued = threading.Event()
        self._state = control.read()
        self._state_mtime = control.mtime()
        self._own_deletes: dict[str, set[str]] = {r: set() for r in config.regions}
        self._clients = {r: config.client("dynamodb", r) for r in config.regions}
        self._pool = ThreadPoolExecutor(max_workers=LANES, thread_name_prefix="sandbox-replication")
        self._metrics: dict[tuple[str, str], list[float]] = {}
        self.lags_ms: deque[float] = deque(maxlen=20000)
        self._recent: deque[tuple[float, float]] = deque(maxlen=20000)  # (when, lag ms)
        self.counts = {"queued": 0, "applied": 0, "superseded": 0, "dropped": 0, "discarded": 0, "failed": 0}

    # --- control ---

    def state(self) -> ReplicationState:
        mtime = self.control.mtime()
        if mtime != self._state_mtime:
            try:
                self._state = self.control.read()
                self._state_mtime = mtime
            except Exception:  # noqa: BLE001 - a half-edited file by hand: keep the last good state
                log.exception("replication control file unreadable; keeping the previous state")
        return self._state

    # --- intake (called by the stream followers) ---

    def enqueue(self, source: str, records: list[dict]) -> None:
        state = self.state()
        now = time.time()
        for record in records:
            body = record.get("dynamodb") or {}
            image = body.get("NewImage") or body.get("OldImage") or {}
            key_text = json.dumps(body.get("Keys", {}), sort_keys=True)
            if record.get("eventName") == "REMOVE":
                if key_text in self._own_deletes[source]:
                    self._own_deletes[source].discard(key_text)
                    continue
            elif REPLICATED_FROM in (body.get("NewImage") or {}):
                continue  # a copy this replicator made: never sent back
            if state.mode == "off":
                self.counts["discarded"] += 1
                continue
            key = request_key(image)
            if key is not None and key in state.drop and _s(image, "kind") == "transaction":
                self.counts["dropped"] += 1
                continue
            created = _created(record)
            due = created + (self.lag.sample_ms(self.rng) + state.extra_lag_ms) / 1000
            with self._lock:
                heapq.heappush(self._queue, _Pending(max(due, now), next(self._seq), source, record, created, key))
            self.counts["queued"] += 1
            self.enqueued.set()

    def next_due(self) -> float:
        """When the next queued copy is due (epoch seconds; far away if none, or paused)."""
        with self._lock:
            if not self._queue or self._state.mode == "paused":
                return time.time() + 3600
            return self._queue[0].due

    def queued(self) -> int:
        with self._lock:
            return len(self._queue)

    # --- delivery ---

    def deliver_due(self) -> int:
        """Apply every copy whose time has come (none while paused); returns how many.

        Copies go out on ``LANES`` threads (moto serves requests concurrently), each key always
        on the same lane so that one item's copies keep their order."""
        state = self.state()
        if state.mode == "off":
            with self._lock:
                self.counts["discarded"] += len(self._queue)
                self._queue.clear()
            return 0
        if state.mode == "paused":
            return 0
        due: list[_Pending] = []
        now = time.time()
        with self._lock:
            while self._queue and self._queue[0].due <= now:
                pending = heapq.heappop(self._queue)
                held_until = state.hold.get(pending.key or "", 0.0)
                if held_until > now:  # a fault holds this request's copies: look again soon (releasable)
                    pending.due = min(held_until, now + HOLD_RECHECK)
                    heapq.heappush(self._queue, pending)
                    continue
                due.append(pending)
        if not due:
            return 0
        lanes: dict[int, list[_Pending]] = {}
        for pending in due:
            key = json.dumps(pending.record["dynamodb"].get("Keys", {}), sort_keys=True)
            lanes.setdefault(hash(key) % LANES, []).append(pending)
        if len(lanes) == 1:
            self._apply_lane(next(iter(lanes.values())))
        else:
            list(self._pool.map(self._apply_lane, lanes.values()))
        return len(due)

    def _apply_lane(self, lane: list[_Pending]) -> None:
        for pending in lane:
            try:
                self._apply(pending)
            except Exception:  # noqa: BLE001 - the sandbox may be stopping; count and go on
                self.counts["failed"] += 1
                log.exception("replication of a %s record failed", pending.source)

    def _apply(self, pending: _Pending) -> None:
        target = self.config.peer(pending.source)
        ddb = self._clients[target]
        body = pending.record["dynamodb"]
        table = self.config.transactions_table
        if pending.record.get("eventName") == "REMOVE":
            self._own_deletes[target].add(json.dumps(body["Keys"], sort_keys=True))
            ddb.delete_item(TableName=table, Key=body["Keys"])
        else:
            image = dict(body["NewImage"])
            image[REPLICATED_FROM] = {"S": pending.source}
            stamp = _s(image, "updatedAt") or _s(image, "createdAt") or ""
            values = {":ts": {"S": stamp}}
            newer_stamp = (
                "((attribute_exists(updatedAt) AND updatedAt < :ts) OR "
                "(attribute_not_exists(updatedAt) AND createdAt < :ts))"
            )
            if "version" in image:
                values[":v"] = image["version"]
                condition = f"attribute_not_exists(transactionId) OR version < :v OR (version = :v AND {newer_stamp})"
            else:
                condition = f"attribute_not_exists(transactionId) OR {newer_stamp}"
            try:
                ddb.put_item(
                    TableName=table, Item=image, ConditionExpression=condition, ExpressionAttributeValues=values
                )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
                self.counts["superseded"] += 1  # the copy there is newer (or a tie): last writer wins
                self._sample(pending, target)
                return
        self.counts["applied"] += 1
        self._sample(pending, target)

    def _sample(self, pending: _Pending, target: str) -> None:
        lag_ms = max(0.0, (time.time() - pending.created) * 1000)
        self.lags_ms.append(lag_ms)
        self._recent.append((time.time(), lag_ms))
        self._metrics.setdefault((pending.source, target), []).append(lag_ms)

    def publish_metrics(self) -> None:
        """ReplicationLatency in the SENDING region, dimension ReceivingRegion (as DynamoDB does)."""
        batches, self._metrics = self._metrics, {}
        for (source, target), values in batches.items():
            data = [
                {
                    "MetricName": "ReplicationLatency",
                    "Dimensions": [
                        {"Name": "TableName", "Value": self.config.transactions_table},
                        {"Name": "ReceivingRegion", "Value": target},
                    ],
                    "Value": value,
                    "Unit": "Milliseconds",
                }
                for value in values[-100:]
            ]
            cloudwatch = self.config.client("cloudwatch", source)
            for start in range(0, len(data), 20):
                cloudwatch.put_metric_data(Namespace="AWS/DynamoDB", MetricData=data[start : start + 20])

    def lag_since(self, moment: float) -> dict:
        lags = [lag for when, lag in list(self._recent) if when >= moment]
        return {"samples": len(lags), "p50": percentile(lags, 0.5), "p99": percentile(lags, 0.99)}

    def status(self) -> dict:
        lags = list(self.lags_ms)
        return {
            "mode": self.state().mode,
            "extra_lag_ms": self.state().extra_lag_ms,
            "queued": self.queued(),
            "counts": dict(self.counts),
            "lag_ms": {"samples": len(lags), "p50": percentile(lags, 0.5), "p99": percentile(lags, 0.99)},
            "lag_ms_last_minute": self.lag_since(time.time() - 60),
        }


class StreamFollower:
    """Reads one region's transactions stream; feeds the replicator and the aggregates Lambda."""

    def __init__(
        self,
        config: DataPlaneConfig,
        region: str,
        *,
        replicator: TableReplicator,
        runtime: LambdaRuntime,
        checkpoints: Path | None = None,
    ):
        self.config, self.region, self.replicator, self.runtime = config, region, replicator, runtime
        self.checkpoints = checkpoints
        self._streams = config.client("dynamodbstreams", region)
        self._iterator: str | None = None
        self._stream_arn: str | None = None
        self._pending: list[dict] = []
        self._lock = threading.Lock()
        self.caught_up = False
        self.records_read = 0
        self.batches_applied = 0
        self.batch_failures = 0

    def _checkpoint(self) -> str | None:
        if self.checkpoints is None or not self.checkpoints.exists():
            return None
        try:
            return json.loads(self.checkpoints.read_text()).get(self._stream_arn or "")
        except ValueError:
            return None

    def _save_checkpoint(self, sequence: str) -> None:
        if self.checkpoints is None:
            return
        try:
            known = json.loads(self.checkpoints.read_text()) if self.checkpoints.exists() else {}
        except ValueError:
            known = {}
        known[self._stream_arn or ""] = sequence
        self.checkpoints.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.checkpoints.with_suffix(f".{self.region}.tmp")
        tmp.write_text(json.dumps(known))
        tmp.replace(self.checkpoints)

    def _open(self) -> None:
        ddb = self.config.client("dynamodb", self.region)
        table = ddb.describe_table(TableName=self.config.transactions_table)["Table"]
        self._stream_arn = table.get("LatestStreamArn")
        if not self._stream_arn:
            raise RuntimeError(f"{self.config.transactions_table} in {self.region} has no stream")
        shard = self._streams.describe_stream(StreamArn=self._stream_arn)["StreamDescription"]["Shards"][0]
        after = self._checkpoint()
        kwargs = {"StreamArn": self._stream_arn, "ShardId": shard["ShardId"]}
        if after:
            kwargs |= {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": after}
        else:
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        self._iterator = self._streams.get_shard_iterator(**kwargs)["ShardIterator"]

    def poll(self) -> int:
        """Read what is new and hand it to the replicator and to the aggregates queue; returns
        the number of records read."""
        if self._iterator is None:
            self._open()
        response = self._streams.get_records(ShardIterator=self._iterator, Limit=1000)
        self._iterator = response.get("NextShardIterator") or self._iterator
        records = response.get("Records", [])
        for record in records:
            record["eventSourceARN"] = self._stream_arn
        self.records_read += len(records)
        if records:
            self.replicator.enqueue(self.region, records)
            with self._lock:
                self._pending.extend(records)
        self.caught_up = not records and not self.aggregates_pending()
        return len(records)

    def aggregates_pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def aggregate(self) -> int:
        """Invoke the aggregates Lambda on the pending records, 100 at a time, as the event
        source mapping does; a failed batch stays first in line and is retried whole."""
        done = 0
        while True:
            with self._lock:
                batch = self._pending[:AGGREGATES_BATCH]
            if not batch:
                return done
            try:
                self.runtime.invoke("aggregates", self.region, {"Records": batch})
            except Exception:  # noqa: BLE001 - Lambda retries the same batch; so do we
                self.batch_failures += 1
                log.exception("aggregates batch in %s failed; retrying it", self.region)
                return done
            with self._lock:
                del self._pending[: len(batch)]
            self.batches_applied += 1
            done += len(batch)
            self._save_checkpoint(batch[-1]["dynamodb"]["SequenceNumber"])


class ObjectReplicator:
    """New objects of the source region's document bucket, copied to the target region's one."""

    def __init__(self, config: DataPlaneConfig, control: ReplicationControl, lag: LagDistribution, replicator=None):
        self.config, self.control, self.lag = config, control, lag
        self.replicator = replicator  # shares the control state
        self.source = config.source_region
        self.target = config.target_region
        self.source_bucket = config.document_buckets.get(self.source, "")
        self.target_bucket = config.document_buckets.get(self.target, "")
        self._seen: dict[str, str] = {}  # key -> ETag copied or scheduled
        self._queue: list[tuple[float, str, str, float]] = []
        self.rng = random.Random()
        self.copied = 0
        self.lags_ms: deque[float] = deque(maxlen=1000)

    @property
    def enabled(self) -> bool:
        return bool(self.source_bucket and self.target_bucket)

    def scan(self) -> None:
        if not self.enabled:
            return
        state = self.replicator.state() if self.replicator else self.control.read()
        s3 = self.config.client("s3", self.source)
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=self.source_bucket)
        for page in pages:
            for obj in page.get("Contents", []):
                if self._seen.get(obj["Key"]) == obj["ETag"]:
                    continue
                self._seen[obj["Key"]] = obj["ETag"]
                if state.mode == "off":
                    continue
                created = obj["LastModified"].timestamp()
                due = created + (self.lag.sample_ms(self.rng) + state.extra_lag_ms) / 1000
                heapq.heappush(self._queue, (due, obj["Key"], obj["ETag"], created))

    def deliver_due(self) -> int:
        state = self.replicator.state() if self.replicator else self.control.read()
        if state.mode == "off":
            self._queue.clear()
            return 0
        if state.mode == "paused":
            return 0
        done = 0
        while self._queue and self._queue[0][0] <= time.time():
            _, key, _, created = heapq.heappop(self._queue)
            source = self.config.client("s3", self.source).get_object(Bucket=self.source_bucket, Key=key)
            self.config.client("s3", self.target).put_object(
                Bucket=self.target_bucket,
                Key=key,
                Body=source["Body"].read(),
                ContentType=source.get("ContentType", "binary/octet-stream"),
                Metadata={**source.get("Metadata", {}), "replicated-from": self.source},
            )
            self.copied += 1
            self.lags_ms.append((time.time() - created) * 1000)
            done += 1
        return done
