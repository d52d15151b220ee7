"""The one renderer of an error answer: the envelope ``{"error": {"code", "message",
"detail"}}``, or on /v2 the registry's own format ``{"errors": [{"code", "message",
"detail"}]}`` (v2 clients parse that).

Every error answer is made here: by the app's exception handlers (``gateway.main``), by
the middleware that refuses a request before it is routed (CSRF, the body limit, the
deadline's safety net: ``gateway.middleware``), and by uvicorn's own 400
(``gateway.http_protocol``).

On /v2, a 401 carries a Basic challenge, which docker login, skopeo --creds and crane
wait for before they send credentials — except to a page's own script (a fetch or XHR):
a browser would hold that request for its own login dialog, and the SPA would never see
the answer. /api never sends a challenge. A 405 on /v2 answers ``UNSUPPORTED``, as the
registry does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response
from starlette.types import Scope, Send

from gateway.errors import GatewayError
from gateway.paths import is_v2_path, route_path
from gateway.scope_headers import header

V2_CHALLENGE = 'Basic realm="Light Registry"'


@dataclass(frozen=True)
class ErrorAnswer:
    status: int
    headers: dict[str, str]
    body: bytes

    def response(self) -> Response:
        return Response(
            self.body, status_code=self.status, headers=self.headers, media_type="application/json"
        )

    async def send(self, send: Send) -> None:
        """Send it as an ASGI answer (from a middleware, before any route ran)."""
        headers = [
            (key.lower().encode("latin-1"), value.encode("latin-1"))
            for key, value in self.headers.items()
        ]
        headers += [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self.body)).encode()),
        ]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


def render(exc: GatewayError, scope: Scope | None = None) -> ErrorAnswer:
    """The answer to ``exc`` for the request ``scope`` (None: a request that could not
    be read at all, which gets the envelope)."""
    headers = dict(exc.headers)
    doc = exc.envelope()
    error = doc["error"]
    if scope is not None and is_v2_path(route_path(scope)):
        if exc.status == 401 and not _from_a_script(scope):
            headers["WWW-Authenticate"] = V2_CHALLENGE
        if exc.status == 405:
            error["code"] = "UNSUPPORTED"
        doc = {"errors": [error]}
    return ErrorAnswer(exc.status, headers, body_of(doc))


def body_of(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


def _from_a_script(scope: Scope) -> bool:
    """A page's own fetch or XHR (not docker, skopeo or crane, not a navigation)."""
    mode = header(scope, b"sec-fetch-mode")
    if mode is not None and mode != "navigate":
        return True
    return (header(scope, b"x-requested-with") or "").lower() == "xmlhttprequest"
