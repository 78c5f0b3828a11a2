"""``manage.py sandbox_replication pause|resume|off|on|status``: steer the sandbox replication.

Writes the environment's control file, which the running data plane (the demo's, or a test's)
re-reads at once: ``pause`` holds copies back (they land, late, on ``resume``); ``off`` discards
them (a test or harness then writes both regions' copies itself); ``on``/``resume`` replicate
again. ``--extra-lag-ms`` adds a delay to every copy. ``status`` prints the running replicator's
state, queue and measured lag.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from sandbox.dataplane.config import DataPlaneError, ReplicationControl

ACTIONS = {"pause": "paused", "resume": "on", "on": "on", "off": "off", "status": None}


class Command(BaseCommand):
    help = "Pause, resume, switch off or on the sandbox replication, or show its status."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=sorted(ACTIONS))
        parser.add_argument("--environment", default="sandbox")
        parser.add_argument("--extra-lag-ms", type=float, help="added to every copy's lag (0 to remove)")

    def handle(self, *args, action, environment, extra_lag_ms, **options):
        control = ReplicationControl(settings.SANDBOX_DATAPLANE_DIR, environment)
        try:
            changes = {}
            if ACTIONS[action] is not None:
                changes["mode"] = ACTIONS[action]
            if extra_lag_ms is not None:
                if extra_lag_ms < 0:
                    raise CommandError("--extra-lag-ms must not be negative")
                changes["extra_lag_ms"] = extra_lag_ms
            state = control.update(**changes) if changes else control.read()
        except DataPlaneError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"replication of {environment}: {state.mode}, extra lag {state.extra_lag_ms:g} ms")
        status = control.status()
        if status is None:
            self.stdout.write("no data plane is running for it (start `make demo`, or a scenario starts its own)")
        elif action == "status":
            self.stdout.write(json.dumps({k: v for k, v in status.items() if k != "at"}, indent=1))
