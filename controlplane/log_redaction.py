"""A logging filter that blanks bearer credentials out of every record a handler emits.

Our own code never logs a task token or an API token. Libraries may: botocore at DEBUG logs each
request body, and SendTaskSuccess/SendTaskFailure bodies carry the task token. settings.LOGGING
keeps botocore at WARNING and puts this filter on the console handler, so even an operator who
turns botocore up to DEBUG to chase a problem gets ``taskToken: [redacted]``.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"
_PATTERNS = [
    # "taskToken": "..." in JSON, 'taskToken': '...' in a dict repr, taskToken=... in a query, with
    # quotes escaped any number of times (a message body inside a response inside a bytes repr).
    re.compile(r"""(?P<keep>task_?token(?:\\*["'])?\s*[:=]\s*(?:\\*["'])?)(?P<secret>[^"'\\\s,}&]+)""", re.I),
    # Authorization headers and our personal API tokens (cpt_<prefix>_<secret>): keep the prefix.
    re.compile(r"(?P<keep>Bearer\s+)(?P<secret>[^\s'\"]+)", re.I),
    re.compile(r"(?P<keep>cpt_[0-9a-f]{12}_)(?P<secret>[A-Za-z0-9_-]{20,})"),
]


def redact(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group("keep") + REDACTED, text)
    return text


class SecretRedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler to report
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            cleaned_exc = redact(text)
            if cleaned_exc != text:
                record.exc_text, record.exc_info = cleaned_exc, None
        return True
