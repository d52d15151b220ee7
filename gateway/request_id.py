"""The id of the request being handled: accepted from ``X-Request-ID`` or made here.

It lives in a context variable set by ``RequestLogMiddleware``, so every layer can read
it without being handed it: the upstream transport sends it to the registry, and the
log record factory (``gateway.logs``) stamps it on every log line. Outside a request it
is ``-``.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

HEADER = "X-Request-ID"
NONE = "-"

# What we accept from a client: short, and nothing a log line or a header could be
# bent by (no spaces, CR/LF, quotes or non-ASCII). Anything else is replaced, unechoed.
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,128}", re.ASCII)

current_request_id: ContextVar[str] = ContextVar("lr_request_id", default=NONE)


def is_sane(value: str) -> bool:
    return _SANE.fullmatch(value) is not None


def new_request_id() -> str:
    return uuid.uuid4().hex


def accept_or_make(incoming: str | None) -> str:
    """The client's id when it is sane, else a new one."""
    if incoming is not None and is_sane(incoming):
        return incoming
    return new_request_id()
