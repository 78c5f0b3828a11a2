"""Test settings: the production module with test defaults for what the environment leaves unset.

DATABASE_URL and CELERY_BROKER_URL come from the environment (``make test`` points them at
PostgreSQL and Redis when those are reachable). Celery tasks run eagerly unless a test starts a
real worker.
"""

import os
import re

os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-secret-key-0123456789abcdef0123456789")
os.environ.setdefault("DJANGO_DEBUG", "false")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
os.environ.setdefault("DJANGO_SECURE_COOKIES", "false")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")
# A short plan for tests: 10 % (one approver), 100 % (two), a one-second window, no soak.
os.environ.setdefault("CUTOVER_DEFAULT_STEPS", "10,100")
os.environ.setdefault("CUTOVER_DEFAULT_SOAK_SECONDS", "0")
os.environ.setdefault("CUTOVER_WINDOW_SECONDS", "1")
os.environ.setdefault("GATE_TTL_SETTLE_SECONDS", "0")
# pytest-django flushes the database between transactional tests, the audit table included.
os.environ.setdefault("AUDIT_FLUSH_ALLOWED", "true")
os.environ.setdefault("EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")
os.environ.setdefault("CONTROLPLANE_VAR_DIR", os.path.join(os.path.dirname(__file__), "..", "var", "test"))

# pytest-xdist (``make test`` runs the suite on several processes): each worker gets its own var
# directory (data plane control files, reports, worker logs) and its own Redis database, so real
# Celery workers started by two test processes never take each other's tasks. pytest-django
# gives each its own test database.
# Once only: processes the tests start (a Celery worker) inherit both the worker's name and the
# variables already adjusted here.
_xdist_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _xdist_worker and os.environ.get("CONTROLPLANE_XDIST_ISOLATED") != _xdist_worker:
    os.environ["CONTROLPLANE_XDIST_ISOLATED"] = _xdist_worker
    os.environ["CONTROLPLANE_VAR_DIR"] = os.path.join(os.environ["CONTROLPLANE_VAR_DIR"], _xdist_worker)
    _broker = re.fullmatch(r"(redis://[^/]+/)(\d+)", os.environ.get("CELERY_BROKER_URL", ""))
    if _broker:
        _n = int(_xdist_worker.removeprefix("gw") or 0)
        os.environ["CELERY_BROKER_URL"] = f"{_broker.group(1)}{(int(_broker.group(2)) - _n) % 16}"

from controlplane.settings import *  # noqa: E402,F403

STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405 - whitenoise warns when it is missing
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not shared-cache memory: threads in concurrency tests then wait on the busy timeout.
    # One file per test run, so two runs on one machine do not share (and flush) it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}  # noqa: F405
