"""Small request bodies under /api (``BodyLimitMiddleware``)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.error_answer import render
from gateway.errors import PayloadTooLarge
from gateway.middleware.csrf import CSRF_EXEMPT
from gateway.paths import route_path
from gateway.scope_headers import header


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
        declared = header(scope, b"content-length")
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
