# The control-plane image. One image runs every Python process of docker-compose.yml: the web
# app (gunicorn), the Celery worker and beat, the migrate and provision one-shots, and the
# sandbox AWS (moto server, which requirements.txt already pins).
#
# No secret is baked in: DJANGO_SECRET_KEY and SSO_CLIENT_SECRET come at run time, preferably as
# files (DJANGO_SECRET_KEY_FILE, SSO_CLIENT_SECRET_FILE: see controlplane/env.py and the
# compose file). The key used by collectstatic below is a throwaway that exists only for that
# one RUN step.
#
# There is no .dockerignore, so nothing is copied wholesale (no `COPY . .`): the files the image
# needs are listed one by one, which keeps .venv/, var/ (with var/secrets/), .git/ and
# node_modules/ out. tests/test_compose.py fails when a new app or template folder is missing
# here.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /home/app --create-home --shell /usr/sbin/nologin app

WORKDIR /app

# Dependencies first: this layer is reused until requirements.txt changes.
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY manage.py ./
COPY controlplane/ controlplane/
COPY audit/ audit/
COPY migrations_app/ migrations_app/
COPY reconciliation/ reconciliation/
# The sandbox app (moto and IdP process helpers, the `sandbox`/`demo` commands, the data plane
# and its scenarios), without sandbox/idp/: the IdP has its own image (sandbox/idp/Dockerfile).
COPY sandbox/*.py sandbox/
COPY sandbox/management/ sandbox/management/
COPY sandbox/moto_ext/ sandbox/moto_ext/
COPY sandbox/dataplane/ sandbox/dataplane/
COPY sandbox/scenarios/ sandbox/scenarios/
# The CloudFormation templates and Lambda sources the deploy renders and uploads.
COPY infra_templates/ infra_templates/
COPY templates/ templates/
COPY static/ static/

# The code stays root-owned and read-only for the app user; only var/ (settings.VAR_DIR: the
# collected static files, logs) is writable. The throwaway key is set for this command only
# and is not an ENV of the image.
RUN mkdir -p /app/var && chown app:app /app/var
USER 10001:10001
RUN DJANGO_SECRET_KEY=build-time-only-not-a-secret python manage.py collectstatic --noinput --verbosity 0

EXPOSE 8000
CMD ["gunicorn", "controlplane.wsgi:application", "-b", "0.0.0.0:8000", "--access-logfile", "-"]
