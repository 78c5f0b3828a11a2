"""Test settings: the production module with test defaults for what the environment leaves unset.

DATABASE_URL and CELERY_BROKER_URL come from the environment (``make test`` points them at
PostgreSQL and Redis when those are reachable). Celery tasks run eagerly unless a test starts a
real worker.
"""

import os

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

from controlplane.settings import *  # noqa: E402,F403

STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405 - whitenoise warns when it is missing
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not shared-cache memory: threads in concurrency tests then wait on the busy timeout.
    # One file per test run, so two runs on one machine do not share (and flush) it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}  # noqa: F405
