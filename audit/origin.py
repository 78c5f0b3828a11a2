"""Where the current action comes from (IP, user agent, request id), for the audit trail.

Set by ``RequestOriginMiddleware`` for web requests and by ``system_origin`` for jobs.
"""

from __future__ import annotations

import contextlib
import contextvars
import uuid
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Origin:
    ip: str | None = None
    user_agent: str = ""
    request_id: str = ""
    system: str = ""  # the job's name when no person is acting


_current: contextvars.ContextVar[Origin | None] = contextvars.ContextVar("audit_origin", default=None)


def current_origin() -> Origin:
    return _current.get() or Origin(request_id=f"local-{uuid.uuid4()}", system="unattributed")


@contextlib.contextmanager
def origin_set(origin: Origin) -> Iterator[Origin]:
    token = _current.set(origin)
    try:
        yield origin
    finally:
        _current.reset(token)


def system_origin(job: str, request_id: str | None = None):
    return origin_set(Origin(system=job, request_id=request_id or f"job-{uuid.uuid4()}"))
