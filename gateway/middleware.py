"""ASGI middleware: request ids and one log line per request, the CSRF check, the body
limit, the headers of /api answers, and the request deadline's safety net.

The log line holds method, route, path (no query string), status, duration and the
number of upstream requests; never headers, cookies, bodies or query strings, so
credentials and tokens cannot reach the log.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import deadline
from gateway.client_info import client_info, current_client
from gateway.error_answer import render
from gateway.errors import CsrfFailed, Forbidden, PayloadTooLarge, UpstreamTimeout
from gateway.paths import is_gateway_path, is_v2_path, route_path
from gateway.registry.metrics import RequestStats, current_stats
from gateway.request_id import accept_or_make, current_request_id
from gateway.sessions import COOKIE_NAME
from gateway.telemetry import UNMATCHED, Metrics

log = logging.getLogger("gateway.access")

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_EXEMPT = frozenset({"/api/events"})  # authenticated by its own bearer secret
DEADLINE_PREFIXES = ("/api/", "/v2/")  # the paths that get a deadline (gateway.deadline)
# Requests that carry a body of any size (blob uploads on /v2): no deadline while it
# arrives; each upstream call still has its own timeouts.
UPLOAD_METHODS = frozenset({"POST", "PUT", "PATCH"})


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
        request_id = accept_or_make(_header(scope, b"x-request-id"))
        id_token = current_request_id.set(request_id)
        peer = scope.get("client")
        current_client.set(client_info(peer[0] if peer else None, _header(scope, b"user-agent")))
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


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def _has_session_cookie(scope: Scope) -> bool:
    cookie = _header(scope, b"cookie") or ""
    return any(part.strip().startswith(COOKIE_NAME + "=") for part in cookie.split(";"))


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class CsrfMiddleware:
    """State-changing /api requests that carry the session cookie (and every login) must
    send ``X-Requested-With: XMLHttpRequest`` and, when they send ``Origin``, one we trust.

    A cross-site form cannot set a custom header, and a cross-site fetch that sets one
    needs a CORS preflight, which only the configured origins pass.
    """

    def __init__(self, app: ASGIApp, public_url: str | None, cors_origins: list[str]) -> None:
        self.app = app
        self.public_origin = origin_of(public_url) if public_url else None
        self.allowed = {o.lower() for o in cors_origins}

    def _own_origin(self, scope: Scope) -> str:
        if self.public_origin:
            return self.public_origin
        host = _header(scope, b"host") or ""
        return f"{scope.get('scheme', 'http')}://{host}".lower()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._foreign_v2_write(scope):
            message = "cross-site request refused: this Origin may not change the registry"
            await render(Forbidden(message), scope).send(send)
            return
        if scope["type"] == "http" and self._rejected(scope):
            message = (
                "cross-site request refused: send X-Requested-With: XMLHttpRequest "
                "from an allowed origin"
            )
            await render(CsrfFailed(message), scope).send(send)
            return
        await self.app(scope, receive, send)

    def _foreign_v2_write(self, scope: Scope) -> bool:
        """A state-changing /v2 request from a page of another origin: refused whatever
        credentials it carries (cookie, Basic, the service account). docker, skopeo and
        crane send no Origin."""
        if scope.get("method") not in STATE_CHANGING or not is_v2_path(route_path(scope)):
            return False
        return self._foreign_origin(scope)

    def _foreign_origin(self, scope: Scope) -> bool:
        """An ``Origin`` that is neither the gateway's own nor an allowed one (none
        sent: not a cross-site page)."""
        origin = _header(scope, b"origin")
        if origin is None:
            return False
        origin = origin.lower().rstrip("/")
        return origin != self._own_origin(scope) and origin not in self.allowed

    def _rejected(self, scope: Scope) -> bool:
        path = route_path(scope)
        if scope.get("method") not in STATE_CHANGING or not path.startswith("/api/"):
            return False
        if path in CSRF_EXEMPT:
            return False
        is_login = path == "/api/session" and scope.get("method") == "POST"
        if not is_login and not _has_session_cookie(scope):
            return False
        if (_header(scope, b"x-requested-with") or "").lower() != "xmlhttprequest":
            return True
        return self._foreign_origin(scope)


class ApiHeadersMiddleware:
    """Headers every /api and /v2 answer carries unless it set its own: ``nosniff`` (the
    raw endpoints return registry-supplied bytes), and ``Cache-Control: no-store`` so a
    shared proxy never keeps one user's lists for another; on /v2 also
    ``Docker-Distribution-Api-Version: registry/2.0``. The OpenAPI document is the
    same for everyone: ``no-cache`` (revalidated, so a new version is seen at once)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = route_path(scope) if scope["type"] == "http" else ""
        v2 = is_v2_path(path)
        if path == "/openapi.json":
            cache = b"no-cache"
        elif path.startswith("/api/") or v2:
            cache = b"no-store"
        else:
            await self.app(scope, receive, send)
            return

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {key.lower() for key, _ in headers}
                if b"cache-control" not in present:
                    headers.append((b"cache-control", cache))
                headers.append((b"x-content-type-options", b"nosniff"))
                if v2:  # on every answer, as the registry sends it
                    headers.append((b"docker-distribution-api-version", b"registry/2.0"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_wrapper)


class BodyLimitMiddleware:
    """Request bodies under /api are small JSON documents: refuse larger ones with 413
    before anything reads them (the registry's event envelopes get a larger limit)."""

    def __init__(self, app: ASGIApp, limit: int = 64 * 1024, events_limit: int = 4 << 20) -> None:
        self.app = app
        self.limit = limit
        self.events_limit = events_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope.get("method") in ("GET", "HEAD", "OPTIONS")
            or not route_path(scope).startswith("/api/")
        ):
            await self.app(scope, receive, send)
            return
        limit = self.events_limit if route_path(scope) in CSRF_EXEMPT else self.limit
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await render(PayloadTooLarge(limit), scope).send(send)
            return
        # Read the body now (it is small), so a chunked one is held to the limit too.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > limit:
                await render(PayloadTooLarge(limit), scope).send(send)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class DeadlineMiddleware:
    """Sets the deadline of every /api request; answers 504 for one that overran it
    without starting its answer. Placed inside CORS so the 504 carries its headers."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not route_path(scope).startswith(DEADLINE_PREFIXES):
            await self.app(scope, receive, send)
            return
        if is_v2_path(route_path(scope)) and scope.get("method") in UPLOAD_METHODS:
            await self.app(scope, receive, send)
            return
        with deadline.request_deadline(self.seconds) as at:
            started = False
            net = asyncio.timeout_at(at + deadline.GRACE)

            async def send_wrapper(message: Message) -> None:
                nonlocal started
                if message["type"] == "http.response.start":
                    started = True
                    net.reschedule(None)  # streaming now: the read timeouts apply
                await send(message)

            try:
                async with net:
                    await self.app(scope, receive, send_wrapper)
            except TimeoutError:
                if started or not net.expired():
                    raise  # not the safety net's: someone else's timeout
                message = "the request did not complete within its deadline"
                timeout = UpstreamTimeout(message, detail={"deadline_seconds": self.seconds})
                await render(timeout, scope).send(send)
