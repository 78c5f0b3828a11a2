"""The data plane of one sandbox environment: replication + stream consumers, in threads.

One thread per region reads that region's stream; one delivers copies when their lag runs out
(it sleeps until the next one is due, so a copy lands on time whatever the polling does); one
invokes the aggregates Lambda on what the streams delivered (Lambda invocations share one lock
with the traffic, and replication must not wait for it); one does the housekeeping (document
bucket, metric, status file) every second. Pollers sleep ``idle_sleep`` when they find nothing,
so an idle demo costs little CPU.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from .config import DataPlaneConfig, LagDistribution, ReplicationControl, ReplicationState
from .lambdas import LambdaRuntime
from .replication import ObjectReplicator, StreamFollower, TableReplicator

log = logging.getLogger("sandbox.dataplane")

METRICS_INTERVAL = 5.0
S3_SCAN_INTERVAL = 2.0
STATUS_INTERVAL = 1.0


class DataPlane(threading.Thread):
    def __init__(
        self,
        config: DataPlaneConfig,
        *,
        directory: Path,
        lag: LagDistribution | None = None,
        mode: str | None = None,
        reset: bool = False,
        idle_sleep: float = 0.1,
        seed: int | None = None,
    ):
        super().__init__(name=f"sandbox-dataplane-{config.environment}", daemon=True)
        self.config = config
        self.control = ReplicationControl(directory, config.environment)
        checkpoints = Path(directory) / f"{config.environment}-checkpoints.json"
        if reset:  # a fresh sandbox: no faults left over from a previous run, streams read from the start
            self.control.write(ReplicationState(mode=mode or "on"))
            checkpoints.unlink(missing_ok=True)
        elif mode is not None:
            self.control.update(mode=mode)
        self.lag = lag or LagDistribution()
        self.runtime = LambdaRuntime(config)
        self.replicator = TableReplicator(config, self.control, self.lag, seed=seed)
        self.followers = [
            StreamFollower(
                config,
                region,
                replicator=self.replicator,
                runtime=self.runtime,
                checkpoints=checkpoints,
            )
            for region in config.regions
        ]
        self.objects = ObjectReplicator(config, self.control, self.lag, replicator=self.replicator)
        self.idle_sleep = idle_sleep
        self.stopped = threading.Event()
        self.errors = 0
        name = config.environment
        self._workers = [
            threading.Thread(target=self._loop, args=(self._deliver,), name=f"sandbox-deliver-{name}", daemon=True),
            threading.Thread(
                target=self._loop, args=(self._aggregate,), name=f"sandbox-aggregates-{name}", daemon=True
            ),
            *(
                threading.Thread(
                    target=self._loop, args=(f.poll,), name=f"sandbox-stream-{f.region}-{name}", daemon=True
                )
                for f in self.followers
            ),
        ]

    def start(self) -> None:
        super().start()
        for worker in self._workers:
            worker.start()

    def join(self, timeout: float | None = None) -> None:
        super().join(timeout)
        for worker in self._workers:
            worker.join(timeout)

    def _loop(self, step) -> None:
        """Run ``step`` until stopped: again at once while it finds work, after ``idle_sleep`` when not."""
        while not self.stopped.is_set():
            try:
                busy = step()
            except Exception:  # noqa: BLE001 - moto restarting or stopping: keep trying
                self.errors += 1
                log.exception("data plane step %s failed; retrying", getattr(step, "__name__", step))
                busy = 0
            self.stopped.wait(0.01 if busy else self.idle_sleep)

    def _deliver(self) -> int:
        """Deliver what is due, then sleep until the next copy is due (at most ``idle_sleep``)."""
        done = self.replicator.deliver_due()
        if not done:
            wait = self.replicator.next_due() - time.time()
            self.replicator.enqueued.wait(max(0.0, min(wait, self.idle_sleep)))  # new copies wake it
            self.replicator.enqueued.clear()
            return 1  # looked again right away by _loop
        return done

    def _aggregate(self) -> int:
        return sum(follower.aggregate() for follower in self.followers)

    def run(self) -> None:
        """Housekeeping: the document bucket, the ReplicationLatency metric, the status file."""
        last_metrics = last_scan = 0.0
        while not self.stopped.is_set():
            try:
                now = time.monotonic()
                if now - last_scan >= S3_SCAN_INTERVAL:
                    last_scan = now
                    self.objects.scan()
                self.objects.deliver_due()
                if now - last_metrics >= METRICS_INTERVAL:
                    last_metrics = now
                    self.replicator.publish_metrics()
                self.control.status_write(self.status())
            except Exception:  # noqa: BLE001 - moto restarting or stopping: keep trying
                self.errors += 1
                log.exception("data plane housekeeping failed; retrying")
            self.stopped.wait(STATUS_INTERVAL)
        try:
            self.replicator.publish_metrics()
        except Exception:  # noqa: BLE001 - stopping with the sandbox
            pass

    def stop(self) -> None:
        self.stopped.set()

    def status(self) -> dict:
        return {
            "at": time.time(),
            "environment": self.config.environment,
            **self.replicator.status(),
            "streams": {
                f.region: {
                    "records": f.records_read,
                    "aggregate_batches": f.batches_applied,
                    "aggregate_failures": f.batch_failures,
                }
                for f in self.followers
            },
            "objects_copied": self.objects.copied,
            "errors": self.errors,
        }

    def settled(self) -> bool:
        """Nothing queued (or everything held back by a pause) and both streams read to the end."""
        paused = self.replicator.state().mode == "paused"
        return all(f.caught_up for f in self.followers) and (paused or self.replicator.queued() == 0)

    def wait_settled(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        time.sleep(0.1)
        while time.monotonic() < deadline:
            if self.settled():
                time.sleep(self.idle_sleep + 0.2)  # one more round: copies that just landed are read
                if self.settled():
                    return True
            time.sleep(0.05)
        return False
