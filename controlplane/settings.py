"""Settings for the cutover control plane, read from the environment.

Every integration sits behind a variable with a safe default; the defaults run the demo on
one machine (SQLite, a local Celery transport, the sandbox AWS and IdP). See
docs/configuration.md for the full list.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from controlplane.env import env_bool, env_float, env_int, env_list, env_secret, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("CONTROLPLANE_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)  # the SQLite file, the local broker's folders, logs

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_secret("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY (or DJANGO_SECRET_KEY_FILE) must be set when DJANGO_DEBUG is off")
    SECRET_KEY = "insecure-development-key-only-for-debug-mode"
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "django_celery_beat",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "controlplane.accounts",
    "audit",
    "migrations_app",
    "reconciliation",
    "controlplane.dashboard",
    "controlplane.api",
]
SANDBOX_ENABLED = env_bool("SANDBOX_ENABLED", True)
if SANDBOX_ENABLED:
    INSTALLED_APPS.append("sandbox")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "controlplane.limits.RequestBodyLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "audit.middleware.RequestOriginMiddleware",
    # A database error in a view becomes a 503 page / JSON body (issue 8, controlplane/middleware.py).
    "controlplane.middleware.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "controlplane.urls"
WSGI_APPLICATION = "controlplane.wsgi.application"
AUTH_USER_MODEL = "accounts.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "controlplane.accounts.context_processors.roles",
                "migrations_app.context_processors.alerts",
            ],
        },
    },
]

# --- database -------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'controlplane.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Writers wait for each other instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 20, "transaction_mode": "IMMEDIATE"})
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- auth and SSO -----------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
SSO_ENABLED = env_bool("SSO_ENABLED", True)
SSO_PROVIDER_ID = env_str("SSO_PROVIDER_ID", "sandbox")
SSO_PROVIDER_NAME = env_str("SSO_PROVIDER_NAME", "Sandbox IdP")
SANDBOX_IDP_PORT = env_int("SANDBOX_IDP_PORT", 9400)
SSO_SERVER_URL = env_str("SSO_SERVER_URL", f"http://127.0.0.1:{SANDBOX_IDP_PORT}")
# Ask the IdP for a fresh sign-in every time (prompt=login): signing out of the app then
# really lets another person sign in, and every session starts with a known auth_time.
SSO_FORCE_LOGIN = env_bool("SSO_FORCE_LOGIN", True)
SSO_CLIENT_ID = env_str("SSO_CLIENT_ID", "cutover-control-plane")
SSO_CLIENT_SECRET = env_secret("SSO_CLIENT_SECRET", "sandbox-secret")
# IdP group -> control-plane role. A role the IdP no longer grants is removed at sign-in.
SSO_ROLE_GROUPS = {
    "engineer": env_list("SSO_ENGINEER_GROUPS", ["engineers"]),
    "approver": env_list("SSO_APPROVER_GROUPS", ["compliance-approvers"]),
    "auditor": env_list("SSO_AUDITOR_GROUPS", ["auditors"]),
}
SOCIALACCOUNT_PROVIDERS = {
    "openid_connect": {
        "OAUTH_PKCE_ENABLED": True,
        "APPS": [
            {
                "provider_id": SSO_PROVIDER_ID,
                "name": SSO_PROVIDER_NAME,
                "client_id": SSO_CLIENT_ID,
                "secret": SSO_CLIENT_SECRET,
                "settings": {
                    "server_url": SSO_SERVER_URL,
                    "token_auth_method": "client_secret_post",
                    "scope": ["openid", "profile", "email", "groups"],
                    "oauth_pkce_enabled": True,
                    "auth_params": {"prompt": "login"} if SSO_FORCE_LOGIN else {},
                },
            }
        ],
    }
}
SOCIALACCOUNT_LOGIN_ON_GET = True
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_ONLY = SSO_ENABLED
SOCIALACCOUNT_ADAPTER = "controlplane.accounts.adapter.SsoAccountAdapter"
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "password1*", "password2*"]
ACCOUNT_LOGOUT_ON_GET = False
LOGIN_URL = f"/accounts/oidc/{SSO_PROVIDER_ID}/login/" if SSO_ENABLED else "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
ACCOUNT_LOGOUT_REDIRECT_URL = "/signed-out/"

# --- Celery ----------------------------------------------------------------------------
# Without a broker URL the demo uses kombu's filesystem transport: several processes on
# one machine, no server. Production uses Redis or RabbitMQ.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    _queue_dir = VAR_DIR / "celery-queue"
    _queue_dir.mkdir(exist_ok=True)
    (VAR_DIR / "celery-control").mkdir(exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(VAR_DIR / "celery-processed"),
        "store_processed": False,
        "control_folder": str(VAR_DIR / "celery-control"),
    }
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

GATE_INTAKE_INTERVAL_SECONDS = env_float("GATE_INTAKE_INTERVAL_SECONDS", 5.0)
EXECUTION_SYNC_INTERVAL_SECONDS = env_float("EXECUTION_SYNC_INTERVAL_SECONDS", 10.0)
# --- the cutover ------------------------------------------------------------------------
# The default plan of a new environment (each environment's plan is data after that).
CUTOVER_DEFAULT_STEPS = env_list("CUTOVER_DEFAULT_STEPS", ["0", "10", "25", "50", "90", "100"])
CUTOVER_DEFAULT_SOAK_SECONDS = env_int("CUTOVER_DEFAULT_SOAK_SECONDS", 600)
CUTOVER_WINDOW_SECONDS = env_int("CUTOVER_WINDOW_SECONDS", 72 * 3600)
# Route 53 TTL 60 s must be in place this long before the first weight shift (runbook).
GATE_TTL_SETTLE_SECONDS = env_int("GATE_TTL_SETTLE_SECONDS", 24 * 3600)
# An approval needs an IdP sign-in this recent (id_token auth_time), else a fresh one.
APPROVAL_FRESH_AUTH_SECONDS = env_int("APPROVAL_FRESH_AUTH_SECONDS", 15 * 60)
# Watchdog thresholds: a gate waiting past its SLA alerts, past the escalation it escalates;
# an execution running with no open gate (and not in a soak or window wait) alerts too.
GATE_SLA_SECONDS = env_int("GATE_SLA_SECONDS", 3600)
GATE_ESCALATE_SECONDS = env_int("GATE_ESCALATE_SECONDS", 4 * 3600)
EXECUTION_NO_GATE_SECONDS = env_int("EXECUTION_NO_GATE_SECONDS", 1800)
WATCHDOG_INTERVAL_SECONDS = env_float("WATCHDOG_INTERVAL_SECONDS", 60.0)
EVIDENCE_REFRESH_SECONDS = env_float("EVIDENCE_REFRESH_SECONDS", 60.0)
# E-mail for alerts (to the people holding the role). Console output unless configured.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD", "") or ""
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "cutover-control-plane@localhost")

DEPLOYMENT_POLL_SECONDS = env_float("DEPLOYMENT_POLL_SECONDS", 5.0)
# --- telemetry and the dashboard ---------------------------------------------------------------
# The collector snapshots AWS state every interval; pages read only the snapshots. A snapshot
# older than STALE_FACTOR intervals is shown as stale with its age. History (snapshots and chart
# points) older than the retention is deleted by the collector.
TELEMETRY_INTERVAL_SECONDS = env_float("TELEMETRY_INTERVAL_SECONDS", 30.0)
TELEMETRY_STALE_FACTOR = env_float("TELEMETRY_STALE_FACTOR", 3.0)
TELEMETRY_RETENTION_HOURS = env_float("TELEMETRY_RETENTION_HOURS", 48.0)
DASHBOARD_CHART_HOURS = env_float("DASHBOARD_CHART_HOURS", 3.0)
DASHBOARD_REFRESH_SECONDS = env_int("DASHBOARD_REFRESH_SECONDS", 5)
# Reconciliation (issue 5). Windows are epoch-aligned; every transaction item carries its window
# (timeBucket) and its hash bucket (timeBucketShard = "<window>#<bucket>"), stamped by the Lambdas,
# which get these two values as template parameters: change them only between cutovers.
RECONCILIATION_WINDOW_SECONDS = env_int("RECONCILIATION_WINDOW_SECONDS", 900)
RECONCILIATION_BUCKETS = env_int("RECONCILIATION_BUCKETS", 2048)
RECONCILIATION_INTERVAL_SECONDS = env_float("RECONCILIATION_INTERVAL_SECONDS", 900.0)
# A window is compared once closed for max(floor, factor x current replication lag).
RECONCILIATION_GRACE_FLOOR_SECONDS = env_float("RECONCILIATION_GRACE_FLOOR_SECONDS", 60.0)
RECONCILIATION_GRACE_LAG_FACTOR = env_float("RECONCILIATION_GRACE_LAG_FACTOR", 5.0)
# The job (issue 5): a run holds its window this long before another worker may resume it, and
# one cycle reconciles at most this many windows per environment (a backlog drains over cycles).
RECONCILIATION_LEASE_SECONDS = env_int("RECONCILIATION_LEASE_SECONDS", 900)
RECONCILIATION_MAX_WINDOWS_PER_CYCLE = env_int("RECONCILIATION_MAX_WINDOWS_PER_CYCLE", 50)
# The one beat schedule of the product.
CELERY_BEAT_SCHEDULE = {
    "gate-intake": {
        "task": "migrations_app.tasks.gate_intake_poll_task",
        "schedule": timedelta(seconds=GATE_INTAKE_INTERVAL_SECONDS),
    },
    "execution-sync": {
        "task": "migrations_app.tasks.execution_sync_all_task",
        "schedule": timedelta(seconds=EXECUTION_SYNC_INTERVAL_SECONDS),
    },
    "deployments-advance": {
        "task": "migrations_app.tasks.deployments_advance_all_task",
        "schedule": timedelta(seconds=60),
    },
    "cutover-watchdog": {
        "task": "migrations_app.tasks.cutover_watchdog_task",
        "schedule": timedelta(seconds=WATCHDOG_INTERVAL_SECONDS),
    },
    "gate-evidence": {
        "task": "migrations_app.tasks.gate_evidence_refresh_all_task",
        "schedule": timedelta(seconds=EVIDENCE_REFRESH_SECONDS),
    },
    "telemetry-collect": {
        "task": "migrations_app.tasks.telemetry_collect_all_task",
        "schedule": timedelta(seconds=TELEMETRY_INTERVAL_SECONDS),
    },
    "reconciliation": {
        "task": "reconciliation.tasks.reconciliation_cycle_task",
        "schedule": timedelta(seconds=RECONCILIATION_INTERVAL_SECONDS),
    },
    "s3-survey": {
        "task": "migrations_app.tasks.s3_survey_all_task",
        "schedule": timedelta(seconds=env_float("S3_SURVEY_INTERVAL_SECONDS", 600.0)),
    },
}

# --- AWS -------------------------------------------------------------------------------
# The sandbox AWS (moto server): copied into an environment's endpoint when
# `provision --create-sandbox` creates it. Any endpoint override uses dummy credentials.
SANDBOX_AWS_ENDPOINT = env_str("SANDBOX_AWS_ENDPOINT", "http://127.0.0.1:5055")
AWS_MAX_ATTEMPTS = env_int("AWS_MAX_ATTEMPTS", 3)
AWS_CONNECT_TIMEOUT = env_float("AWS_CONNECT_TIMEOUT", 3.0)
AWS_READ_TIMEOUT = env_float("AWS_READ_TIMEOUT", 25.0)
# A gate task waits at most this long for a decision before Step Functions times it out.
GATE_TIMEOUT_SECONDS = env_int("GATE_TIMEOUT_SECONDS", 24 * 3600)

# --- sandbox data plane ------------------------------------------------------------------------
# sandbox/dataplane (issue 5): replication between the two regions'
# tables and document buckets as global tables / S3 replication do it, the stream consumers, and
# light traffic in the demo. SANDBOX_REPLICATION on|off is the mode at start (`manage.py
# sandbox_replication` changes it while running); the lag is drawn uniformly from LAG_MS, and with
# probability SPIKE_SHARE from SPIKE_MS instead. Control and status files live in DATAPLANE_DIR.
SANDBOX_REPLICATION = env_str("SANDBOX_REPLICATION", "on")
if SANDBOX_REPLICATION not in ("on", "off"):
    raise ImproperlyConfigured(f"SANDBOX_REPLICATION must be on or off, not {SANDBOX_REPLICATION!r}")
SANDBOX_REPLICATION_LAG_MS = env_str("SANDBOX_REPLICATION_LAG_MS", "100-300")
SANDBOX_REPLICATION_SPIKE_MS = env_str("SANDBOX_REPLICATION_SPIKE_MS", "600-1500")
SANDBOX_REPLICATION_SPIKE_SHARE = env_float("SANDBOX_REPLICATION_SPIKE_SHARE", 0.02)
SANDBOX_DATAPLANE_DIR = Path(env_str("SANDBOX_DATAPLANE_DIR", str(VAR_DIR / "dataplane")))
SANDBOX_DEMO_TRAFFIC_PER_SECOND = env_float("SANDBOX_DEMO_TRAFFIC_PER_SECOND", 1.0)

# --- Gate decision delivery (outbox; ADRs 0011 and 0034) ---------------------------------
# A worker owns one delivery attempt for the lease; longer than the slowest AWS call it makes.
GATE_DELIVERY_LEASE_SECONDS = env_int("GATE_DELIVERY_LEASE_SECONDS", 300)
# The beat sweep re-queues a pending delivery nobody has tried for this long (task lost).
GATE_DELIVERY_STALLED_SECONDS = env_int("GATE_DELIVERY_STALLED_SECONDS", 60)
# Retries after a transient error wait 2, 4, 8, ... seconds, capped here.
GATE_DELIVERY_BACKOFF_MAX_SECONDS = env_int("GATE_DELIVERY_BACKOFF_MAX_SECONDS", 300)


# --- audit trail and report packs ---------------------------------------------------------
# `manage.py flush` erases the append-only audit trail: refused unless this is on (tests only).
AUDIT_FLUSH_ALLOWED = env_bool("AUDIT_FLUSH_ALLOWED", False)
REPORTS_DIR = Path(env_str("REPORTS_DIR", str(VAR_DIR / "reports")))
# HMAC key signing report-pack manifests. Unset: derived from DJANGO_SECRET_KEY (then anyone
# verifying packs needs that key: set a dedicated one in production).
REPORT_SIGNING_KEY = env_secret("REPORT_SIGNING_KEY", "") or ""
# A KMS asymmetric signing key (ECC_NIST_P256 or RSA): manifests are also signed with it, so a
# verifier needs only kms:Verify (or the public key), never a shared secret.
REPORT_KMS_KEY_ID = env_str("REPORT_KMS_KEY_ID", "")
REPORT_KMS_REGION = env_str("REPORT_KMS_REGION", "eu-central-1")
REPORT_KMS_ENDPOINT_URL = env_str("REPORT_KMS_ENDPOINT_URL", "")
REPORT_KMS_ALGORITHM = env_str("REPORT_KMS_ALGORITHM", "ECDSA_SHA_256")
# Audit entries per page in the browser.
AUDIT_PAGE_SIZE = env_int("AUDIT_PAGE_SIZE", 100)

# --- the rest ----------------------------------------------------------------------------
# --- REST API (/api/v1/) -------------------------------------------------------------------
API_TOKEN_DEFAULT_DAYS = env_int("API_TOKEN_DEFAULT_DAYS", 30)
API_TOKEN_MAX_DAYS = env_int("API_TOKEN_MAX_DAYS", 365)
API_PAGE_SIZE = env_int("API_PAGE_SIZE", 50)
# Failed token authentications allowed per client IP before 429 (DRF rate syntax).
API_TOKEN_FAILURE_RATE = env_str("API_TOKEN_FAILURE_RATE", "10/min")
# Reverse proxies in front of the app; 0 = use REMOTE_ADDR and ignore X-Forwarded-For (which a
# client could set to dodge the failure throttle).
API_NUM_PROXIES = env_int("API_NUM_PROXIES", 0)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "controlplane.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["controlplane.api.permissions.HasRole"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "controlplane.api.pagination.ApiPagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "controlplane.api.exceptions.api_exception_handler",
    "DEFAULT_THROTTLE_RATES": {"api_token_failure": API_TOKEN_FAILURE_RATE},
    "NUM_PROXIES": API_NUM_PROXIES,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Cutover control plane API",
    "DESCRIPTION": "Environments, deployments, plans, executions, gates, reconciliation and the audit "
    "trail of the us-east-1 to eu-central-1 cutover. See docs/api.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and the docs pages: any role, like the rest of the API (outsiders get nothing).
    "SERVE_PERMISSIONS": ["controlplane.api.permissions.HasRole"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "EnvironmentKindEnum": "migrations_app.models.Environment.Kind",
        "ExecutionStatusEnum": "migrations_app.models.Execution.Status",
        "GateStatusEnum": "migrations_app.models.Gate.Status",
        "DeploymentStatusEnum": "migrations_app.models.Deployment.Status",
        "StackDeploymentStatusEnum": "migrations_app.models.StackDeployment.Status",
        "GateCheckVerdictEnum": "migrations_app.models.GateCheck.Verdict",
        "DeliveryStatusEnum": "migrations_app.models.GateDelivery.Status",
        "ApprovalDecisionEnum": "migrations_app.models.Approval.Decision",
        "ReconciliationRunStatusEnum": "reconciliation.models.ReconciliationRun.Status",
        "FindingStatusEnum": "reconciliation.models.Finding.Status",
        "FindingKindEnum": "reconciliation.models.Finding.Kind",
        "AuditOutcomeEnum": "audit.models.Outcome",
    },
}
# The failure throttle's counters: shared by every web process when CACHE_REDIS_URL is set,
# per process otherwise (the demo, one process).
_cache_redis_url = env_str("CACHE_REDIS_URL", "")
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _cache_redis_url}
    if _cache_redis_url
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
SESSION_COOKIE_NAME = "cp_sessionid"
CSRF_COOKIE_NAME = "cp_csrftoken"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

# --- security headers and request limits (issue 8; docs/security.md) ------------------------
# `manage.py check --deploy` is clean with DJANGO_DEBUG off and the defaults below. Everything
# that only makes sense behind TLS follows DJANGO_SECURE_COOKIES (true unless DEBUG): HSTS and
# the redirect to https. The demo and docker-compose run plain http on localhost with it false.
# Pages read the CSRF token from the form, never from the cookie, so the cookie is HttpOnly too.
CSRF_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 365 * 24 * 3600 if SESSION_COOKIE_SECURE else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", True)
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", SESSION_COOKIE_SECURE)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # the container healthcheck speaks plain http inside
# Behind a proxy that terminates TLS: the header it sets, e.g. "X-Forwarded-Proto" (value https).
_proxy_ssl_header = env_str("DJANGO_SECURE_PROXY_SSL_HEADER", "")
if _proxy_ssl_header:
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https")
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Content Security Policy (django-csp): no inline script or style anywhere, nothing from another
# origin except the IdP as a form target (a POST that needs a fresh sign-in is redirected there).
# The API's Redoc page alone relaxes style-src (controlplane/api/docs.py).
_SSO_ORIGIN = "{0.scheme}://{0.netloc}".format(urlsplit(SSO_SERVER_URL))
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'", _SSO_ORIGIN],
    },
}
# Request bodies: larger than this is refused with 413 before anything reads it (Content-Length),
# and Django's own limit (bodies read without a Content-Length) is the same number.
REQUEST_BODY_MAX_BYTES = env_int("REQUEST_BODY_MAX_BYTES", 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = REQUEST_BODY_MAX_BYTES
DATA_UPLOAD_MAX_NUMBER_FIELDS = env_int("DATA_UPLOAD_MAX_NUMBER_FIELDS", 1000)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        # botocore logs request bodies at DEBUG, and those carry task tokens.
        "botocore": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
    },
}
