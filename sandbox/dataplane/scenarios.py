"""Scenarios: traffic and faults described in files (``sandbox/scenarios/<name>.toml``).

A scenario file holds::

    description = "..."
    rate = 5.0                       # API transactions per second
    duration = 30                    # seconds (divided by --speed)
    stale_share = 0.08               # share of stale resolvers (pre-cutover weights)
    callback_share = 0.3             # share of transactions followed by a webhook callback
    callback_delay = 5.0             # seconds (NOT divided by --speed: it is compared with the lag)
    cross_region_callback_share = 0.2
    [weights]                        # optional: by role (source/target) or region; default: Route 53, live
    source = 10
    target = 90
    [[faults]]
    at = 10                          # seconds after the start (divided by --speed)
    kind = "duplicate_debit"         # a key of sandbox.dataplane.traffic.FAULTS
    first_region = "source"          # further keys are the fault's parameters

``run_scenario`` runs one against an environment's data plane (an already running one, found by
its status file, e.g. the demo's; otherwise one started here for the run), waits for
replication to settle, and returns the report: what was injected, the traffic sent, the lag.

The report (also the JSON file of ``manage.py sandbox_scenario``): ``scenario``, ``environment``,
``regions`` {source, target}, ``speed``, ``started_at``/``finished_at`` (UTC), ``window_seconds``,
``buckets``, ``traffic`` (counts, by region, statuses, requests/s), ``replication`` (settled,
mode, lag_ms p50/p99 of the run's copies, counts), and ``injected``: one object per fault with
``at`` (ISO time), ``offset`` (s), ``fault``, ``expect`` (``duplicate_debit``,
``missing_in_region`` with ``missing_in``, ``conflicting_version``, or ``lag``: nothing should
remain once replication has caught up), ``regions``, ``transaction_ids``, ``idempotency_key``,
``windows`` and ``buckets`` (of the items involved), ``detail``.
"""

from __future__ import annotations

import inspect
import json
import time
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from .config import DataPlaneConfig, DataPlaneError, LagDistribution, ReplicationControl
from .lambdas import LambdaRuntime
from .plane import DataPlane
from .traffic import FAULTS, TrafficGenerator, TrafficProfile, injected_rows

SCENARIOS_DIR = Path(__file__).resolve().parent.parent / "scenarios"
PROFILE_KEYS = ("rate", "stale_share", "callback_share", "callback_delay", "cross_region_callback_share")


@dataclass
class Scenario:
    name: str
    description: str
    duration: float
    profile: dict
    weights: dict[str, int] | None
    stale_weights: dict[str, int] | None
    faults: list[dict] = field(default_factory=list)


def scenario_names() -> list[str]:
    return sorted(p.stem for p in SCENARIOS_DIR.glob("*.toml"))


def scenario_load(name: str, directory: Path = SCENARIOS_DIR) -> Scenario:
    path = Path(directory) / f"{name}.toml"
    if not path.is_file():
        raise DataPlaneError(f"no scenario {name!r}; known: {', '.join(scenario_names()) or 'none'}")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise DataPlaneError(f"{path.name} is not valid TOML: {exc}") from exc
    unknown = set(raw) - {"description", "duration", "weights", "stale_weights", "faults", *PROFILE_KEYS}
    if unknown:
        raise DataPlaneError(f"{path.name}: unknown settings {', '.join(sorted(unknown))}")
    duration = raw.get("duration")
    if not isinstance(duration, int | float) or duration <= 0:
        raise DataPlaneError(f"{path.name}: duration must be a positive number of seconds")
    faults = raw.get("faults", [])
    for number, fault in enumerate(faults, 1):
        kind = fault.get("kind")
        if kind not in FAULTS:
            raise DataPlaneError(f"{path.name}: fault {number} has kind {kind!r}; known: {', '.join(FAULTS)}")
        at = fault.get("at")
        if not isinstance(at, int | float) or not 0 <= at <= duration:
            raise DataPlaneError(f"{path.name}: fault {number} needs `at` between 0 and the duration ({duration})")
        accepted = set(inspect.signature(FAULTS[kind]).parameters) - {"gen", "speed"}
        extra = set(fault) - {"kind", "at"} - accepted
        if extra:
            raise DataPlaneError(
                f"{path.name}: fault {number} ({kind}) does not take {', '.join(sorted(extra))}; "
                f"it takes {', '.join(sorted(accepted)) or 'nothing'}"
            )
    profile = {k: raw[k] for k in PROFILE_KEYS if k in raw}
    TrafficProfile(**profile).check()
    return Scenario(
        name=name,
        description=str(raw.get("description", "")),
        duration=float(duration),
        profile=profile,
        weights=raw.get("weights"),
        stale_weights=raw.get("stale_weights"),
        faults=sorted(faults, key=lambda f: f["at"]),
    )


def _by_region(config: DataPlaneConfig, weights: dict[str, int] | None) -> dict[str, int] | None:
    if weights is None:
        return None
    out = {}
    for name, weight in weights.items():
        region = {"source": config.source_region, "target": config.target_region}.get(name, name)
        if region not in config.regions:
            raise DataPlaneError(f"weights name {name!r}, which is neither source, target nor a region of the plane")
        out[region] = int(weight)
    return out


def run_scenario(
    scenario: Scenario,
    *,
    config: DataPlaneConfig,
    directory: Path,
    speed: float = 1.0,
    lag: LagDistribution | None = None,
    plane: DataPlane | None = None,
    seed: int | None = None,
    settle_timeout: float = 30.0,
) -> dict:
    """Run ``scenario`` and return its report (see the module docstring)."""
    if speed <= 0:
        raise DataPlaneError(f"speed must be positive, not {speed}")
    control = ReplicationControl(directory, config.environment)
    own_plane = None
    if plane is None and control.status() is None:
        own_plane = plane = DataPlane(config, directory=directory, lag=lag, seed=seed)
        plane.start()
    runtime = plane.runtime if plane is not None else LambdaRuntime(config)
    profile = TrafficProfile(
        **scenario.profile,
        weights=_by_region(config, scenario.weights),
        stale_weights=_by_region(config, scenario.stale_weights),
    )
    generator = TrafficGenerator(config, runtime, control, profile, seed=seed)
    started = datetime.now(UTC)
    base = time.time()
    for fault in scenario.faults:
        params = {k: v for k, v in fault.items() if k not in ("kind", "at")}
        function = FAULTS[fault["kind"]]
        generator.at(base + fault["at"] / speed, lambda f=function, p=params: f(generator, speed=speed, **p))
    try:
        generator.run(scenario.duration / speed)
        settled = _settle(control, plane, settle_timeout)
    finally:
        if own_plane is not None:
            own_plane.stop()
            own_plane.join(timeout=10)
    status = (plane.status() if plane is not None else control.status()) or {}
    # An outside plane (the demo's) reports the copies of its last minute: the run and the settling.
    lag = plane.replicator.lag_since(base) if plane is not None else status.get("lag_ms_last_minute")
    return {
        "scenario": scenario.name,
        "description": scenario.description,
        "environment": config.environment,
        "regions": {"source": config.source_region, "target": config.target_region},
        "speed": speed,
        "started_at": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "finished_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "window_seconds": config.window_seconds,
        "buckets": config.shards,
        "traffic": generator.summary(),
        "replication": {
            "settled": settled,
            "mode": status.get("mode"),
            "lag_ms": lag,
            "counts": status.get("counts"),
        },
        "injected": injected_rows(generator.injected),
    }


def _settle(control: ReplicationControl, plane: DataPlane | None, timeout: float) -> bool:
    """Wait until the copies still queued have landed (the report describes the end state)."""
    if plane is not None:
        return plane.wait_settled(timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = control.status()
        if status is not None and status.get("queued") == 0:
            time.sleep(1.5)
            return True
        time.sleep(0.2)
    return False


def report_table(report: dict) -> str:
    rows = [("time", "+s", "fault", "expect", "regions", "transaction ids", "idempotency key")]
    for row in report["injected"]:
        rows.append(
            (
                row["at"],
                f"{row['offset']:.1f}",
                row["fault"],
                row["expect"],
                " → ".join(row["regions"]),
                ", ".join(row["transaction_ids"]) or "-",
                row["idempotency_key"] or "-",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def report_write(report: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1))
    return path
