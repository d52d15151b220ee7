"""Every /api and /v2 request's deadline and its safety net (``DeadlineMiddleware``)."""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import deadline
from gateway.error_answer import render
from gateway.errors import UpstreamTimeout
from gateway.paths import is_v2_path, route_path

DEADLINE_PREFIXES = ("/api/", "/v2/")  # the paths that get a deadline (gateway.deadline)
# Requests that carry a body of any size (blob uploads on /v2): no deadline while it
# arrives; each upstream call still has its own timeouts.
UPLOAD_METHODS = frozenset({"POST", "PUT", "PATCH"})


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
