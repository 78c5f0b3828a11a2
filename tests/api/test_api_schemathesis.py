"""Schemathesis against the generated OpenAPI schema: every operation, with generated (mostly
wrong) input, authenticated as a person holding all three roles, never gets a server error.

Runs in-process over WSGI (no server), on the test database, with no AWS behind the
environment (nothing here is provisioned, and on_commit hooks do not run in these tests).
Hypothesis drives each operation's strategy directly (schemathesis' pytest plugin does not
load under pytest 9 yet). SCHEMATHESIS_EXAMPLES sets the examples per operation (default 15).
"""

from __future__ import annotations

import json
import os

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import response_schema_conformance

from tests.api.conftest import token_for
from tests.conftest import make_user

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "15"))

pytestmark = pytest.mark.django_db(
    transaction=True
)  # autocommit, as in production: a failed query fails one request only


def api_schema():
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    document = SchemaGenerator().get_schema(request=None, public=True)
    return schemathesis.openapi.from_dict(json.loads(OpenApiJsonRenderer().render(document)))


@pytest.fixture
def wsgi():
    """The project's WSGI app, minus the connection closing at the end of each request (which
    would close the test's transaction), as Django's test client does."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def test_no_operation_answers_with_a_server_error(light_environment, wsgi):
    everyone = make_user("everyone", "engineer", "approver", "auditor")
    headers = {"Authorization": f"Bearer {token_for(everyone).secret}"}
    failures: list[str] = []
    violations: list[str] = []
    operations = 0
    cases = 0
    for result in api_schema().get_all_operations():
        operation = result.ok()
        operations += 1

        @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def exercise(case):
            nonlocal cases
            cases += 1
            response = case.call(app=wsgi, base_url="http://localhost", headers=headers)
            try:
                case.validate_response(response, checks=[response_schema_conformance])
            except (Exception, BaseExceptionGroup) as exc:  # schemathesis raises a group of failures
                where = [line.strip() for line in str(exc).splitlines() if line.strip().startswith("Schema at")]
                violations.append(f"{case.operation.label} {response.status_code}: {where or str(exc)[:200]}")
            if response.status_code >= 500:
                failures.append(f"{case.operation.label}: {response.status_code}\n{case.as_curl_command()}")
            elif response.status_code >= 400:
                body = response.json()
                assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}, (
                    case.operation.label,
                    body,
                )

        exercise()
    assert operations == 38
    print(f"schemathesis: {operations} operations, {cases} cases")
    assert not failures, "\n\n".join(failures[:10])
    assert not violations, f"{len(violations)} responses do not match the schema:\n" + "\n".join(
        sorted(set(violations))
    )
