"""Personal API tokens from the command line, for scripts:

    manage.py api_token create USERNAME [--name NAME] [--expires-in DAYS]   prints the token
    manage.py api_token list USERNAME
    manage.py api_token revoke PREFIX

A token made here acts as USERNAME with their current roles, but never decides a gate: no IdP
sign-in of that person vouches for it (see docs/decisions/0025-api-tokens-and-fresh-sign-in.md).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from audit.origin import system_origin
from controlplane.accounts.models import ApiToken, User
from controlplane.accounts.tokens import api_token_create, api_token_list, api_token_revoke


class Command(BaseCommand):
    help = "Create, list or revoke personal API tokens."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Issue a token for USERNAME and print it once.")
        create.add_argument("username")
        create.add_argument("--name", default="command line", help="What the token is for.")
        create.add_argument("--expires-in", type=int, default=None, metavar="DAYS", help="Days until it expires.")
        listing = sub.add_parser("list", help="USERNAME's tokens (prefixes only).")
        listing.add_argument("username")
        revoke = sub.add_parser("revoke", help="Revoke the token with PREFIX.")
        revoke.add_argument("prefix")

    def handle(self, *args, action: str, **options):
        with system_origin("manage.py api_token"):
            getattr(self, f"_{action}")(**options)

    def _user(self, username: str) -> User:
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}: they must have signed in through SSO once.")
        if not user.is_active:
            raise CommandError(f"User {username!r} is deactivated.")
        return user

    def _create(self, *, username: str, name: str, expires_in: int | None, **_):
        user = self._user(username)
        try:
            issued = api_token_create(
                user=user, actor=None, name=name, expires_in_days=expires_in, created_via="command"
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if not user.roles:
            self.stderr.write(f"warning: {username} holds no role now; the token is refused until they get one.")
        self.stderr.write(
            f"token {issued.token.prefix} for {username}, expires {issued.token.expires_at:%Y-%m-%d %H:%M} UTC "
            "(it cannot decide gates: create one on the profile page after signing in for that)"
        )
        self.stdout.write(issued.secret)

    def _list(self, *, username: str, **_):
        now = timezone.now()
        for t in api_token_list(user=self._user(username)):
            self.stdout.write(
                f"{t.prefix}  {t.status(now):8}  expires {t.expires_at:%Y-%m-%d %H:%M}  {t.created_via:8}  {t.name}"
            )

    def _revoke(self, *, prefix: str, **_):
        token = ApiToken.objects.filter(prefix=prefix).first()
        if token is None:
            raise CommandError(f"No token with prefix {prefix!r}.")
        try:
            api_token_revoke(token=token, actor=None)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"revoked {prefix}")
