"""Request ids and one log line per request (``RequestLogMiddleware``).

The log line holds method, route, path (no query string), status, duration and the
number of upstream requests; never headers, cookies, bodies or query strings, so
credentials and tokens cannot reach the log.
"""

from __future__ import annotations

import logging
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.client_info import client_info, current_client
from gateway.paths import is_gateway_path, route_path
from gateway.registry.metrics import RequestStats, current_stats
from gateway.request_id import accept_or_make, current_request_id
from gateway.scope_headers import header
from gateway.telemetry import UNMATCHED, Metrics

log = logging.getLogger("gateway.access")

_CONVERTOR = re.compile(r"\{(\w+):\w+\}")
_TEMPLATES: dict[str, str] = {}  # a route's template → without convertors (routes are few)


def _printable(text: str, limit: int = 300) -> str:
    text = text[:limit]
    if text.isprintable() and " " not in text:
        return text  # the usual path, checked at C speed (it was a test per character)
    return "".join(c if c.isprintable() and c != " " else f"\\x{ord(c):02x}" for c in text)


def route_template(scope: Scope, unmatched: str | None = None) -> str:
    """The matched route's template (``/api/repositories/{name}/tags``), read after
    routing; ``/{spa}`` for what the SPA fallback served; for one of the gateway's own
    paths that no route matched, ``unmatched`` when given (a metric label must not carry
    raw paths), else the printable path (the log line)."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    if isinstance(template, str) and template:
        plain = _TEMPLATES.get(template)
        if plain is None:
            plain = _TEMPLATES[template] = _CONVERTOR.sub(r"{\1}", template)  # {name:path}
        return plain
    path = route_path(scope)
    if not is_gateway_path(path):
        return "/{spa}"
    return unmatched if unmatched is not None else _printable(path)


class RequestLogMiddleware:
    """The outermost of the app's middlewares: it gives the request its id (a sane
    ``X-Request-ID`` from the client, else a new one), returns it on every answer —
    refusals made by the middlewares inside it included — and logs one line when the
    answer is done. Only Starlette's error middleware is outside it: the 500 of an
    unexpected error is sent from there, by the app's ``Exception`` handler.

    The id is held in ``current_request_id`` while the request is handled: the upstream
    transport sends it to the registry, and every log line made meanwhile carries it.
    The same moment counts the request in ``metrics`` (by route template and status).
    """

    def __init__(self, app: ASGIApp, metrics: Metrics | None = None) -> None:
        self.app = app
        self.metrics = metrics or Metrics()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = accept_or_make(header(scope, b"x-request-id"))
        id_token = current_request_id.set(request_id)
        peer = scope.get("client")
        current_client.set(client_info(peer[0] if peer else None, header(scope, b"user-agent")))
        stats = RequestStats()
        token = current_stats.set(stats)
        started = time.perf_counter()
        status = 0

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"
                ]
                headers.append((b"x-upstream-requests", str(stats.upstream).encode()))
                headers.append((b"x-upstream-bytes", str(stats.upstream_bytes).encode()))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        escaped = False
        try:
            await self.app(scope, receive, send_wrapper)
        except BaseException:
            escaped = True
            raise
        finally:
            current_stats.reset(token)
            method = str(scope.get("method", "-"))
            path = _printable(scope.get("path", ""))
            seconds = time.perf_counter() - started
            duration_ms = round(seconds * 1000, 1)
            route = route_template(scope)
            self.metrics.request_done(
                method, route_template(scope, UNMATCHED), status or 500, seconds
            )
            access = {
                "method": method,
                "route": route,
                "path": path,
                "status": status or 500,
                "duration_ms": duration_ms,
                "upstream": stats.upstream,
                "cache": stats.cache,
            }
            log.info(
                "%s %s %s %.1fms upstream=%d",
                method,
                path,
                status or 500,
                duration_ms,
                stats.upstream,
                extra={"access": access},
            )
            # An exception that escapes is answered and logged next, in this same task,
            # by Starlette's error middleware and the server: their lines are this
            # request's, so the id stays set for them (the task ends right after).
            if not escaped:
                current_request_id.reset(id_token)
