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


def origin_credential_note(note: str) -> None:
    """Add how the person authenticated (``API token cpt_<prefix>``) to the current request's
    user agent, so the audit rows written while serving it say which token acted. Lasts until
    the middleware restores the origin at the end of the request."""
    origin = _current.get()
    if origin is None or origin.system:
        return
    agent = f"{origin.user_agent} ({note})" if origin.user_agent else f"({note})"
    _current.set(Origin(ip=origin.ip, user_agent=agent[-512:], request_id=origin.request_id))
