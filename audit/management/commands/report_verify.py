"""``manage.py report_verify PACK.zip``: recompute a report pack and say which part fails."""

from django.core.management.base import BaseCommand, CommandError

from audit.manifest import pack_verify


class Command(BaseCommand):
    help = (
        "Check a report pack: the manifest's signatures, every file's SHA-256, and each audit entry's hash and "
        "link. Exits 1 naming the failing file or signature."
    )

    def add_arguments(self, parser):
        parser.add_argument("pack", help="Path of the pack's ZIP file")

    def handle(self, pack, **options):
        check = pack_verify(pack)
        for line in check.passed:
            self.stdout.write(f"ok    {line}")
        if not check.ok:
            raise CommandError("\n".join(f"FAIL  {line}" for line in check.failures))
        self.stdout.write(self.style.SUCCESS(f"{pack}: verified"))
