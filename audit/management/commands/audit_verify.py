"""``manage.py audit_verify``: walk the audit hash chain and name the first broken link."""

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from audit.immutability import triggers_install, triggers_remove
from audit.verification import audit_chain_verify


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain and append-only triggers; exit 1 naming the first broken link."

    def add_arguments(self, parser):
        parser.add_argument(
            "--install-triggers",
            action="store_true",
            help="(Re)create the append-only triggers first (after a SQLite table rebuild dropped them).",
        )

    def handle(self, install_triggers=False, **options):
        if install_triggers:
            with transaction.atomic():
                triggers_remove(connection)
                triggers_install(connection)
            self.stdout.write("append-only triggers installed")
        report = audit_chain_verify()
        problems = []
        if report.first_break is not None:
            problems.append(f"audit chain BROKEN at {report.first_break} (checked {report.checked} entries)")
        if report.missing_triggers:
            problems.append(
                "append-only triggers missing on audit_auditevent: "
                + ", ".join(report.missing_triggers)
                + " (re-create them with `audit_verify --install-triggers`: see docs/runbook.md)"
            )
        if problems:
            raise CommandError("\n".join(problems))
        self.stdout.write(
            f"audit chain intact: {report.checked} entries, head #{report.last_event_id} {report.last_hash}"
        )
