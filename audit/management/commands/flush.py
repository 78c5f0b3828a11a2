"""``flush`` that may empty the append-only audit table, and only where that is allowed.

Django's flush (and pytest-django between transactional tests) empties every table: with
TRUNCATE on PostgreSQL, which the audit trigger refuses unless the session says
``audit.maintenance = 'flush'``; with DELETE on SQLite, which the trigger refuses unless
``audit_flush_permitted()`` answers 1. This command sets both, for its own run only, when
``AUDIT_FLUSH_ALLOWED`` is on (the test settings; never production).
"""

from django.conf import settings
from django.core.management.base import CommandError
from django.core.management.commands import flush
from django.db import connections

from audit.immutability import flush_permitted


class Command(flush.Command):
    help = flush.Command.help + " Refused unless AUDIT_FLUSH_ALLOWED is on, since it erases the audit trail."

    def handle(self, **options):
        if not settings.AUDIT_FLUSH_ALLOWED:
            raise CommandError(
                "flush would erase the append-only audit trail; it is refused unless AUDIT_FLUSH_ALLOWED=true "
                "(test databases only)."
            )
        with flush_permitted(connections[options["database"]]):
            return super().handle(**options)
