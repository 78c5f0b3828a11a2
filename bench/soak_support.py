"""The parts of bench/soak.py that are not the cutover itself: the data-plane process, the
resident-memory sampler and the tables it prints.

The data-plane process (``python -m bench.soak_support dataplane SPEC.json``) runs what
``make demo`` runs as threads (sandbox/dataplane: replication with its lag, the aggregates
consumers) plus traffic at the soak's rate through the real Lambda handlers, in a process of
its own so its memory is measured apart. The bench steers it through a commands file (one JSON
object a line: a fault to inject now, or ``stop``) and reads what it injected from a results
file (one JSON object a line), so faults are injected by the data plane's own fault functions,
in the thread that sends the traffic, on the bench's schedule.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

POLL_SECONDS = 0.5
STATUS_SECONDS = 5.0
# A replication stall with cross-region callbacks still arriving would make real duplicate debits
# (a callback in the other region before the marker's copy): the soak stops sending callbacks
# across regions this long before the stall and until this long after it, so every duplicate
# reconciliation finds is one the bench injected.
STALL_CALLBACK_MARGIN = 6.0
STALL_CALLBACK_AFTER = 15.0
INJECT_ATTEMPTS = 3


# --- the data-plane process ----------------------------------------------------------------------


def _append(path: Path, row: dict) -> None:
    with open(path, "a") as fh:
        fh.write(json.dumps(row) + "\n")
        fh.flush()


def dataplane_main(spec_path: str) -> int:
    """Run replication, the consumers and the traffic until a ``stop`` command or SIGTERM."""
    spec = json.loads(Path(spec_path).read_text())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")
    import django

    django.setup()
    from sandbox.dataplane.config import DataPlaneConfig, LagDistribution
    from sandbox.dataplane.plane import DataPlane
    from sandbox.dataplane.traffic import FAULTS, TrafficGenerator, TrafficProfile, fault_replication_pause

    config = DataPlaneConfig(**spec["config"])
    directory = Path(spec["directory"])
    commands, results = Path(spec["commands"]), Path(spec["results"])
    lag = LagDistribution(
        base_ms=tuple(spec["lag"]["base_ms"]),
        spike_ms=tuple(spec["lag"]["spike_ms"]),
        spike_share=float(spec["lag"]["spike_share"]),
    )
    plane = DataPlane(config, directory=directory, lag=lag, mode="on", seed=spec.get("seed"))
    plane.start()
    profile = TrafficProfile(
        rate=float(spec["rate"]),
        stale_share=float(spec["stale_share"]),
        callback_share=float(spec["callback_share"]),
        callback_delay=float(spec["callback_delay"]),
        cross_region_callback_share=float(spec["cross_region_callback_share"]),
    )
    gen = TrafficGenerator(config, plane.runtime, plane.control, profile, seed=spec.get("seed"))
    cross_share = profile.cross_region_callback_share
    offset = 0
    last_status = 0.0

    def status_row(kind: str) -> dict:
        return {"type": kind, "at": time.time(), "traffic": gen.summary(), "plane": plane.status()}

    def run_command(command: dict) -> None:
        kind = command["kind"]
        params = dict(command.get("params") or {})
        started = time.time()
        if kind == "replication_stall":
            seconds = float(params.get("duration", 20))
            gen.profile.cross_region_callback_share = 0.0

            def stall() -> None:
                fault_replication_pause(gen, duration=seconds)
                row = gen.injected[-1]
                _append(results, {"type": "injected", "command": command["id"], "row": vars(row)})

            def restore() -> None:
                gen.profile.cross_region_callback_share = cross_share

            gen.at(started + STALL_CALLBACK_MARGIN, stall)
            gen.at(started + STALL_CALLBACK_MARGIN + seconds + STALL_CALLBACK_AFTER, restore)
            return
        before = len(gen.injected)
        for attempt in range(1, INJECT_ATTEMPTS + 1):
            try:
                FAULTS[kind](gen, speed=1.0, **params)
                break
            except Exception as exc:  # noqa: BLE001 - the bench reports a fault that could not be injected
                # e.g. a duplicate debit whose race the slow sandbox lost (the marker's copy landed
                # before the callback): that request was answered as a replay and left nothing behind.
                _append(
                    results,
                    {"type": "error", "command": command["id"], "kind": kind, "attempt": attempt, "error": str(exc)},
                )
        for row in gen.injected[before:]:
            _append(results, {"type": "injected", "command": command["id"], "row": vars(row)})

    def poll() -> None:
        nonlocal offset, last_status
        try:
            with open(commands) as fh:
                fh.seek(offset)
                lines = fh.readlines()
                offset = fh.tell()
        except FileNotFoundError:
            lines = []
        for line in lines:
            if not line.strip():
                continue
            command = json.loads(line)
            if command["kind"] == "stop":
                gen.stop()
                return
            run_command(command)
        if time.time() - last_status >= STATUS_SECONDS:
            last_status = time.time()
            _append(results, status_row("status"))
        gen.at(time.time() + POLL_SECONDS, poll)

    signal.signal(signal.SIGTERM, lambda *_: gen.stop())
    gen.at(time.time(), poll)
    _append(results, {"type": "ready", "at": time.time(), "pid": os.getpid()})
    try:
        drive(gen, float(spec["rate"]))
    finally:
        settled = plane.wait_settled(timeout=30)
        row = status_row("final")
        row["settled"] = settled
        _append(results, row)
        plane.stop()
        plane.join(timeout=10)
    return 0


def drive(gen, rate: float) -> None:
    """Send ``rate`` transactions a second until stopped, running the scheduled actions
    (callbacks, faults, the bench's command poll) first whenever one is due, so they keep their
    times when the sandbox cannot keep up with the rate (no burst to catch up either)."""
    import heapq

    interval = 1.0 / rate
    gen.started = next_send = time.time()
    while not gen.stopped.is_set():
        now = time.time()
        if gen._heap and gen._heap[0][0] <= now:
            _, _, action = heapq.heappop(gen._heap)
            gen._safely(action)
        elif now >= next_send:
            gen._safely(gen.transaction)
            next_send = max(next_send + interval, now - 1.0)
        else:
            wake = min([next_send, *([gen._heap[0][0]] if gen._heap else [])])
            gen.stopped.wait(max(0.0, wake - now))


# --- resident memory -----------------------------------------------------------------------------


def rss_kib(pid: int) -> int | None:
    """VmRSS of a process in KiB from /proc (None once it has gone)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return None


def children_of(pid: int) -> list[int]:
    """Direct children of ``pid`` (the Celery worker's pool processes), from /proc."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            out.append(int(entry))
    return sorted(out)


@dataclass
class Series:
    name: str
    pid: int
    samples: list[tuple[float, int]] = field(default_factory=list)  # (monotonic, KiB)

    def at_or_after(self, moment: float) -> int | None:
        for t, v in self.samples:
            if t >= moment:
                return v
        return None


class RssSampler(threading.Thread):
    """Samples the RSS of named processes (and the children of those asked for) every few seconds."""

    def __init__(self, interval: float = 3.0):
        super().__init__(name="soak-rss", daemon=True)
        self.interval = interval
        self.roots: dict[str, tuple[int, bool]] = {}
        self.series: dict[str, Series] = {}
        self.marks: dict[str, float] = {}
        self.stopped = threading.Event()
        self._lock = threading.Lock()

    def watch(self, name: str, pid: int, *, children: bool = False) -> None:
        with self._lock:
            self.roots[name] = (pid, children)

    def mark(self, label: str) -> None:
        self.marks[label] = time.monotonic()

    def sample(self) -> None:
        now = time.monotonic()
        with self._lock:
            roots = dict(self.roots)
        for name, (pid, with_children) in roots.items():
            targets = [(name, pid)]
            if with_children:
                targets += [(f"{name}-child-{n}", child) for n, child in enumerate(children_of(pid), 1)]
            for label, target in targets:
                value = rss_kib(target)
                if value is None:
                    continue
                series = self.series.get(label)
                if series is None or series.pid != target:
                    # a replaced pool child gets a series of its own
                    label = label if series is None else f"{label}-pid{target}"
                    series = self.series.setdefault(label, Series(label, target))
                series.samples.append((now, value))

    def run(self) -> None:
        while not self.stopped.is_set():
            self.sample()
            self.stopped.wait(self.interval)

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=self.interval + 2)
        self.sample()

    def rows(self, *, window_mark: str | None = None, mid_seconds: float = 0.0) -> list[dict]:
        """Per process: first, peak and last sample (MiB), the sample at the mark ``window_mark``
        (the post-cutover window's start) and ``mid_seconds`` after it (its middle)."""
        out = []
        for series in self.series.values():
            if not series.samples:
                continue
            values = [v for _, v in series.samples]
            start = self.marks.get(window_mark) if window_mark else None
            mid = series.at_or_after(start) if start is not None else None
            middle = series.at_or_after(start + mid_seconds) if start is not None else None
            out.append(
                {
                    "process": series.name,
                    "pid": series.pid,
                    "samples": len(values),
                    "start_mib": values[0] / 1024,
                    "window_start_mib": (mid / 1024) if mid is not None else None,
                    "window_mid_mib": (middle / 1024) if middle is not None else None,
                    "peak_mib": max(values) / 1024,
                    "end_mib": values[-1] / 1024,
                }
            )
        return out


# --- tables --------------------------------------------------------------------------------------


def table(rows: list[list[str]], header: list[str], *, right: set[int] | None = None) -> str:
    """A Markdown table (so the printed output pastes into docs/performance.md as it is)."""
    right = right or set()
    cells = [header, *rows]
    widths = [max(len(str(r[i])) for r in cells) for i in range(len(header))]

    def line(row: list[str]) -> str:
        parts = [
            str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "| " + " | ".join(parts) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if i in right else ("-" * (w + 2)) for i, w in enumerate(widths)) + "|"
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "dataplane":
        sys.exit(dataplane_main(sys.argv[2]))
    sys.exit("usage: python -m bench.soak_support dataplane SPEC.json")
