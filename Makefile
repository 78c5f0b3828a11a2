# The two commands of the quick start: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
IDP := sandbox/idp

.PHONY: demo test audit install lint format clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(IDP)/node_modules/.installed: $(IDP)/package-lock.json
	cd $(IDP) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed $(IDP)/node_modules/.installed

# Runs the product on embedded defaults: SQLite, the sandbox AWS and IdP. Fresh state each run
# (the sandbox AWS keeps its state in memory, so the database starts over with it).
# Demo timings: a 10 s soak per step, a 2-minute post-cutover window, and no 24 h wait for the
# TTL (the sandbox's records are minutes old). Production keeps the settings' defaults.
DEMO_ENV := DJANGO_DEBUG=true CUTOVER_DEFAULT_SOAK_SECONDS=10 CUTOVER_WINDOW_SECONDS=120 GATE_TTL_SETTLE_SECONDS=0 \
	RECONCILIATION_INTERVAL_SECONDS=5 RECONCILIATION_WINDOW_SECONDS=30 RECONCILIATION_GRACE_FLOOR_SECONDS=5 \
	RECONCILIATION_BUCKETS=64

demo: install
	rm -rf var/controlplane.sqlite3 var/celery-queue var/celerybeat-schedule
	$(DEMO_ENV) $(PY) manage.py migrate --verbosity 0
	$(DEMO_ENV) $(PY) manage.py demo

# The whole suite. Points DATABASE_URL / CELERY_BROKER_URL at PostgreSQL and Redis when they
# are reachable and not set already (.ci/run sets them), SQLite and the filesystem broker
# otherwise. Tasks run eagerly except in the test that starts a real worker.
# Most tests wait on the sandbox (moto, the IdP, a browser, a worker), not the CPU: three test
# processes, each with its own database, Redis database and var directory (settings_test.py),
# finish in about half the time of one on a 2-core machine. TEST_PROCESSES=0 runs in one process.
TEST_PROCESSES ?= 3

test: install
	$(PY) -m ruff check .
	eval "$$($(PY) tests/detect_services.py)" && $(PY) -m pytest -n $(TEST_PROCESSES) --dist loadfile $(PYTEST_ARGS)

# Known vulnerabilities in requirements.txt and the IdP's package-lock.json (docs/security.md).
# Says "SECURITY AUDIT NOT PERFORMED" when the vulnerability services are out of reach, and
# fails then only with SECURITY_AUDIT_REQUIRED=1.
audit: install
	$(PY) security/dependency_audit.py

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: install
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

clean:
	rm -rf var .pytest_cache
