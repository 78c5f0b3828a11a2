"""What the data plane runs against, its lag distribution, and its control and status files.

The data plane may run in one process (``make demo``) and be steered from another
(``manage.py sandbox_replication``, ``manage.py sandbox_scenario``, a test): the steering goes
through a small JSON control file per environment, which the replicator re-reads when it
changes, and the replicator writes a status file every second. No broker, no port.
"""

from __future__ import annotations

import json
import os
import random
import re
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import boto3
from botocore.config import Config

from controlplane.aws.clients import SANDBOX_CREDENTIALS

MODES = ("on", "paused", "off")
_RANGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)\s*$")


class DataPlaneError(RuntimeError):
    """The data plane cannot do what was asked; the message says why."""


def parse_range(text: str, what: str) -> tuple[float, float]:
    match = _RANGE.match(text or "")
    if not match:
        raise DataPlaneError(f"{what} must look like LOW-HIGH in milliseconds (e.g. 100-300), not {text!r}")
    low, high = float(match[1]), float(match[2])
    if low > high:
        raise DataPlaneError(f"{what}: LOW ({low:g}) is above HIGH ({high:g})")
    return low, high


@dataclass(frozen=True)
class LagDistribution:
    """Uniform in ``base_ms``; with probability ``spike_share`` uniform in ``spike_ms`` instead."""

    base_ms: tuple[float, float] = (100.0, 300.0)
    spike_ms: tuple[float, float] = (600.0, 1500.0)
    spike_share: float = 0.02

    @classmethod
    def from_settings(cls) -> LagDistribution:
        from django.conf import settings

        share = settings.SANDBOX_REPLICATION_SPIKE_SHARE
        if not 0 <= share <= 1:
            raise DataPlaneError(f"SANDBOX_REPLICATION_SPIKE_SHARE must be between 0 and 1, not {share}")
        return cls(
            base_ms=parse_range(settings.SANDBOX_REPLICATION_LAG_MS, "SANDBOX_REPLICATION_LAG_MS"),
            spike_ms=parse_range(settings.SANDBOX_REPLICATION_SPIKE_MS, "SANDBOX_REPLICATION_SPIKE_MS"),
            spike_share=share,
        )

    def sample_ms(self, rng: random.Random) -> float:
        low, high = self.spike_ms if rng.random() < self.spike_share else self.base_ms
        return rng.uniform(low, high)


@dataclass(frozen=True)
class DataPlaneConfig:
    """One environment's data plane: names as the stacks create them (storage, data, events)."""

    environment: str
    endpoint: str
    source_region: str
    target_region: str
    event_buses: dict[str, str]  # region -> this region's cutover bus
    document_buckets: dict[str, str]  # region -> document bucket
    hosted_zone_id: str = ""
    record_name: str = ""
    window_seconds: int = 900
    shards: int = 2048

    @property
    def regions(self) -> tuple[str, str]:
        return (self.source_region, self.target_region)

    @property
    def transactions_table(self) -> str:
        return f"{self.environment}-transactions"

    @property
    def aggregates_table(self) -> str:
        return f"{self.environment}-aggregates"

    def peer(self, region: str) -> str:
        return self.target_region if region == self.source_region else self.source_region

    @classmethod
    def from_environment(cls, environment) -> DataPlaneConfig:
        """From an Environment row whose stacks are deployed (events, storage, data)."""
        from django.conf import settings

        from migrations_app.deployments import outputs_known

        if not environment.aws_endpoint_url:
            raise DataPlaneError(
                f"environment {environment.name} is not in the sandbox: the data plane runs on moto only"
            )
        known = outputs_known(environment=environment)
        buses, buckets = {}, {}
        for role in ("source", "target"):
            region = environment.region_for(role)
            bus = known.get(f"events-{role}", {}).get("EventBusName")
            if not bus or not known.get("data"):
                raise DataPlaneError(f"environment {environment.name} is not deployed yet (no events/data stacks)")
            buses[region] = bus
            buckets[region] = known.get(f"storage-{role}", {}).get("DocumentBucketName", "")
        return cls(
            environment=environment.name,
            endpoint=environment.aws_endpoint_url,
            source_region=environment.source_region,
            target_region=environment.target_region,
            event_buses=buses,
            document_buckets=buckets,
            hosted_zone_id=environment.hosted_zone_id,
            record_name=environment.record_name,
            window_seconds=settings.RECONCILIATION_WINDOW_SECONDS,
            shards=settings.RECONCILIATION_BUCKETS,
        )

    def client(self, service: str, region: str):
        return _client(self.endpoint, service, region)


# The Lambda runtime (sandbox.dataplane.lambdas) sets and restores os.environ around every
# invocation; botocore reads os.environ while it makes a client, so clients are made under the
# same lock, once per (endpoint, service, region), and shared (boto3 clients are thread-safe).
ENV_LOCK = threading.RLock()
_clients: dict[tuple[str, str, str], object] = {}


def _client(endpoint: str, service: str, region: str):
    key = (endpoint, service, region)
    with ENV_LOCK:
        if key not in _clients:
            _clients[key] = boto3.session.Session().client(
                service,
                region_name=region,
                endpoint_url=endpoint,
                aws_access_key_id=SANDBOX_CREDENTIALS.access_key_id,
                aws_secret_access_key=SANDBOX_CREDENTIALS.secret_access_key,
                config=Config(retries={"max_attempts": 2, "mode": "standard"}, max_pool_connections=8),
            )
        return _clients[key]


# --- control and status files -------------------------------------------------------------------


@dataclass
class ReplicationState:
    """What the replicator is told to do. Keys are idempotency keys: a fault names the request
    before the Lambda has made the transaction id, and both items of the request carry the key
    (the transaction as ``idempotencyKey``, the marker as ``idem#<key>``)."""

    mode: str = "on"
    extra_lag_ms: float = 0.0
    drop: list[str] = field(default_factory=list)  # never replicate these keys' transaction items
    hold: dict[str, float] = field(default_factory=dict)  # key -> epoch seconds before which nothing lands

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise DataPlaneError(f"replication mode must be one of {', '.join(MODES)}, not {self.mode!r}")


def _atomic_write(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(payload, fh, indent=1, sort_keys=True)
    os.replace(tmp, path)


class ReplicationControl:
    """The control file of one environment's replicator (``<dir>/<env>-control.json``)."""

    def __init__(self, directory: Path, environment: str):
        self.path = Path(directory) / f"{environment}-control.json"
        self.status_path = Path(directory) / f"{environment}-status.json"

    def read(self) -> ReplicationState:
        try:
            raw = json.loads(self.path.read_text())
        except FileNotFoundError:
            return ReplicationState()
        except (OSError, ValueError) as exc:
            raise DataPlaneError(f"{self.path} is not readable JSON: {exc}") from exc
        return ReplicationState(
            mode=raw.get("mode", "on"),
            extra_lag_ms=float(raw.get("extra_lag_ms", 0)),
            drop=list(raw.get("drop", [])),
            hold={k: float(v) for k, v in (raw.get("hold") or {}).items()},
        )

    def write(self, state: ReplicationState) -> None:
        now = time.time()
        state.hold = {k: v for k, v in state.hold.items() if v > now - 60}  # expired holds go
        _atomic_write(self.path, asdict(state))

    def mtime(self) -> float:
        try:
            return self.path.stat().st_mtime_ns / 1e9
        except FileNotFoundError:
            return 0.0

    def update(self, **changes) -> ReplicationState:
        state = self.read()
        for name, value in changes.items():
            setattr(state, name, value)
        ReplicationState(mode=state.mode)  # validates
        self.write(state)
        return state

    def set_mode(self, mode: str) -> ReplicationState:
        return self.update(mode=mode)

    def add_drop(self, key: str) -> None:
        state = self.read()
        state.drop = [*state.drop, key][-1000:]
        self.write(state)

    def add_hold(self, key: str, until: float) -> None:
        state = self.read()
        state.hold[key] = until
        self.write(state)

    # --- status, written by the running replicator ---

    def status_write(self, status: dict) -> None:
        _atomic_write(self.status_path, status)

    def status(self) -> dict | None:
        """The running replicator's last status, or None if none wrote one in the last 5 s."""
        try:
            raw = json.loads(self.status_path.read_text())
        except (OSError, ValueError):
            return None
        if time.time() - float(raw.get("at", 0)) > 5:
            return None
        return raw
