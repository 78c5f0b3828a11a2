"""What reconciliation tests share: two regions' ledgers written by hand, and an active cutover."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from migrations_app.models import Execution, Gate
from reconciliation import selectors
from sandbox import ledger_fixture


class Ledger:
    """Both regions' transactions and aggregates tables of one environment, written directly
    (no replication runs: the test decides what each region holds)."""

    def __init__(self, environment):
        self.environment = environment
        self.a, self.b = environment.source_region, environment.target_region
        for region in (self.a, self.b):
            ledger_fixture.tables_ensure(target=environment.aws_target(region), environment_name=environment.name)

    def item(self, *, created_at: datetime, origin: str | None = None, **fields) -> dict:
        return ledger_fixture.transaction_item(
            created_at=created_at,
            origin_region=origin or self.a,
            window_seconds=settings.RECONCILIATION_WINDOW_SECONDS,
            buckets=settings.RECONCILIATION_BUCKETS,
            **fields,
        )

    def hold(self, region: str, items: list[dict]) -> None:
        """``region`` holds exactly ``items`` for their windows (items and the consumer's aggregates)."""
        ledger_fixture.region_write(
            target=self.environment.aws_target(region),
            environment_name=self.environment.name,
            items=items,
            buckets=settings.RECONCILIATION_BUCKETS,
        )

    def aggregates(self, region: str, rows: list[dict]) -> None:
        ledger_fixture.aggregates_write(
            target=self.environment.aws_target(region), environment_name=self.environment.name, rows=rows
        )


def closed_window(*, closed_for: float = 0.0, now: datetime | None = None) -> datetime:
    now = now or timezone.now()
    return selectors.window_floor(now - timedelta(seconds=closed_for)) - timedelta(
        seconds=settings.RECONCILIATION_WINDOW_SECONDS
    )


def activate(environment, user, *, shifted_at: datetime) -> Execution:
    """A running cutover whose first gate (10 % to the target) was approved at ``shifted_at``."""
    execution = Execution.objects.create(
        environment=environment,
        name=f"{environment.name}-exec",
        status=Execution.Status.RUNNING,
        plan={"version": 1, "steps": [{"target_weight": 10}, {"target_weight": 100}], "window_seconds": 60},
        started_by=user,
        started_at=shifted_at - timedelta(seconds=5),
    )
    Gate.objects.create(
        execution=execution,
        state_name="Gate1",
        entered_at=shifted_at.isoformat(),
        step=1,
        target_weights={environment.source_region: 90, environment.target_region: 10},
        task_token="t" * 40,
        status=Gate.Status.APPROVED,
        arrived_at=shifted_at - timedelta(seconds=1),
        decided_at=shifted_at,
    )
    return execution
