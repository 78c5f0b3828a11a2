"""Celery tasks of reconciliation: thin, they call one service."""

from __future__ import annotations

import logging

from celery import shared_task

from audit.origin import system_origin
from reconciliation import services

log = logging.getLogger(__name__)


@shared_task(acks_late=True)
def reconciliation_cycle_task() -> dict:
    """Beat: reconcile every due window of every environment whose reconciliation is active.

    Overlap is safe: each window's run row is claimed with a lease, so a second tick skips
    what the first holds. A failed run (AWS error) is retried by the next tick.
    """
    with system_origin("reconciliation"):
        report = services.reconciliation_cycle()
    summary = {
        "environments": report.environments,
        "runs": len(report.runs),
        "by_status": {},
    }
    for run in report.runs:
        summary["by_status"][run.status] = summary["by_status"].get(run.status, 0) + 1
    log.info("reconciliation cycle: %s", summary)
    return summary
