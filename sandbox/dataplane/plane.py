"""The data plane of one sandbox environment: replication + stream consumers, in two threads.

The replication thread polls both regions' streams, delivers the copies whose lag has run out,
scans the document bucket, and writes the status file; the aggregates thread invokes the
aggregates Lambda on what the streams delivered (Lambda invocations share one lock with the
traffic, and replication must not wait for it). Both sleep 50 ms while there is work and up to
``idle_sleep`` when there is none, so an idle demo costs little CPU.
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
        self._aggregator = threading.Thread(
            target=self._aggregate_loop, name=f"sandbox-aggregates-{config.environment}", daemon=True
        )

    def start(self) -> None:
        super().start()
        self._aggregator.start()

    def _aggregate_loop(self) -> None:
        while not self.stopped.is_set():
            done = 0
            for follower in self.followers:
                done += follower.aggregate()
            self.stopped.wait(0.05 if done else self.idle_sleep)

    def join(self, timeout: float | None = None) -> None:
        super().join(timeout)
        self._aggregator.join(timeout)

    def run(self) -> None:
        last_metrics = last_scan = last_status = 0.0
        while not self.stopped.is_set():
            busy = 0
            try:
                for follower in self.followers:
                    busy += follower.poll()
                busy += self.replicator.deliver_due()
                now = time.monotonic()
                if now - last_scan >= S3_SCAN_INTERVAL:
                    last_scan = now
                    self.objects.scan()
                busy += self.objects.deliver_due()
                if now - last_metrics >= METRICS_INTERVAL:
                    last_metrics = now
                    self.replicator.publish_metrics()
                if now - last_status >= STATUS_INTERVAL:
                    last_status = now
                    self.control.status_write(self.status())
            except Exception:  # noqa: BLE001 - moto restarting or stopping: keep trying
                self.errors += 1
                log.exception("data plane loop failed; retrying")
                busy = 0
            if self.replicator.queued() or busy:
                self.stopped.wait(0.05)
            else:
                self.stopped.wait(self.idle_sleep)
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
