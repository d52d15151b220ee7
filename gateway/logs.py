"""Log set-up: every line carries the request id, as text or as one JSON object a line.

A log record factory stamps ``request_id`` on each record when it is created, that is
in the context of the code that logs, so lines from any logger (``gateway.*``,
``uvicorn.error``, a library's) carry the id of the request being handled, and ``-``
outside one. The access line adds its fields (method, route, status, …) as the
record's ``access`` attribute; the JSON formatter writes them out, the text formatter
keeps the one-line message.

Nothing here decides what is logged: the callers keep secrets out of their messages
(no headers, cookies, bodies or query strings), and the formatters only arrange them.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import IO, Any, Literal

from gateway.request_id import NONE, current_request_id

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"

_base_factory: Callable[..., logging.LogRecord] | None = None


def _stamping_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    assert _base_factory is not None
    record = _base_factory(*args, **kwargs)
    record.request_id = current_request_id.get()
    return record


def install_record_factory() -> None:
    """Stamp the current request id on every record created from now on (idempotent)."""
    global _base_factory
    if logging.getLogRecordFactory() is not _stamping_factory:
        _base_factory = logging.getLogRecordFactory()
        logging.setLogRecordFactory(_stamping_factory)


class RequestIdFilter(logging.Filter):
    """For records made before the factory was installed (or by a foreign factory):
    take the id from the context the handler runs in."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id.get()
        return True


def rfc3339(created: float) -> str:
    moment = datetime.fromtimestamp(created, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request_id, and for the
    access line method, route, path, status, duration_ms, upstream and cache."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "time": rfc3339(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", NONE),
        }
        access = getattr(record, "access", None)
        if isinstance(access, dict):
            for key, value in access.items():
                doc.setdefault(str(key), value)
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            doc["exception"] = record.exc_text
        if record.stack_info:
            doc["stack"] = self.formatStack(record.stack_info)
        return json.dumps(doc, ensure_ascii=True, default=str)


def drop_stream_broken(record: logging.LogRecord) -> bool:
    """uvicorn's traceback for a blob stream the registry broke mid-way: the gateway
    has logged it already, as one warning (gateway.errors.StreamBroken)."""
    from gateway.errors import StreamBroken

    exc = record.exc_info[1] if record.exc_info else None
    return not isinstance(exc, StreamBroken)


def make_formatter(fmt: LogFormat) -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT)


def configure_logging(level: str, fmt: LogFormat, stream: IO[str] | None = None) -> None:
    """The process's one log handler (stderr): the root logger's, which uvicorn's
    loggers propagate to when uvicorn is started with ``log_config=None``."""
    install_record_factory()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(make_formatter(fmt))
    handler.addFilter(RequestIdFilter())
    logging.basicConfig(level=getattr(logging, level.upper()), handlers=[handler], force=True)
    logging.getLogger("uvicorn.error").addFilter(drop_stream_broken)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
