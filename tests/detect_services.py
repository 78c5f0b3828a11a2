"""Print shell exports pointing the tests at PostgreSQL and Redis when they are reachable.

``make test`` evaluates the output. Variables already set are left alone, so CI (which sets
them) and a developer who wants SQLite (``DATABASE_URL=sqlite:///var/dev.sqlite3``) decide for themselves.
"""

import os
import socket


def reachable(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


if "DATABASE_URL" not in os.environ and reachable("127.0.0.1", 5432):
    print("export DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres")
if "CELERY_BROKER_URL" not in os.environ and reachable("127.0.0.1", 6379):
    print("export CELERY_BROKER_URL=redis://127.0.0.1:6379/15")
