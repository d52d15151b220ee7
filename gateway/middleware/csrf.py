"""The CSRF check (``CsrfMiddleware``)."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.error_answer import render
from gateway.errors import CsrfFailed, Forbidden
from gateway.paths import is_v2_path, route_path
from gateway.scope_headers import header
from gateway.sessions import COOKIE_NAME

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_EXEMPT = frozenset({"/api/events"})  # authenticated by its own bearer secret


def _has_session_cookie(scope: Scope) -> bool:
    cookie = header(scope, b"cookie") or ""
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
        host = header(scope, b"host") or ""
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
        origin = header(scope, b"origin")
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
        if (header(scope, b"x-requested-with") or "").lower() != "xmlhttprequest":
            return True
        return self._foreign_origin(scope)
